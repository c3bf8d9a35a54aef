/**
 * Bundles the SDK with esbuild:
 * - `dist/im.client.js`: IIFE for `<script>` tags, global `Careline` (CarelineClient, the
 *   protocol constants…); the server serves it at `/sdk/im.client.js`.
 * - `dist/im.client.mjs`: ES module.
 *
 * Run: `npm run build --workspace @careline/sdk` (or `node packages/sdk/build.ts [outdir]`).
 */
import { build, type BuildOptions } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export interface BuildResult {
  iife: string;
  esm: string;
}

/** Builds both bundles into `outdir` (default `packages/sdk/dist`); returns their paths. */
export async function buildSdk(outdir = join(here, 'dist')): Promise<BuildResult> {
  const common: BuildOptions = {
    entryPoints: [join(here, 'src', 'index.ts')],
    bundle: true,
    platform: 'browser',
    target: ['es2022'],
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
    // With the browser platform, a Node-only import (e.g. `@careline/protocol/ids`, which
    // needs node:crypto) fails the build instead of shipping a broken bundle.
  };
  const iife = join(outdir, 'im.client.js');
  const esm = join(outdir, 'im.client.mjs');
  await Promise.all([
    build({ ...common, format: 'iife', globalName: 'Careline', outfile: iife, minify: true }),
    build({ ...common, format: 'esm', outfile: esm }),
  ]);
  return { iife, esm };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildSdk(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`built ${out.iife}\nbuilt ${out.esm}`);
}
