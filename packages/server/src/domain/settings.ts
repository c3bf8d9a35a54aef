/**
 * Per-tenant settings, and the "connected elsewhere" policy they set: with `kick`, a user's
 * new connection replaces their older connections of the same platform class (mobile, web,
 * desktop, …); with `allow_many` (the default) they all stay.
 */
import { platformClass } from '@careline/protocol';
import type { EventBus, Storage } from './ports.ts';
import type { ConnectionPolicy, Principal, TenantSettings } from './types.ts';
import { fail } from './errors.ts';

export interface SettingsDeps {
  storage: Pick<Storage, 'settings'>;
  bus: EventBus;
  now?: () => number;
}

export class SettingsService {
  readonly #d: SettingsDeps;
  readonly #now: () => number;

  constructor(deps: SettingsDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  async get(p: Principal): Promise<TenantSettings> {
    requireApp(p);
    return this.#d.storage.settings.get(p.tenantId);
  }

  async update(p: Principal, patch: { connection_policy?: ConnectionPolicy }): Promise<TenantSettings> {
    requireApp(p);
    if (patch.connection_policy !== undefined && patch.connection_policy !== 'allow_many' && patch.connection_policy !== 'kick') {
      throw fail('request.invalid', 'connection_policy must be "allow_many" or "kick".');
    }
    return this.#d.storage.settings.update(p.tenantId, patch, this.#now());
  }

  /**
   * A user's connection opened (and is registered): under `kick`, publishes
   * `connection.replaced` so every node closes the user's other connections of the class.
   * Returns the connection's platform class.
   */
  async connected(p: Principal & { kind: 'user' }, connectionId: string, platform: string | null): Promise<string> {
    const cls = platformClass(platform);
    const settings = await this.#d.storage.settings.get(p.tenantId);
    if (settings.connection_policy === 'kick') {
      this.#d.bus.publish({ kind: 'connection.replaced', tenant_id: p.tenantId, user_id: p.userId, platform_class: cls, keep: connectionId });
    }
    return cls;
  }
}

function requireApp(p: Principal): void {
  if (p.kind !== 'app') throw fail('auth.forbidden', 'Only an integrator (API key) manages tenant settings.');
}
