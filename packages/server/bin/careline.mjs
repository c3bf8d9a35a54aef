#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=100
/**
 * `careline` (`packages/server/src/cli/careline.ts`, `careline --help`), started with Node's
 * compile cache. The server runs from its TypeScript sources; Node strips their types with a
 * WebAssembly module that a thread loads the first time it strips a file, and keeps: about
 * 4 MiB of heap and 15–17 MiB of resident memory, in the main thread and again in each worker
 * thread (the SQLite writer). The compile cache keeps the stripped code (and V8's compiled
 * code), so a start after the first strips nothing and never loads it. This file is plain
 * JavaScript so that nothing is stripped before the cache is on; `NODE_COMPILE_CACHE` carries
 * it to worker threads and child processes. The cache is Node's own (by default in the
 * temporary directory, `NODE_COMPILE_CACHE=dir` to move it), checked against each file's
 * content: an edited source is stripped again.
 */
import module from 'node:module';

module.enableCompileCache();
const dir = module.getCompileCacheDir();
if (dir) process.env.NODE_COMPILE_CACHE ??= dir;
await import('../src/cli/careline.ts');
