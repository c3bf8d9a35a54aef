/**
 * The demo tenant: an app key, a doctor, a patient, a colleague of the doctor, their
 * conversations and an open consultation. Idempotent.
 */
import type { Core } from '../core.ts';
import { AppError } from '../domain/errors.ts';
import type { Principal } from '../domain/types.ts';

export const DEMO_TENANT = 'demo';

/** The demo users: the doctor and the patient of the demo conversation, and a colleague of the doctor. */
export const DEMO_USERS = [
  { id: 'dr.li', role: 'doctor', name: 'Dr. Li Wei' },
  { id: 'pt.zhang', role: 'patient', name: 'Zhang Min' },
  { id: 'dr.chen', role: 'doctor', name: 'Dr. Chen Jie' },
] as const;

/** The open consultation of the demo conversation (its id: the host system's consult code). */
export const DEMO_TOPIC_ID = 'demo-consult-1';

export interface Demo {
  apiKey: string;
  doctor: { id: string; token: string };
  patient: { id: string; token: string };
  conversationId: string;
}

const app: Principal = { kind: 'app', tenantId: DEMO_TENANT, appId: 'demo' };

/**
 * The demo tenant's users, conversations (doctor ↔ patient, doctor ↔ colleague) and the
 * consultation with the patient's first question. Idempotent; returns the doctor ↔ patient
 * conversation's id.
 */
export async function seedDemoData(core: Core): Promise<string> {
  try {
    await core.auth.createTenant(DEMO_TENANT, 'Demo Clinic');
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'tenant.exists')) throw err;
  }
  for (const u of DEMO_USERS) await core.users.upsert(app, u.id, { role: u.role, name: u.name });
  const { session } = await core.conversations.create(app, { session_type: 2, session_name: 'Zhang Min · Dr. Li', participants: ['dr.li:doctor', 'pt.zhang:patient'] });
  await core.conversations.create(app, { session_type: 2, session_name: 'Dr. Li · Dr. Chen', participants: ['dr.li:doctor', 'dr.chen:doctor'] });
  const { created } = await core.topics.start(app, session.id, { topic_id: DEMO_TOPIC_ID, name: 'Blood pressure follow-up', patient_id: 'pt.zhang', doctor_id: 'dr.li' });
  if (created) {
    await core.messages.send(app, session.id, { client_id: 'demo-question', type: 1, content: { text: 'Hello Dr. Li, my blood pressure has been around 150/95 this week. Should I change my dose?' } }, { senderId: 'pt.zhang' });
  }
  return session.id;
}

export async function seedDemo(core: Core): Promise<Demo> {
  const conversationId = await seedDemoData(core);
  // A fresh key each start: keys are stored hashed, so an old one cannot be shown again.
  const { api_key } = await core.auth.createApp(DEMO_TENANT, `demo-${new Date().toISOString()}`);
  const doctor = await core.auth.login(DEMO_TENANT, 'dr.li', { platform: 'web' });
  const patient = await core.auth.login(DEMO_TENANT, 'pt.zhang', { platform: 'web' });
  return {
    apiKey: api_key,
    doctor: { id: 'dr.li', token: doctor.token },
    patient: { id: 'pt.zhang', token: patient.token },
    conversationId,
  };
}

export interface DemoLogin {
  id: string;
  role: string;
  name: string;
  token: string;
  expires_at: number;
}

const seeded = new WeakMap<Core, Promise<string>>();

/**
 * Every demo user with a fresh token (platform `web`), for the web client's "pick a demo
 * user" sign-in. Seeds the demo data first (once per core) if `npm start` did not.
 */
export async function demoLogins(core: Core): Promise<{ tenant_id: string; conversation_id: string; users: DemoLogin[] }> {
  let seeding = seeded.get(core);
  if (!seeding) {
    seeding = seedDemoData(core);
    seeded.set(core, seeding);
    seeding.catch(() => seeded.delete(core));
  }
  const conversationId = await seeding;
  const users = await Promise.all(DEMO_USERS.map(async (u) => {
    const { token, expires_at } = await core.auth.login(DEMO_TENANT, u.id, { platform: 'web' });
    return { id: u.id, role: u.role, name: u.name, token, expires_at };
  }));
  return { tenant_id: DEMO_TENANT, conversation_id: conversationId, users };
}
