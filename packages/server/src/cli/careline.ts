#!/usr/bin/env node
/**
 * `careline`: runs and operates a Careline server (`careline --help`). Run by Node 24
 * directly (type stripping): `npx careline ...` from the repository, or
 * `node packages/server/src/cli/careline.ts ...`.
 */
import { run } from './commands.ts';

run(process.argv.slice(2)).then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    process.stderr.write(`careline: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
