/**
 * Which backends the configuration chooses, as discriminated unions: what `core.ts` builds
 * from. The flat settings (`storage.driver`, `storage.postgresUrl`, …) are what operators set;
 * this is where their combinations are checked, once, at load — a backend that needs a URL
 * gets one, and a cluster bus never sits over a database only one node can use.
 */
import { hostname } from 'node:os';
import type { Config } from './schema.ts';

export type StorageChoice =
  | {
      driver: 'sqlite';
      path: string;
      synchronous: Config['storage']['sqliteSynchronous'];
      writer: Config['storage']['sqliteWriter'];
      walAutocheckpoint: number;
      cacheMiB: number;
    }
  | { driver: 'postgres'; url: string; poolSize: number };

export type BusChoice = { driver: 'memory' } | { driver: 'redis'; url: string };

export type PresenceChoice = { driver: 'memory' } | { driver: 'redis'; url: string; ttlSeconds: number };

export interface Backends {
  storage: StorageChoice;
  bus: BusChoice;
  presence: PresenceChoice;
  /** This process's id in the cluster (unique per process). */
  nodeId: string;
}

/** Thrown for a combination of settings that cannot work; `load.ts` reports it as a config error. */
export class BackendChoiceError extends Error {
  override name = 'BackendChoiceError';
}

const defaultNodeId = `${hostname()}-${process.pid}`;

export function backends(config: Readonly<Config>): Backends {
  const s = config.storage;
  const problems: string[] = [];
  let storage: StorageChoice;
  if (s.driver === 'postgres') {
    if (!s.postgresUrl) problems.push('storage.driver is postgres: set storage.postgresUrl (CARELINE_STORAGE_POSTGRES_URL)');
    else if (!/^postgres(ql)?:\/\//.test(s.postgresUrl)) problems.push('storage.postgresUrl (CARELINE_STORAGE_POSTGRES_URL) must start with postgres:// or postgresql://');
    storage = { driver: 'postgres', url: s.postgresUrl, poolSize: s.postgresPoolSize };
  } else {
    storage = { driver: 'sqlite', path: s.sqlitePath, synchronous: s.sqliteSynchronous, writer: s.sqliteWriter, walAutocheckpoint: s.sqliteWalAutocheckpoint, cacheMiB: s.sqliteCacheMb };
  }
  const redisUrl = config.bus.redisUrl;
  const needsRedis = config.bus.driver === 'redis' || config.presence.driver === 'redis';
  if (needsRedis && !redisUrl) problems.push(`${config.bus.driver === 'redis' ? 'bus' : 'presence'}.driver is redis: set bus.redisUrl (CARELINE_BUS_REDIS_URL)`);
  else if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) problems.push('bus.redisUrl (CARELINE_BUS_REDIS_URL) must start with redis:// or rediss://');
  if (config.bus.driver === 'redis' && storage.driver === 'sqlite') {
    problems.push('bus.driver redis means several nodes, and an SQLite file serves one: set storage.driver postgres');
  }
  if (config.presence.driver === 'redis' && config.bus.driver !== 'redis') {
    problems.push('presence.driver redis needs bus.driver redis (presence changes reach other nodes on the bus)');
  }
  if (problems.length) throw new BackendChoiceError(problems.join('\n  '));
  return {
    storage,
    bus: config.bus.driver === 'redis' ? { driver: 'redis', url: redisUrl } : { driver: 'memory' },
    presence: config.presence.driver === 'redis' ? { driver: 'redis', url: redisUrl, ttlSeconds: config.presence.ttlSeconds } : { driver: 'memory' },
    nodeId: config.cluster.nodeId || defaultNodeId,
  };
}
