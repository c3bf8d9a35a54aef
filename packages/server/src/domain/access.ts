/**
 * Who may see and do what: the access policy of docs/access-policy.md, in one place. Tenant
 * and membership checks for conversations and messages, which conversation types each role
 * may create and with whom, and which consultations (topics) and statistics each role sees.
 * The actions call these; none decides access on its own.
 */
import type { MemberDirectory, DirectoryEntry } from './directory.ts';
import type { Principal, Topic, TopicQuery, UserRole } from './types.ts';
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

/**
 * Only an integrator (an API key) may do this: manage users, teams, tags, tenant settings and
 * notification kinds, send notifications, reconcile. `what` ends the message ("manages teams
 * and tags"). Returns the app's id.
 */
export function requireApp(p: Principal, what = 'may do this'): string {
  if (p.kind !== 'app') throw fail('auth.forbidden', `Only an integrator (API key) ${what}.`);
  return p.appId;
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

// ---- creating conversations -----------------------------------------------------------------

/** How the policy groups the callers: integrators (API key) are `integrator`; users by their role. */
export type PolicyRole = 'patient' | 'care_team' | 'admin' | 'integrator';

export function policyRole(p: Principal): PolicyRole {
  if (p.kind === 'app') return 'integrator';
  if (p.role === 'patient') return 'patient';
  return isCareTeamRole(p.role) ? 'care_team' : 'admin';
}

const TYPE_NAMES: Record<number, string> = {
  0: 'system conversation', 1: 'patient and care team consultation', 2: 'one-to-one', 3: 'administrative team chat', 4: 'discussion group',
  5: 'specialist group', 6: 'patient-initiated expert consultation', 7: 'doctor-initiated expert consultation', 8: 'prescription renewal',
  9: 'online follow-up visit', 10: 'doctor\'s request for help', 11: 'home nursing', 12: 'waiting-room group',
};

/** The conversation types a user may create, by role. Integrators create every type. */
export const CREATABLE_TYPES: Readonly<Record<Exclude<PolicyRole, 'integrator'>, ReadonlySet<number>>> = {
  /** With their care team: consultations, one-to-one, expert consultation, renewal, follow-up, home nursing. */
  patient: new Set([1, 2, 6, 8, 9, 11]),
  /** Every type but the system conversation (the integrator's channel to a user). */
  care_team: new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
  admin: new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
};

/** Types for the care team among themselves: a user may not put a patient in them. */
export const NO_PATIENT_TYPES: ReadonlySet<number> = new Set([3, 4]);

/** Types whose id starts with the patient's id (`patient_…`): a patient creates only their own. */
export const PATIENT_KEYED_TYPES: ReadonlySet<number> = new Set([1, 5, 8, 9, 10, 11]);

export interface CreateCheck {
  type: number;
  /** The id the conversation will have. */
  id: string;
  /** Every participant (the creator included) with their user role. */
  members: readonly { user_id: string; role: UserRole }[];
  /** The tenant's `patient_to_patient` setting. */
  patientToPatient: boolean;
}

/**
 * May `p` create this conversation? Integrators: any. Users: only the types of their role;
 * nobody puts a patient in a care-team-only type; a patient reaches the care team (doctors,
 * staff) — other patients only when the tenant allows it — and opens only consultations
 * keyed by their own id. Throws `auth.forbidden` with the offending ids in `details`.
 */
export function requireCreate(p: Principal, c: CreateCheck): void {
  if (p.kind === 'app') return;
  const role = policyRole(p) as Exclude<PolicyRole, 'integrator'>;
  const name = `type ${c.type} (${TYPE_NAMES[c.type] ?? 'unknown'})`;
  if (!CREATABLE_TYPES[role].has(c.type)) {
    throw fail('auth.forbidden', `A user with the role ${p.role} may not create a conversation of ${name}.`, { session_type: c.type, role: p.role });
  }
  requireNoPatients(c.type, c.members);
  if (role !== 'patient') return;
  const others = c.members.filter((m) => m.user_id !== p.userId);
  const refused = others.filter((m) => !isCareTeamRole(m.role) && !(m.role === 'patient' && c.patientToPatient)).map((m) => m.user_id);
  if (refused.length) {
    throw fail('auth.forbidden', `A patient opens conversations with their care team (doctors, staff)${c.patientToPatient ? '' : ', not with other patients'}: ${refused.join(', ')}.`, { participants: refused });
  }
  if (PATIENT_KEYED_TYPES.has(c.type) && !c.id.startsWith(`${p.userId}_`)) {
    throw fail('auth.forbidden', `A patient opens only their own ${TYPE_NAMES[c.type]}: its id starts with their user id.`, { session_id: c.id });
  }
}

/** A user may not put a patient in a care-team-only type (creating it or adding participants). */
export function requireNoPatients(type: number, members: readonly { user_id: string; role: UserRole }[]): void {
  if (!NO_PATIENT_TYPES.has(type)) return;
  const patients = members.filter((m) => m.role === 'patient').map((m) => m.user_id);
  if (patients.length) {
    throw fail('auth.forbidden', `A conversation of type ${type} (${TYPE_NAMES[type]}) is for the care team; no patient may be in it: ${patients.join(', ')}.`, { participants: patients });
  }
}

// ---- consultations (topics) and statistics ----------------------------------------------------

/** Whether a user is a member of a care team (`PUT /management/teams/:id`). */
export type TeamMembership = (tenantId: string, teamId: string, userId: string) => Promise<boolean>;

type Filters = Omit<TopicQuery, 'limit' | 'cursor'>;

/**
 * Narrows a consultation query to what the caller sees. `aggregate`: counts and statistics
 * (no patient ids), which a clinic `admin` reads for the whole tenant.
 * - integrator: the tenant;
 * - patient: their own consultations (asking for a team's, a doctor's or another patient's: `auth.forbidden`);
 * - doctor, staff (and `admin` for lists): consultations of the sessions they are in and of the care
 *   teams they belong to. Filters narrow, never widen: `team_id` of a team they are a member of gives
 *   that team's consultations; of another team (or a host's team code Careline has no team for),
 *   only those of it in their own sessions; `doctor_id` likewise.
 */
export async function scopeTopics<Q extends Filters>(p: Principal, q: Q, isTeamMember: TeamMembership, aggregate: boolean): Promise<Q> {
  const role = policyRole(p);
  if (p.kind === 'app' || role === 'integrator') return q;
  if (role === 'patient') {
    if (q.team_id !== undefined || q.doctor_id !== undefined) throw fail('auth.forbidden', 'A patient sees only their own consultations, not a team\'s or a doctor\'s.');
    if (q.patient_id !== undefined && q.patient_id !== p.userId) throw fail('auth.forbidden', 'A patient sees only their own consultations.');
    return { ...q, patient_id: p.userId };
  }
  if (role === 'admin' && aggregate) return q;
  if (q.team_id !== undefined && (await isTeamMember(p.tenantId, q.team_id, p.userId))) return q;
  return { ...q, viewer: p.userId };
}

/** Statistics per team or doctor: the care team (their scope), clinic admins and integrators. */
export function requireStatistics(p: Principal): void {
  if (policyRole(p) === 'patient') throw fail('auth.forbidden', 'Only the care team may read consultation statistics.');
}

/**
 * May the caller see this one consultation? Integrators: yes; a patient: their own; a user
 * of the clinic: if they are in its session or in its care team. Otherwise it does not exist
 * for them (`topic.not_found`).
 */
export async function requireSeeTopic(p: Principal, t: Topic, inSession: boolean, isTeamMember: TeamMembership): Promise<void> {
  if (p.kind === 'app') return;
  if (p.role === 'patient') {
    if (t.patient_id !== p.userId || !inSession) throw fail('topic.not_found');
    return;
  }
  if (inSession) return;
  if (t.team_id !== null && (await isTeamMember(p.tenantId, t.team_id, p.userId))) return;
  throw fail('topic.not_found');
}

/** The tenant's integrator (API key or app token) or one of its `admin` users: who manages webhooks and third-party apps. */
export function requireTenantAdmin(p: Principal): void {
  if (p.kind === 'app' || p.role === 'admin') return;
  throw fail('auth.forbidden', 'Only the integrator (API key or app token) or an admin of the tenant may do this.');
}
