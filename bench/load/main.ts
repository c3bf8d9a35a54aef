/**
 * A load generator process: started by the bench orchestrator (never by hand), driven over
 * IPC. One process holds the clients of one share of the workload; the orchestrator reads
 * its CPU time from /proc to tell when the generators, not the server, were the limit.
 */
import { serve } from '../lib/rpc.ts';
import { broadcastHandlers } from './broadcast.ts';
import { chatHandlers } from './chat.ts';
import { connsHandlers } from './conns.ts';
import { fanoutHandlers } from './fanout.ts';
import { historyHandlers } from './history.ts';
import { mqttIdleHandlers, relayHandlers } from './mqtt.ts';
import { stormHandlers, trafficHandlers } from './storm.ts';

serve({ ...chatHandlers, ...fanoutHandlers, ...connsHandlers, ...stormHandlers, ...trafficHandlers, ...historyHandlers, ...broadcastHandlers, ...relayHandlers, ...mqttIdleHandlers, ping: () => 'pong' });
process.stdout.write(JSON.stringify({ ready: true, pid: process.pid }) + '\n');
