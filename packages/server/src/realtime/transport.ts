/**
 * What the real-time layer needs of a transport (the WebSocket today; long-polling or MQTT
 * later): write text frames, say how much waits unsent, count bytes both ways for the
 * heartbeat, and close for a listed `DisconnectReason`. The transport hands the connection
 * each frame it receives (`Connection.onFrame`) and tells it when it closed on its own
 * (`Connection.onClose`).
 */
import type { DisconnectReason } from '@careline/protocol';

export interface Transport {
  /** Queues a text frame. */
  write(data: string): void;
  /** Bytes queued and not yet sent. */
  buffered(): number;
  /** Resolves when the output buffer has drained below `bytes` (or the transport closed). */
  drained(bytes: number): Promise<void>;
  /** Bytes handed to the network so far: the heartbeat compares them between beats to see output stall. */
  sent(): number;
  /**
   * Ends the connection for `why`; `reason` is the text to send with it (`why.reason`, or the
   * error code of an `error` frame written just before). The transport says it in its own terms
   * (the WebSocket transport: a close frame with `why.code`).
   */
  close(why: DisconnectReason, reason: string): void;
  /** Asks the client for a sign of life (the WebSocket transport: a protocol-level ping, whose pong counts). */
  ping(): void;
  /** Bytes received so far, of any kind (frames, pongs): the heartbeat compares them between beats. */
  received(): number;
  /** Drops the connection at once, with no close handshake. */
  terminate(): void;
}
