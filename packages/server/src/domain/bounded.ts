/**
 * A `Map` kept to a bound by its insertion order, for the per-node caches (sessions read,
 * tokens accepted, read-cursor floors, settings, conversation members, prepared statements).
 * No imports: the SQLite writer thread's isolate loads it too.
 */

/** The key of a conversation in those caches (a NUL cannot occur in a tenant id). */
export const conversationKey = (tenantId: string, conversationId: string): string => `${tenantId}\u0000${conversationId}`;

/** Sets `key` as the map's newest entry; past `max` entries the oldest goes first. */
export function setNewest<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  if (!map.delete(key) && map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}
