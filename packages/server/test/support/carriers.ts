/**
 * Opens a raw frame client over any carrier against a test server (started with
 * `mqtt: {enabled: true, port: 0}` for MQTT), so that one suite runs over every transport.
 * `sync: true` asks for the WebSocket's `?sync=1` (live frames held until the test's own first
 * sync); on MQTT that is the frames topic without the automatic empty sync. Long-polling has
 * no sync frames (its catch-up is the poll cursor), so a suite that sends its own asks the
 * other two carriers only.
 */
import type { TestServer } from './server.ts';
import type { Carrier, FrameClient } from './frame-client.ts';
import { WsClient } from './ws-client.ts';
import { PollClient } from './poll-client.ts';
import { MqttFrameClient } from './mqtt-frame-client.ts';

export async function openOver(carrier: Carrier, s: TestServer, token: string, opts: { sync?: boolean } = {}): Promise<FrameClient & { closed: Promise<{ code: number; reason: string }> }> {
  switch (carrier) {
    case 'websocket':
      return WsClient.open(s.wsUrl, token, opts);
    case 'mqtt':
      if (!s.server.mqttPort) throw new Error('openOver(mqtt): start the test server with mqtt: {enabled: true, port: 0}');
      return MqttFrameClient.open(`mqtt://127.0.0.1:${s.server.mqttPort}`, token, { sync: !opts.sync });
    case 'longpoll':
      if (opts.sync) throw new Error('openOver(longpoll): long-polling has no sync frames; its catch-up is the poll cursor');
      return PollClient.open(s.url, token);
  }
}
