/** Tenant and membership checks shared by the conversation and message actions. */
import type { MemberDirectory, DirectoryEntry } from './directory.ts';
import type { Principal } from './types.ts';
import { fail } from './errors.ts';

/** The conversation if the principal may act in it: an app of the tenant, or a participant. */
export async function requireAccess(dir: MemberDirectory, p: Principal, conversationId: string): Promise<DirectoryEntry> {
  const entry = await dir.get(p.tenantId, conversationId);
  if (!entry) throw fail('conversation.not_found');
  if (p.kind === 'user' && !entry.members.has(p.userId)) throw fail('conversation.not_participant');
  return entry;
}

/** The user id of a user principal; apps must name a user (X-On-Behalf-Of) for per-user reads. */
export function requireUser(p: Principal): string {
  if (p.kind !== 'user') throw fail('request.invalid', 'This call reads one user\'s state: send X-On-Behalf-Of with the user id.');
  return p.userId;
}

/** Doctors and staff (nurses, health managers) are the care team: their messages answer a consultation. */
export function isCareTeamRole(role: string): boolean {
  return role === 'doctor' || role === 'staff';
}

/** Only the care team (or an integrator) may do this: end a consultation, read team statistics. */
export function requireCareTeam(p: Principal, what: string): void {
  if (p.kind === 'app') return;
  if (!isCareTeamRole(p.role) && p.role !== 'admin') throw fail('auth.forbidden', `Only the care team may ${what}.`);
}

/** Care-team roles may manage participants; patients may not. Apps may. */
export function requireStaff(p: Principal): void {
  if (p.kind === 'app') return;
  if (p.role === 'patient') throw fail('auth.forbidden', 'Patients cannot change the participants of a conversation.');
}
