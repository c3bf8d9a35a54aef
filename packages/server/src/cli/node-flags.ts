/**
 * The Node.js flags the server process runs with (`npm start`, the `careline` command's
 * shebang, `careline start --supervise`'s child, the cluster scripts, the benchmark).
 *
 * `--max-semi-space-size=8`: V8 sizes the young generation by the machine's memory; on a
 * machine with 16 GiB or more each of its two semi-spaces may grow to 64 MiB. The server keeps
 * many objects alive for a few milliseconds (a send waits for its group commit, frames wait
 * for their socket), so with that much room each scavenge copies a large live set: they took
 * 15–38 ms on this project's benchmark machine — a stall of every connection each time — and
 * the young generation alone held over 100 MiB. Capped at 8 MiB, scavenges take 2–9 ms, the
 * chat maximum rose by about a quarter and the resident memory fell by about 100 MiB
 * (docs/performance.md, "The young generation"). 2 and 4 MiB were tried too: more scavenges,
 * no more throughput, a worse p99 at low load.
 *
 * `--heap-growing-percent=100`: after a full collection V8 lets the old generation grow to a
 * multiple of what survived before the next one, a multiple it picks between 1.1 and 4 — the
 * larger, the faster the program allocates. The server allocates fast and keeps little (its
 * live heap is tens of MiB), so the old generation held 100–175 MiB of garbage at the end of a
 * chat benchmark. At 1.3× it held 60–64 MiB (resident memory 450–460 → 308–311 MiB together
 * with the smaller SQLite page caches), but a full collection came every 2.5 s at 4,000
 * messages a second, each ending in a pause of 6–19 ms, and those pauses were the delivery
 * latency's tail. At 2× the resident memory is 35–45 MiB more, the collections half as
 * frequent, and the delivery p99 at 8,000 msg/s 31–44 ms against 40–134 ms (alternated runs
 * of 20 s steps; docs/performance.md, "Where the tail of the chat latency comes from").
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--heap-growing-percent=100'];

/** The flags of `NODE_FLAGS` whose setting `args` does not give (by name: another value given there stands). */
export function missingNodeFlags(args: readonly string[]): string[] {
  const name = (a: string) => a.split('=')[0];
  return NODE_FLAGS.filter((f) => !args.some((a) => name(a) === name(f)));
}

/** Whether this process was started with `NODE_FLAGS`' settings (on its command line or in NODE_OPTIONS). */
export function startedWithNodeFlags(): boolean {
  return missingNodeFlags([...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)]).length === 0;
}
