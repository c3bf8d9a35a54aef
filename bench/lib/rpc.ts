/**
 * The child side of the IPC calls made with `Proc.call`: `serve({ method: handler })`.
 * Handlers may be async; a thrown error is sent back as the call's error.
 */
export type Handler = (params: any) => unknown;

export function serve(handlers: Record<string, Handler>): void {
  if (!process.send) throw new Error('this process has no IPC channel: start it through the bench orchestrator');
  process.on('message', (m: any) => {
    if (!m || typeof m.id !== 'number') return;
    const h = handlers[m.method];
    Promise.resolve()
      .then(() => {
        if (!h) throw new Error(`unknown method ${m.method}`);
        return h(m.params);
      })
      .then(
        (result) => process.send?.({ id: m.id, result: result ?? null }),
        (err: unknown) => process.send?.({ id: m.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  // The orchestrator going away ends the child.
  process.on('disconnect', () => process.exit(0));
}

/** Sends an unsolicited event to the orchestrator. */
export function emit(event: string, data: unknown): void {
  process.send?.({ event, data });
}
