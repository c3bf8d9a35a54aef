/**
 * The demo tenant: an app key, a doctor, a patient, a colleague of the doctor, their
 * conversations and an open consultation. Idempotent. Built on the core alone, so that both
 * `careline start` (cli/serve.ts: seeds it, prints the banner) and the web client's demo
 * sign-in (http/routes/web.ts) use it without one adapter importing the other.
 */
import { createHmac } from 'node:crypto';
import type { Core } from './core.ts';
import { hashKey } from './domain/auth.ts';
import { AppError } from './domain/errors.ts';
import { newId } from './domain/ids.ts';
import type { Principal } from './domain/types.ts';

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
  /** Every demo user (the web client's sign-in offers the same list), each with a fresh token. */
  users: { id: string; role: string; name: string; token: string }[];
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

/** The demo app's name (one live row; a revoked one is replaced by the next start). */
export const DEMO_APP_NAME = 'demo';

/**
 * The demo tenant's API key, the same at every start on the same database. Keys are stored
 * hashed, so a key cannot be read back: it is derived from the token secret instead
 * (HMAC, so it is as secret as that), with a generation number that moves on when the key
 * of the previous generation was revoked. Creates the app row only when that key has none.
 */
export async function demoApiKey(core: Core): Promise<string> {
  const tenants = core.storage.tenants;
  for (let generation = 0; generation < 1000; generation++) {
    const key = `ck_${createHmac('sha256', core.config.auth.tokenSecret).update(`careline demo api key/${DEMO_TENANT}/${generation}`).digest('base64url').slice(0, 32)}`;
    const app = await tenants.findAppByKeyHash(hashKey(key));
    if (app && app.revoked_at === null) return key;
    if (app) continue; // revoked: the next generation
    await tenants.createApp({ id: newId(), tenant_id: DEMO_TENANT, name: DEMO_APP_NAME, key_hash: hashKey(key), created_at: Date.now(), revoked_at: null });
    return key;
  }
  throw new Error('the demo API key was revoked 1000 times; use a fresh database');
}

export async function seedDemo(core: Core): Promise<Demo> {
  const conversationId = await seedDemoData(core);
  const apiKey = await demoApiKey(core);
  const users = await Promise.all(DEMO_USERS.map(async (u) => {
    const { token } = await core.auth.login(DEMO_TENANT, u.id, { platform: 'web' });
    return { id: u.id, role: u.role, name: u.name, token };
  }));
  const find = (id: string) => users.find((u) => u.id === id)!;
  return {
    apiKey,
    doctor: { id: 'dr.li', token: find('dr.li').token },
    patient: { id: 'pt.zhang', token: find('pt.zhang').token },
    users,
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
