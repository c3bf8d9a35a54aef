/**
 * A send storm of real SDK clients (packages/sdk, Node) through a cluster's balancer, with
 * something done to the cluster in the middle of it (a node killed, Redis or PostgreSQL
 * restarted), and the checks every such test makes afterwards, from what the clients were
 * acked and received and from the stored history:
 *
 *  - lost: an acked message that is not stored with the seq and id it was acked with;
 *  - duplicated: a (sender, client id) stored more than once;
 *  - gaps: a conversation whose seqs are not 1..n;
 *  - storedNotAcked: a stored message of the storm whose send never resolved;
 *  - failedSends: sends the SDK gave up on (rejected);
 *  - deliveryDuplicated / deliveryMissed: per client and conversation, a seq received twice,
 *    or not at all (own sends count by their ack), after a final reconnect of every client
 *    (its catch-up, as the crash test's final sync).
 *
 * Bounded: each client sends until `afterMs` after the action is done, paced, and at most
 * `maxPerClient` messages; waiting for the last acks and the final catch-up is bounded too.
 */
import type { CarelineClient, Message, SendAck } from '@careline/sdk';
import type { ClusterTenant, TestCluster } from './cluster.ts';

export interface StormOptions {
  /** Pairs of users (each pair a p2p conversation; everyone is also in one group). Default 3. */
  pairs?: number;
  /** Sends each client keeps in flight. Default 3. */
  window?: number;
  /** Storm time before the action starts (ms). Default 2000. */
  beforeMs?: number;
  /** Storm time after the action is done (ms). Default 3000. */
  afterMs?: number;
  /** Most messages one client sends. Default 2000. */
  maxPerClient?: number;
  /** Each in-flight slot waits this long after its ack before the next send (ms). Default 20. */
  paceMs?: number;
  /** What happens to the cluster mid-storm. */
  action: () => Promise<void>;
}

export interface StormResult {
  clients: number;
  sent: number;
  acked: number;
  stored: number;
  lost: number;
  duplicated: number;
  gaps: number;
  storedNotAcked: number;
  failedSends: number;
  failedSamples: string[];
  deliveryDuplicated: number;
  deliveryMissed: number;
  reconnects: number;
  /** acked during the action (between its start and its end). */
  ackedDuringAction: number;
  summary: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sender {
  user: string;
  client: CarelineClient;
  convs: string[];
  acked: Map<string, SendAck>;
  pending: Set<Promise<void>>;
  /** conv → seq → times received as a `message` event. */
  got: Map<string, Map<number, number>>;
  sent: number;
  failed: string[];
  reconnects: number;
}

/** Reads a conversation's whole history through the balancer with the tenant's API key. */
export async function history(t: ClusterTenant, conv: string): Promise<Message[]> {
  const out: Message[] = [];
  let after = 0;
  for (let page = 0; page < 1000; page++) {
    const r = await t.call('GET', `/api/v2/sessions/${conv}/messages?after=${after}&limit=1000`);
    if (r.status !== 200) throw new Error(`history of ${conv}: ${r.status} ${JSON.stringify(r.body)}`);
    const messages = r.body.messages as Message[];
    out.push(...messages);
    if (!r.body.has_more || messages.length === 0) return out;
    after = messages[messages.length - 1]!.seq;
  }
  throw new Error(`history of ${conv}: more than 1000 pages`);
}

export async function storm(c: TestCluster, o: StormOptions): Promise<StormResult> {
  const pairs = o.pairs ?? 3;
  const window = o.window ?? 3;
  const maxPerClient = o.maxPerClient ?? 2000;
  const paceMs = o.paceMs ?? 20;
  const t = await c.tenant();
  const users = Array.from({ length: pairs * 2 }, (_, i) => `u${i}`);
  const tokens = await Promise.all(users.map(async (u, i) => (await t.user(u, i % 2 ? 'doctor' : 'patient')).token));
  const group = await t.conversation({ participants: users, type: 4, name: 'storm group' });
  const pairConvs: string[] = [];
  for (let p = 0; p < pairs; p++) pairConvs.push(await t.conversation({ participants: [users[2 * p]!, users[2 * p + 1]!] }));

  const senders: Sender[] = users.map((user, i) => {
    const client = c.client(tokens[i]!);
    const convs = [pairConvs[Math.floor(i / 2)]!, group];
    const s: Sender = { user, client, convs, acked: new Map(), pending: new Set(), got: new Map(convs.map((cv) => [cv, new Map()])), sent: 0, failed: [], reconnects: 0 };
    client.on('message', (m) => {
      const per = s.got.get(m.conversation_id);
      if (per) per.set(m.seq, (per.get(m.seq) ?? 0) + 1);
    });
    client.on('state', (e) => {
      if (e.state === 'reconnecting') s.reconnects++;
    });
    return s;
  });
  await Promise.all(senders.map((s) => s.client.connect()));

  let sending = true;
  let actionStart = Infinity;
  let actionEnd = Infinity;
  let ackedDuringAction = 0;
  const fill = (s: Sender) => {
    while (sending && s.pending.size < window && s.sent < maxPerClient) {
      const n = s.sent++;
      const clientId = `${s.user}-${n}`;
      const conv = s.convs[n % 4 === 3 ? 1 : 0]!;
      const p: Promise<void> = s.client.send(conv, { type: 1, content: { text: `${clientId}` } }, { clientId }).then(
        (ack) => {
          s.acked.set(clientId, ack);
          const now = Date.now();
          if (now >= actionStart && now <= actionEnd) ackedDuringAction++;
        },
        (err: unknown) => {
          s.failed.push(`${clientId}: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
        },
      ).finally(() => {
        s.pending.delete(p);
        setTimeout(() => fill(s), paceMs);
      });
      s.pending.add(p);
    }
  };
  for (const s of senders) fill(s);

  await sleep(o.beforeMs ?? 2000);
  actionStart = Date.now();
  await o.action();
  actionEnd = Date.now();
  await sleep(o.afterMs ?? 3000);
  sending = false;

  // Every send resolves (acked) or rejects (given up) — within a bound.
  const deadline = Date.now() + 60_000;
  while (senders.some((s) => s.pending.size > 0) && Date.now() < deadline) await sleep(50);
  const stuck = senders.reduce((n, s) => n + s.pending.size, 0);

  // A final catch-up for every client: reconnect, as a real client eventually does.
  for (const s of senders) {
    await s.client.close();
    await s.client.connect();
  }

  const convs = [...pairConvs, group];
  const stored = new Map<string, Message[]>();
  for (const conv of convs) stored.set(conv, await history(t, conv));
  const heads = new Map([...stored].map(([cv, ms]) => [cv, ms.length ? ms[ms.length - 1]!.seq : 0]));
  // The final catch-ups have had their time once every client's counts reach the heads (bounded).
  const received = (s: Sender, cv: string) => {
    const own = new Set([...s.acked.values()].filter((a) => a.conversation_id === cv).map((a) => a.seq));
    return new Set([...s.got.get(cv)!.keys(), ...own]).size;
  };
  const catchUpDeadline = Date.now() + 20_000;
  while (Date.now() < catchUpDeadline && !senders.every((s) => s.convs.every((cv) => received(s, cv) >= heads.get(cv)!))) await sleep(50);

  let storedCount = 0;
  let duplicated = 0;
  let gaps = 0;
  let storedNotAcked = 0;
  const byClientId = new Map<string, Message[]>();
  for (const [, ms] of stored) {
    storedCount += ms.length;
    ms.forEach((m, i) => {
      if (m.seq !== i + 1) gaps++;
      const key = `${m.sender_id}/${m.client_id}`;
      byClientId.set(key, [...(byClientId.get(key) ?? []), m]);
    });
  }
  for (const [, list] of byClientId) if (list.length > 1) duplicated += list.length - 1;
  let lost = 0;
  let acked = 0;
  for (const s of senders) {
    for (const [clientId, ack] of s.acked) {
      acked++;
      const found = byClientId.get(`${s.user}/${clientId}`);
      if (!found || !found.some((m) => m.seq === ack.seq && m.id === ack.message_id && m.conversation_id === ack.conversation_id)) lost++;
    }
  }
  const senderOf = new Map(senders.map((s) => [s.user, s]));
  for (const [key] of byClientId) {
    const [user, clientId] = key.split('/') as [string, string];
    if (!senderOf.get(user)?.acked.has(clientId)) storedNotAcked++;
  }
  let deliveryDuplicated = 0;
  let deliveryMissed = 0;
  for (const s of senders) {
    for (const cv of s.convs) {
      const got = s.got.get(cv)!;
      const own = new Set([...s.acked.values()].filter((a) => a.conversation_id === cv).map((a) => a.seq));
      for (const [seq, n] of got) {
        if (n > 1 || own.has(seq)) deliveryDuplicated += own.has(seq) ? n : n - 1;
      }
      for (let seq = 1; seq <= heads.get(cv)!; seq++) if (!got.has(seq) && !own.has(seq)) deliveryMissed++;
    }
  }
  const sent = senders.reduce((n, s) => n + s.sent, 0);
  const failed = senders.flatMap((s) => s.failed);
  const reconnects = senders.reduce((n, s) => n + s.reconnects, 0);
  const r = {
    clients: senders.length, sent, acked, stored: storedCount, lost, duplicated, gaps, storedNotAcked: storedNotAcked + stuck,
    failedSends: failed.length, failedSamples: failed.slice(0, 3), deliveryDuplicated, deliveryMissed, reconnects, ackedDuringAction,
  };
  return { ...r, summary: JSON.stringify(r) };
}
