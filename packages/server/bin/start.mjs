/**
 * `npm start` (`packages/server/src/cli/start.ts`), started with Node's compile cache, as the
 * `careline` command is (`careline.mjs` says why).
 */
import module from 'node:module';

module.enableCompileCache();
const dir = module.getCompileCacheDir();
if (dir) process.env.NODE_COMPILE_CACHE ??= dir;
await import('../src/cli/start.ts');
