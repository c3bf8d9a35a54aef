import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { backends } from '../../src/config/backends.ts';

const PG = 'postgres://careline@127.0.0.1:5432/careline';
const REDIS = 'redis://127.0.0.1:6379';

describe('backend choice', () => {
  it('defaults to one node: SQLite, the in-process bus and presence', () => {
    const b = backends(loadConfig({ env: {} }).config);
    assert.equal(b.storage.driver, 'sqlite');
    assert.deepEqual(b.bus, { driver: 'memory' });
    assert.deepEqual(b.presence, { driver: 'memory' });
    assert.match(b.nodeId, new RegExp(`-${process.pid}$`));
  });

  it('a cluster: PostgreSQL, Redis for the bus and presence, a node id of its own', () => {
    const { config } = loadConfig({
      env: {
        CARELINE_STORAGE_DRIVER: 'postgres', CARELINE_STORAGE_POSTGRES_URL: PG, CARELINE_STORAGE_POSTGRES_POOL_SIZE: '4',
        CARELINE_BUS_DRIVER: 'redis', CARELINE_BUS_REDIS_URL: REDIS, CARELINE_PRESENCE_DRIVER: 'redis', CARELINE_PRESENCE_TTL_SECONDS: '30',
        CARELINE_CLUSTER_NODE_ID: 'node-b',
      },
    });
    assert.deepEqual(backends(config), {
      storage: { driver: 'postgres', url: PG, poolSize: 4 },
      bus: { driver: 'redis', url: REDIS },
      presence: { driver: 'redis', url: REDIS, ttlSeconds: 30 },
      nodeId: 'node-b',
    });
  });

  it('refuses combinations that cannot work, naming the setting to fix', () => {
    const refused = (env: Record<string, string>, re: RegExp) =>
      assert.throws(() => loadConfig({ env }), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(env));
    refused({ CARELINE_STORAGE_DRIVER: 'postgres' }, /set storage\.postgresUrl \(CARELINE_STORAGE_POSTGRES_URL\)/);
    refused({ CARELINE_STORAGE_DRIVER: 'postgres', CARELINE_STORAGE_POSTGRES_URL: 'mysql://x' }, /must start with postgres:\/\//);
    refused({ CARELINE_STORAGE_DRIVER: 'postgres', CARELINE_STORAGE_POSTGRES_URL: PG, CARELINE_BUS_DRIVER: 'redis' }, /set bus\.redisUrl \(CARELINE_BUS_REDIS_URL\)/);
    refused({ CARELINE_STORAGE_DRIVER: 'postgres', CARELINE_STORAGE_POSTGRES_URL: PG, CARELINE_BUS_DRIVER: 'redis', CARELINE_BUS_REDIS_URL: 'http://x' }, /must start with redis:\/\//);
    refused({ CARELINE_BUS_DRIVER: 'redis', CARELINE_BUS_REDIS_URL: REDIS }, /an SQLite file serves one: set storage\.driver postgres/);
    refused({ CARELINE_PRESENCE_DRIVER: 'redis', CARELINE_BUS_REDIS_URL: REDIS }, /presence\.driver redis needs bus\.driver redis/);
    refused({ CARELINE_STORAGE_DRIVER: 'mysql' }, /must be one of: sqlite, postgres/);
    refused({ CARELINE_BUS_DRIVER: 'kafka' }, /must be one of: memory, redis/);
  });
});
