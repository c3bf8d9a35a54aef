/**
 * Loads the configuration: defaults ← profile file ← env vars ← explicit overrides.
 * `IM_PROFILE` (dev|test|prod, dev when unset) picks `config/<profile>.json`; an unknown
 * profile refuses to start. The result is validated against the schema and frozen.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';
import { BackendChoiceError, backends } from './backends.ts';
import { ConfigSchema, Profiles, SecretPaths, leaves, type Config, type Profile } from './schema.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const profileDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'config');
const check = Compile(ConfigSchema);

type Json = Record<string, unknown>;

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' ? merge(b as Json, v as Json) : v;
  }
  return out;
}

function setPath(obj: Json, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = (cur[p] ??= {}) as Json;
  cur[parts[parts.length - 1]!] = value;
}

function getPath(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, p) => (o && typeof o === 'object' ? (o as Json)[p] : undefined), obj);
}

function parseEnv(raw: string, leaf: ReturnType<typeof leaves>[number]): unknown {
  const type = (leaf.schema as { type?: string }).type;
  if (type === 'integer' || type === 'number') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`${leaf.env}=${raw}: expected a number`);
    return n;
  }
  if (type === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(`${leaf.env}=${raw}: expected true or false`);
  }
  return raw;
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Applied last; used by tests and the CLI. */
  overrides?: Json;
}

export interface LoadedConfig {
  profile: Profile;
  config: Readonly<Config>;
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const profile = (env.IM_PROFILE ?? 'dev').trim() as Profile;
  if (!Profiles.includes(profile)) {
    throw new ConfigError(`IM_PROFILE="${env.IM_PROFILE}" is not a known profile; use one of: ${Profiles.join(', ')}`);
  }
  let fromFile: Json;
  try {
    fromFile = JSON.parse(readFileSync(join(profileDir, `${profile}.json`), 'utf8')) as Json;
  } catch (err) {
    throw new ConfigError(`cannot read profile file config/${profile}.json: ${(err as Error).message}`);
  }
  const fromEnv: Json = {};
  // Every bad value is named, not only the first: collected, then reported together.
  const problems: string[] = [];
  for (const leaf of leaves()) {
    const raw = env[leaf.env];
    if (raw === undefined) continue;
    try {
      setPath(fromEnv, leaf.path, parseEnv(raw, leaf));
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message);
    }
  }
  const merged = merge(merge(fromFile, fromEnv), opts.overrides ?? {});
  const withDefaults = Value.Default(ConfigSchema, merged);
  if (problems.length || !check.Check(withDefaults)) {
    // One line per bad setting, with its env var; a choice lists what it may be.
    const seen = new Set<string>();
    for (const e of check.Check(withDefaults) ? [] : [...check.Errors(withDefaults)]) {
      if (seen.has(e.instancePath)) continue;
      seen.add(e.instancePath);
      const leaf = leaves().find((l) => `/${l.path.replaceAll('.', '/')}` === e.instancePath);
      const choices = (leaf?.schema as { anyOf?: { const?: unknown }[] } | undefined)?.anyOf?.map((c) => c.const);
      const message = choices?.every((c) => c !== undefined) ? `must be one of: ${choices.join(', ')}` : e.message;
      problems.push(`${e.instancePath || '/'}${leaf ? ` (${leaf.env})` : ''} ${message}`);
    }
    throw new ConfigError(`invalid configuration (profile ${profile}):\n  ${problems.join('\n  ')}`);
  }
  const config = withDefaults as Config;
  try {
    backends(config);
  } catch (err) {
    if (!(err instanceof BackendChoiceError)) throw err;
    throw new ConfigError(`invalid configuration (profile ${profile}):\n  ${err.message}`);
  }
  if (profile === 'prod') {
    const defaults = Value.Default(ConfigSchema, {}) as Config;
    const weak = SecretPaths.filter((p) => getPath(config, p) === getPath(defaults, p));
    if (weak.length) {
      const names = weak.map((p) => leaves().find((l) => l.path === p)!.env);
      throw new ConfigError(`the prod profile refuses default secrets: set ${names.join(', ')}`);
    }
    if (config.auth.tokenSecret.length < 32) throw new ConfigError('CARELINE_AUTH_TOKEN_SECRET must be at least 32 characters in prod');
    const adminWeak = weakSecret(config.auth.adminToken);
    if (adminWeak) throw new ConfigError(`CARELINE_AUTH_ADMIN_TOKEN is too weak for prod: ${adminWeak}`);
    const metricsWeak = weakSecret(config.metrics.token);
    if (metricsWeak) throw new ConfigError(`CARELINE_METRICS_TOKEN is too weak for prod: ${metricsWeak}`);
  }
  return { profile, config: deepFreeze(config) };
}

/**
 * Why a secret someone could guess is too weak, or null: fewer than 32 characters, a repeated
 * pattern, or under 3 bits per character by its character frequencies (Shannon) — what
 * `openssl rand -hex 32` or `-base64 32` easily passes, and a word or a keyboard run does not.
 */
export function weakSecret(secret: string): string | null {
  const hint = 'use a random value, e.g. `openssl rand -hex 32`';
  if (secret.length < 32) return `it has ${secret.length} characters, needs at least 32; ${hint}`;
  if (/^(.+?)\1+$/s.test(secret)) return `it is a repeated pattern; ${hint}`;
  const counts = new Map<string, number>();
  for (const ch of secret) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const n = [...secret].length;
  let bitsPerChar = 0;
  for (const c of counts.values()) bitsPerChar -= (c / n) * Math.log2(c / n);
  if (bitsPerChar < 3) return `its characters vary too little (${bitsPerChar.toFixed(1)} bits each, needs 3); ${hint}`;
  return null;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
