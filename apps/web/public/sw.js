/*
 * The web client's service worker: shows a notification for each Web Push the server sends
 * (while the user has no open tab connected). The payload, decrypted by the browser, is
 * `{title, body?, badge, quiet, tag, data: {tenant_id, conversation_id, message_id, seq}}`:
 * a generic title and ids (a preview `body` only where the tenant turned previews on).
 * One notification per conversation (`tag`), replaced by the next; clicking it focuses an
 * open tab of the client or opens one on the conversation.
 */
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let p = {};
  try {
    p = event.data ? event.data.json() : {};
  } catch {
    p = {};
  }
  const title = typeof p.title === 'string' && p.title ? p.title : 'New message from your care team';
  const data = p.data && typeof p.data === 'object' ? p.data : {};
  const options = {
    tag: typeof p.tag === 'string' ? p.tag : undefined,
    renotify: typeof p.tag === 'string',
    silent: p.quiet === true,
    icon: '/favicon.svg',
    data,
  };
  if (typeof p.body === 'string') options.body = p.body;
  const work = [self.registration.showNotification(title, options)];
  if (typeof p.badge === 'number' && 'setAppBadge' in self.navigator) work.push(self.navigator.setAppBadge(p.badge).catch(() => undefined));
  event.waitUntil(Promise.all(work));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const id = event.notification.data && event.notification.data.conversation_id;
  const url = new URL(id ? `/c/${encodeURIComponent(id)}` : '/', self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const w of windows) {
      if ('focus' in w) {
        if ('navigate' in w) await w.navigate(url).catch(() => undefined);
        return w.focus();
      }
    }
    return self.clients.openWindow(url);
  })());
});
