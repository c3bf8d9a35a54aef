/**
 * Per-tenant settings, and the "connected elsewhere" policy they set. When a user connects,
 * their older connections of the same platform class (mobile, web, desktop, …): under
 * `notify` (the default, as seed 001 always told the older connection) get an
 * `S2C_DIFFERENT_CONNECTION` event and stay open; under `kick` get it and are closed (4503);
 * under `allow_many` are left alone.
 *
 * Every connection opening asks for its tenant's policy, so the settings are kept in memory:
 * a bounded cache (the `cacheTenants` most recently read tenants), dropped for a tenant when
 * its settings change — at once on the node that changed them, and through the bus
 * (`settings.changed`) on every other node. The bus may lose that event (at-most-once), so a
 * cached copy also expires `cacheTtlMs` after its read began (age checked on use, no timer),
 * and `clear()` drops them all when the bus resumes after a loss: a node that missed a change
 * applies it within `cacheTtlMs` at the latest.
 */
import { platformClass } from '@careline/protocol';
import { setNewest } from './bounded.ts';
import type { EventBus, Storage } from './ports.ts';
import type { ConnectionPolicy, Principal, TenantSettings } from './types.ts';
import { requireApp } from './access.ts';
import { fail } from './errors.ts';

export interface SettingsDeps {
  storage: Pick<Storage, 'settings'>;
  bus: EventBus;
  now?: () => number;
  /** Tenants whose settings are kept in memory (default 10,000). */
  cacheTenants?: number;
  /** A cached copy is read again once this old (ms, from the start of its read; default 30,000). */
  cacheTtlMs?: number;
}

interface Cached {
  settings: TenantSettings;
  /** When its read began. */
  at: number;
}

export class SettingsService {
  readonly #d: SettingsDeps;
  readonly #now: () => number;
  readonly #cache = new Map<string, Cached>();
  readonly #cacheMax: number;
  readonly #ttlMs: number;
  /** Bumped by every invalidation: a read that was in flight meanwhile is not cached. */
  #generation = 0;

  constructor(deps: SettingsDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#cacheMax = Math.max(1, deps.cacheTenants ?? 10_000);
    this.#ttlMs = deps.cacheTtlMs ?? 30_000;
  }

  /** Drops a tenant's cached settings (they changed here or on another node). */
  invalidate(tenantId: string): void {
    this.#generation++;
    this.#cache.delete(tenantId);
  }

  /** Drops every cached tenant (changes may have been missed: the bus resumed after a loss). */
  clear(): void {
    this.#generation++;
    this.#cache.clear();
  }

  /** The tenant's settings, from the cache when it holds a fresh copy. */
  async #settings(tenantId: string): Promise<TenantSettings> {
    const hit = this.#cache.get(tenantId);
    if (hit) {
      this.#cache.delete(tenantId);
      if (this.#now() - hit.at < this.#ttlMs) {
        // Most recently used last, so the oldest is evicted first.
        this.#cache.set(tenantId, hit);
        return hit.settings;
      }
    }
    const generation = this.#generation;
    const at = this.#now();
    const settings = await this.#d.storage.settings.get(tenantId);
    if (generation === this.#generation) setNewest(this.#cache, tenantId, { settings, at }, this.#cacheMax);
    return settings;
  }

  async get(p: Principal): Promise<TenantSettings> {
    requireApp(p, 'manages tenant settings');
    return this.#d.storage.settings.get(p.tenantId);
  }

  /** The tenant's settings as the domain's checks read them (cached; no principal check). */
  async forTenant(tenantId: string): Promise<TenantSettings> {
    return this.#settings(tenantId);
  }

  async update(p: Principal, patch: { connection_policy?: ConnectionPolicy; patient_to_patient?: boolean }): Promise<TenantSettings> {
    requireApp(p, 'manages tenant settings');
    if (patch.patient_to_patient !== undefined && typeof patch.patient_to_patient !== 'boolean') throw fail('request.invalid', 'patient_to_patient must be true or false.');
    if (patch.connection_policy !== undefined && !POLICIES.includes(patch.connection_policy)) {
      throw fail('request.invalid', 'connection_policy must be "notify", "allow_many" or "kick".');
    }
    try {
      return await this.#d.storage.settings.update(p.tenantId, patch, this.#now());
    } finally {
      // Also after a failed write: what is stored is then not known here.
      this.invalidate(p.tenantId);
      this.#d.bus.publish({ kind: 'settings.changed', tenant_id: p.tenantId });
    }
  }

  /**
   * A user's connection opened (and is registered): under `notify` and `kick`, publishes
   * `connection.replaced` so every node tells (and under `kick` closes) the user's older
   * connections of the class. Returns the connection's platform class.
   */
  async connected(p: Principal & { kind: 'user' }, connectionId: string, platform: string | null): Promise<string> {
    const cls = platformClass(platform);
    const policy = (await this.#settings(p.tenantId)).connection_policy;
    if (policy === 'kick' || policy === 'notify') {
      this.#d.bus.publish({ kind: 'connection.replaced', tenant_id: p.tenantId, user_id: p.userId, platform_class: cls, keep: connectionId, policy });
    }
    return cls;
  }
}

const POLICIES: readonly ConnectionPolicy[] = ['notify', 'allow_many', 'kick'];

