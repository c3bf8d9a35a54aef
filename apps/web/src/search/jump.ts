/**
 * Jumping to a message found by search: open its conversation, load older pages of its
 * history until the message is there (bounded), scroll it to the middle of the log, mark it
 * for a moment and give it the focus, so a keyboard or screen-reader user lands on it too.
 */
import { navigate, routePath } from '../router.ts';
import type { Store } from '../store.ts';

const MAX_PAGES = 200;
const WAIT_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(get: () => T | undefined | null | false, ms = WAIT_MS): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > end) return undefined;
    await sleep(30);
  }
}

/** Resolves true once the message is on screen, false if its history did not have it. */
export async function jumpToMessage(store: Store, conversationId: string, seq: number): Promise<boolean> {
  navigate(routePath({ name: 'chat', id: conversationId }));
  // The shell opens the conversation (its newest page) when the route changes.
  const loaded = await until(() => store.state.messages[conversationId]?.loaded);
  if (!loaded) return false;
  for (let i = 0; i < MAX_PAGES; i++) {
    const cur = store.state.messages[conversationId];
    if (!cur) return false;
    if (cur.items.some((m) => m.seq === seq && m.status === undefined)) break;
    const oldest = cur.items.find((m) => m.status === undefined);
    if (!cur.hasMore || (oldest && oldest.seq < seq)) return false;
    if (cur.loading) {
      await sleep(30);
      continue;
    }
    await store.loadOlder(conversationId);
  }
  const el = await until(() => document.querySelector<HTMLElement>(`[data-testid="message-log"] [data-seq="${seq}"]`), 3000);
  if (!el) return false;
  // After the log has laid out the pages just added.
  await new Promise((r) => requestAnimationFrame(() => r(undefined)));
  el.scrollIntoView({ block: 'center' });
  if (!el.hasAttribute('tabindex')) el.tabIndex = -1;
  el.focus({ preventScroll: true });
  el.classList.add('jump-target');
  el.dataset.jumped = 'true';
  setTimeout(() => el.classList.remove('jump-target'), 4000);
  return true;
}
