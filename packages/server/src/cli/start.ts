#!/usr/bin/env node
/**
 * `npm start`: `careline start` with the arguments given (`npm start -- --supervise`).
 * See serve.ts for what it does.
 */
import { run } from './commands.ts';

run(['start', ...process.argv.slice(2)]).then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    process.stderr.write(`careline: failed to start: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
