#!/usr/bin/env -S node --max-semi-space-size=8 --heap-growing-percent=100
/**
 * `careline`: runs and operates a Careline server (`careline --help`). Run by Node 24
 * directly (type stripping): `npx careline ...` from the repository, or
 * `node packages/server/src/cli/careline.ts ...`. The shebang carries the Node flags the server
 * runs with (`node-flags.ts`); give them to `node` when calling it by hand (`careline start`
 * says so in its log when they are missing).
 */
import { run } from './commands.ts';

run(process.argv.slice(2)).then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    process.stderr.write(`careline: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
