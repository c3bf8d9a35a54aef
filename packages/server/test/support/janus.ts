/**
 * Janus (Debian's `janus`, installed by scripts/install-services) for tests: the process of
 * `scripts/lib/janus.ts`, on loopback with its config in a temp dir, stopped by process id.
 */
export { locateJanus, startJanus, type JanusService } from '../../../../scripts/lib/janus.ts';
