/**
 * The Careline server of the push bench (`bench/push.ts`), in a process of its own: the
 * config comes as JSON in PUSH_BENCH_CONFIG (merged over the `test` profile); prints one line
 * `{"ready":true,"url":…}` once listening and shuts down gracefully on SIGTERM.
 */
import { loadConfig } from '../packages/server/src/config/load.ts';
import { startServer } from '../packages/server/src/server.ts';

const overrides = JSON.parse(process.env.PUSH_BENCH_CONFIG ?? '{}') as Record<string, unknown>;
const { config } = loadConfig({ env: { IM_PROFILE: 'test' }, overrides });
const server = await startServer({ config });
process.stdout.write(JSON.stringify({ ready: true, url: server.url }) + '\n');
let closing = false;
process.on('SIGTERM', () => {
  if (closing) return;
  closing = true;
  server.close().then(() => process.exit(0), () => process.exit(1));
});
