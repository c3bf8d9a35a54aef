/**
 * The transports scenario's table (WebSocket, long-poll, MQTT, and Mosquitto beside them) and
 * its targets: MQTT chat ≥ 0.5× Mosquitto's QoS 1 relay rate; long-poll chat delivery p50 at
 * 25 % load < 2× WebSocket's.
 */
import type { ChatRun } from '../scenarios/chat.ts';
import type { StormRun } from '../scenarios/storm.ts';
import type { TransportsRun } from '../scenarios/transports.ts';
import type { TransportName } from '../load/transport.ts';
import { fmt } from './util.ts';

export interface TransportRow {
  scenario: string;
  metric: string;
  /** WebSocket, long-poll, MQTT, Mosquitto. */
  values: [string, string, string, string];
}

const NAMES: Record<TransportName, string> = { ws: 'WebSocket', longpoll: 'long-poll', mqtt: 'MQTT' };
const HEAD = ['Careline, WebSocket', 'Careline, long-poll', 'Careline, MQTT', 'Mosquitto (QoS 1, stores nothing)'];
const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '–');

export function transportRows(t: TransportsRun): TransportRow[] {
  const out: TransportRow[] = [];
  const per = <T>(m: Partial<Record<TransportName, T>>, f: (x: T) => string): [string, string, string] =>
    (['ws', 'longpoll', 'mqtt'] as const).map((k) => (m[k] === undefined ? '–' : f(m[k] as T))) as [string, string, string];
  const add = (scenario: string, metric: string, v: [string, string, string], mosq = '') => out.push({ scenario, metric, values: [...v, mosq] });
  const r = t.relay;
  const anyChat = Object.values(t.chat)[0] as ChatRun | undefined;
  if (anyChat || r) {
    const s = `chat 1:1 (${fmt.int(anyChat?.pairs ?? r?.pairs ?? 0)} pairs)`;
    add(s, 'max throughput, closed loop, 4 in flight per client (msg/s delivered)', per(t.chat, (c) => fmt.int(c.max)), r ? fmt.int(r.rate) : '–');
    const steps = (c: ChatRun) => c.steps.filter((x) => x.mode === 'open');
    const labels = [...new Set(Object.values(t.chat).flatMap((c) => steps(c!).map((x) => x.label.replace(/ = .*/, ''))))];
    for (const label of labels) {
      const at = (c: ChatRun) => steps(c).find((x) => x.label.startsWith(label));
      add(s, `${label}: offered (msg/s)`, per(t.chat, (c) => fmt.int(at(c)?.offered ?? NaN)));
      add(s, `${label}: ack p50 / p99 (ms)`, per(t.chat, (c) => (at(c) ? `${ms(at(c)!.ack.p50)} / ${ms(at(c)!.ack.p99)}` : '–')));
      add(s, `${label}: delivery p50 / p99 (ms)`, per(t.chat, (c) => (at(c) ? `${ms(at(c)!.delivery.p50)} / ${ms(at(c)!.delivery.p99)}` : '–')));
      add(s, `${label}: server CPU-µs per delivered message`, per(t.chat, (c) => (at(c) ? at(c)!.cpuUsPerMsg.toFixed(1) : '–')));
    }
    const closed = (c: ChatRun) => c.steps.find((x) => x.mode === 'closed');
    add(s, 'at the maximum: server CPU-µs per delivered message', per(t.chat, (c) => (closed(c) ? closed(c)!.cpuUsPerMsg.toFixed(1) : '–')), r ? r.cpuUsPerMsg.toFixed(1) : '–');
    add(s, 'at the maximum: delivery p50 / p99 (ms)', per(t.chat, (c) => (closed(c) ? `${ms(closed(c)!.delivery.p50)} / ${ms(closed(c)!.delivery.p99)}` : '–')), r ? `${ms(r.latency.p50)} / ${ms(r.latency.p99)}` : '–');
    add(s, 'check: unacked / undelivered / duplicated / gaps', per(t.chat, (c) => {
      const k = c.check as Record<string, number>;
      return `${k.unacked} / ${k.undelivered} / ${(k.duplicateAcks ?? 0) + (k.duplicateDeliveries ?? 0)} / ${(k.gaps ?? 0) + (k.reordered ?? 0)}`;
    }), r ? `– / ${fmt.int(r.sent - r.delivered)} / ${fmt.int(r.duplicated)} / –` : '–');
    const flags = (steps: { label: string; generatorBound: boolean; foreignCores: number }[]) => {
      const g = steps.filter((x) => x.generatorBound).map((x) => x.label.replace(/ = .*/, '').replace(' (closed loop)', ''));
      const d = steps.filter((x) => x.foreignCores > 0.25).map((x) => `${x.label.replace(/ = .*/, '').replace(' (closed loop)', '')} (${x.foreignCores.toFixed(1)})`);
      return `${g.length ? g.join(', ') : 'none'}; ${d.length ? d.join(', ') : 'none'}`;
    };
    add(s, 'generator-bound; disturbed by other work (steps)', per(t.chat, (c) => flags(c.steps)), r ? `${r.generatorBound ? 'yes' : 'none'}; ${r.foreignCores > 0.25 ? r.foreignCores.toFixed(1) : 'none'}` : '–');
    if (r) add(s, 'message size; subscribers', per(t.chat, () => ''), `${r.payloadBytes} B; ${fmt.int(r.subscribers)}`);
  }
  const anyStorm = Object.values(t.storm)[0] as StormRun | undefined;
  const secs = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : 'not all');
  if (anyStorm) {
    const s = `reconnect storm (${fmt.int(anyStorm.clients)} clients, ${fmt.int(anyStorm.rate)} msg/s)`;
    add(s, '99% / 100% caught up (s); caught up within 60 s', per(t.storm, (x) => `${secs(x.t99)} / ${secs(x.t100)}; ${fmt.int(x.caughtUp)}`));
    add(s, 'per client, reconnect → caught up p50 / p99 (ms)', per(t.storm, (x) => `${x.perClient.p50.toFixed(0)} / ${x.perClient.p99.toFixed(0)}`));
    add(s, 'per client, reconnect → hello (MQTT: SUBACK) p50 / p99 (ms)', per(t.storm, (x) => `${x.toHello.p50.toFixed(0)} / ${x.toHello.p99.toFixed(0)}`));
    add(s, 'missed / duplicated (of messages expected); not back; closed after catching up', per(t.storm, (x) => `${x.missed} / ${x.duplicated} (of ${fmt.int(x.expected)}); ${x.notBack}; ${x.closedAfterCatchUp ?? '–'}`));
    add(s, 'server CPU (cores) during the storm', per(t.storm, (x) => x.serverCpu.toFixed(2)));
  }
  const ic = t.idle.careline;
  const im = t.idle.mosquitto;
  if (ic || im) {
    const s = `idle MQTT connections (${fmt.int(ic?.opened ?? im?.opened ?? 0)})`;
    add(s, 'opened / still open after the hold', ['–', '–', ic ? `${fmt.int(ic.opened)} / ${fmt.int(ic.stillOpen)}` : '–'], im ? `${fmt.int(im.opened)} / ${fmt.int(im.stillOpen)}` : '–');
    add(s, 'process RSS per connection', ['–', '–', ic ? fmt.bytes(ic.rssPerConn) : '–'], im ? fmt.bytes(im.rssPerConn) : '–');
    add(s, 'V8 heap per connection', ['–', '–', ic?.heapPerConn != null ? fmt.bytes(ic.heapPerConn) : '–'], '–');
    add(s, 'connect rate (conn/s)', ['–', '–', ic ? fmt.int(ic.connectRate) : '–'], im ? fmt.int(im.connectRate) : '–');
  }
  const q = t.ratios;
  out.push({ scenario: 'ratios', metric: 'MQTT chat max ÷ Mosquitto QoS 1 relay rate', values: ['', '', q.mqttChatVsMosquitto === null ? '–' : fmt.ratio(q.mqttChatVsMosquitto), ''] });
  out.push({ scenario: 'ratios', metric: 'delivery p50 at 25% load ÷ WebSocket\'s', values: ['1.00×', q.longpollP50VsWs25 === null ? '–' : fmt.ratio(q.longpollP50VsWs25), q.mqttP50VsWs25 === null ? '–' : fmt.ratio(q.mqttP50VsWs25), ''] });
  out.push({ scenario: 'ratios', metric: 'RSS per idle MQTT connection ÷ Mosquitto\'s', values: ['', '', q.idleMqttVsMosquitto === null ? '–' : fmt.ratio(q.idleMqttVsMosquitto), ''] });
  return out;
}

export function transportsTerminal(rs: TransportRow[]): string {
  const head = ['scenario', 'metric', ...HEAD];
  const body = rs.map((r) => [r.scenario, r.metric, ...r.values]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ');
  let last = '';
  const lines = [line(head), w.map((n) => '─'.repeat(n)).join('  ')];
  for (const b of body) {
    const cells = [...b];
    if (cells[0] === last) cells[0] = '';
    else last = cells[0]!;
    lines.push(line(cells));
  }
  return lines.join('\n');
}

export function transportsMarkdown(rs: TransportRow[]): string {
  const lines = [`| scenario | metric | ${HEAD.join(' | ')} |`, '| --- | --- | ---: | ---: | ---: | ---: |'];
  let last = '';
  for (const r of rs) {
    lines.push(`| ${r.scenario === last ? '' : r.scenario} | ${r.metric} | ${r.values.join(' | ')} |`);
    last = r.scenario;
  }
  return lines.join('\n');
}

export function transportTargets(t: TransportsRun): { target: string; measured: string; met: boolean | null }[] {
  const out: { target: string; measured: string; met: boolean | null }[] = [];
  const mq = t.chat.mqtt;
  const r = t.relay;
  if (mq && r) {
    const x = t.ratios.mqttChatVsMosquitto ?? NaN;
    out.push({ target: 'MQTT chat ≥ 0.5× Mosquitto\'s QoS 1 relay rate (Careline storing every message)', measured: `${fmt.int(mq.max)} vs ${fmt.int(r.rate)} msg/s = ${fmt.ratio(x)} (${fmt.int(r.subscribers)} subscribers, ${r.payloadBytes} B)`, met: mq.check.ok && x >= 0.5 });
  }
  const ws = t.chat.ws;
  const lp = t.chat.longpoll;
  const at25 = (c: ChatRun) => c.steps.find((s) => s.mode === 'open' && s.label.startsWith('25%'));
  if (ws && lp && at25(ws) && at25(lp)) {
    const x = t.ratios.longpollP50VsWs25 ?? NaN;
    out.push({ target: 'long-poll chat: delivery p50 < 2× WebSocket\'s at 25 % load', measured: `${ms(at25(lp)!.delivery.p50)} vs ${ms(at25(ws)!.delivery.p50)} ms at ${fmt.int(at25(ws)!.offered)} msg/s = ${fmt.ratio(x)}`, met: lp.check.ok && x < 2 });
  }
  return out;
}

/** Whether a transport's delivery check failed (a loss, a double, a gap), or a part of the scenario broke. */
export function transportsFailed(t: TransportsRun): boolean {
  return Object.values(t.chat).some((c) => c && !c.check.ok) || Object.values(t.storm).some((s) => s && (s.missed > 0 || s.duplicated > 0));
}
