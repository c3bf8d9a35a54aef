/** The demo tenant: an app key, a doctor, a patient and their conversation. Idempotent. */
import type { Core } from '../core.ts';
import { AppError } from '../domain/errors.ts';
import type { Principal } from '../domain/types.ts';

export const DEMO_TENANT = 'demo';

export interface Demo {
  apiKey: string;
  doctor: { id: string; token: string };
  patient: { id: string; token: string };
  conversationId: string;
}

export async function seedDemo(core: Core): Promise<Demo> {
  try {
    await core.auth.createTenant(DEMO_TENANT, 'Demo Clinic');
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'tenant.exists')) throw err;
  }
  // A fresh key each start: keys are stored hashed, so an old one cannot be shown again.
  const { api_key } = await core.auth.createApp(DEMO_TENANT, `demo-${new Date().toISOString()}`);
  const app: Principal = { kind: 'app', tenantId: DEMO_TENANT, appId: 'demo' };
  await core.users.upsert(app, 'dr.li', { role: 'doctor', name: 'Dr. Li Wei' });
  await core.users.upsert(app, 'pt.zhang', { role: 'patient', name: 'Zhang Min' });
  const { session } = await core.conversations.create(app, { session_type: 2, session_name: 'Zhang Min · Dr. Li', participants: ['dr.li:doctor', 'pt.zhang:patient'] });
  const doctor = await core.auth.login(DEMO_TENANT, 'dr.li', { platform: 'web' });
  const patient = await core.auth.login(DEMO_TENANT, 'pt.zhang', { platform: 'web' });
  return {
    apiKey: api_key,
    doctor: { id: 'dr.li', token: doctor.token },
    patient: { id: 'pt.zhang', token: patient.token },
    conversationId: session.id,
  };
}
