/**
 * Care teams and user tags: the audiences a notification can name (`{ team }`, `{ tag }`).
 * Integrators manage them with their API key; membership is read when a notification is
 * stored (members at that moment get it).
 */
import type { Storage } from './ports.ts';
import type { Principal, Team } from './types.ts';
import { requireApp } from './access.ts';
import { fail } from './errors.ts';

export interface TeamDeps {
  storage: Pick<Storage, 'teams' | 'users'>;
  now?: () => number;
}

export class TeamService {
  readonly #d: TeamDeps;
  readonly #now: () => number;

  constructor(deps: TeamDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  /** Creates or replaces a team: `members` is the whole list (unknown users: `user.not_found`, nothing changed). */
  async put(p: Principal, id: string, input: { name: string; members: string[] }): Promise<{ team: Team; created: boolean }> {
    requireApp(p, 'manages teams and tags');
    return this.#d.storage.teams.putTeam(p.tenantId, id, input.name, input.members, this.#now());
  }

  async get(p: Principal, id: string): Promise<Team> {
    requireApp(p, 'manages teams and tags');
    const team = await this.#d.storage.teams.getTeam(p.tenantId, id);
    if (!team) throw fail('team.not_found');
    return team;
  }

  async delete(p: Principal, id: string): Promise<void> {
    requireApp(p, 'manages teams and tags');
    if (!(await this.#d.storage.teams.deleteTeam(p.tenantId, id))) throw fail('team.not_found');
  }

  /** Replaces a user's tags. */
  async setTags(p: Principal, userId: string, tags: string[]): Promise<string[]> {
    requireApp(p, 'manages teams and tags');
    return this.#d.storage.teams.setTags(p.tenantId, userId, tags, this.#now());
  }

  async tags(p: Principal, userId: string): Promise<string[]> {
    requireApp(p, 'manages teams and tags');
    if (!(await this.#d.storage.users.getUser(p.tenantId, userId))) throw fail('user.not_found');
    return this.#d.storage.teams.getTags(p.tenantId, userId);
  }
}

