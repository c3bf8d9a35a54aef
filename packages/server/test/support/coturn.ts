/**
 * coturn for tests: the `turnserver` of `scripts/lib/coturn.ts` (shared with trying calls by
 * hand), started on loopback on a free port in its own temp dir with a shared secret, and
 * stopped by process id. See that file for its config.
 */
export { coturnConfig, locateTurnserver, startCoturn, type CoturnOptions, type CoturnService } from '../../../../scripts/lib/coturn.ts';
