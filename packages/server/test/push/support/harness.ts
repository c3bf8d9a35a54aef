/**
 * What the vendor push tests share: a patient and a doctor in a conversation, the patient's
 * SDK client (to register its install), and waiting until the push jobs are all done.
 */
import { CarelineClient } from '@careline/sdk';
import { PUSH_JOB } from '../../../src/push/planner.ts';
import type { TestServer } from '../../support/server.ts';
import { eventually } from '../../rest/helpers.ts';

/** The patient's name in every vendor test: no push may carry it. */
export const PATIENT_NAME = 'Olusegun Bergström';

/** Waits until the planner has enqueued what it was given and no push job is queued or leased. */
export async function pushSettled(s: TestServer): Promise<void> {
  await s.server.push.planner.drain();
  await eventually(async () => {
    const st = (await s.server.core.storage.jobs.stats()).find((x) => x.kind === PUSH_JOB);
    return !st || st.queued + st.leased === 0;
  }, 15_000);
}

/** A patient (`pat-<tag>`) and a doctor (`doc-<tag>`) in a one-to-one conversation, and the patient's SDK client. */
export async function patientAndDoctor(s: TestServer, tag: string) {
  const pat = await s.user(`pat-${tag}`, 'patient', PATIENT_NAME);
  const doc = await s.user(`doc-${tag}`, 'doctor', 'Dr. Ilse Marchetti');
  const conv = await s.conversation({ participants: [pat.id, doc.id] });
  const client = new CarelineClient({ url: s.url, token: pat.token });
  return { pat, doc, conv, client };
}
