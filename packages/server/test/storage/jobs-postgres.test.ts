/**
 * The jobs contract on PostgreSQL: a fresh database on a server started for this file
 * (`startPostgres`, installed by scripts/install-services); `reopen` is a second storage on
 * the same database — another node, with its own pool — so lease exclusivity and the crash
 * of a worker are tested across two pools.
 */
import { after } from 'node:test';
import pg from 'pg';
import { createPostgresStorage } from '../../src/storage/postgres/index.ts';
import { startPostgres, type Service } from '../support/services.ts';
import { jobsContract } from './jobs-contract.ts';

let server: Promise<Service> | undefined;
const postgres = () => (server ??= startPostgres());
after(async () => {
  if (server) await (await server).stop();
});

async function freshDatabase(): Promise<string> {
  const svc = await postgres();
  const name = `careline_jobs_${process.pid}`;
  const admin = new pg.Client({ connectionString: svc.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(svc.url);
  url.pathname = `/${name}`;
  return url.toString();
}

jobsContract('postgres', async () => {
  const url = await freshDatabase();
  return {
    storage: await createPostgresStorage({ url, poolSize: 4 }),
    reopen: () => createPostgresStorage({ url, poolSize: 4 }),
    cleanup: async () => {},
  };
});
