/**
 * Web Push for the web client: registers the service worker (`/sw.js`, from `public/sw.js`),
 * subscribes the browser's push service with the server's VAPID key
 * (`client.devices.webPushKey()`), and registers the subscription as this install's push
 * token (OS type 3, vendor `webpush`). The server pushes only while the user has no live
 * connection (the tab closed); the service worker then shows a notification. Pushes carry ids
 * and a generic title, so the notification says no more; clicking it opens the conversation.
 *
 * Nothing happens where the browser has no service workers or push, where the user refused
 * notifications, or where the server has no VAPID key (`push.webpush_unconfigured`).
 */
import { CarelineError, type CarelineClient } from '@careline/sdk';

export const SERVICE_WORKER_URL = '/sw.js';

/** The key as `applicationServerKey` wants it. */
function keyBytes(b64url: string): Uint8Array<ArrayBuffer> {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64url.length % 4)) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const sameKey = (a: ArrayBuffer | null, b: Uint8Array) => a !== null && a.byteLength === b.length && new Uint8Array(a).every((x, i) => x === b[i]);

/**
 * Turns Web Push on for this browser and the signed-in user; resolves `true` when the
 * subscription is registered. Never throws: push is a convenience, the chat works without it.
 */
export async function enableWebPush(client: CarelineClient): Promise<boolean> {
  try {
    if (typeof navigator === 'undefined' || !('serviceWorker' in navigator) || typeof PushManager === 'undefined' || typeof Notification === 'undefined') return false;
    let key: string;
    try {
      key = (await client.devices.webPushKey()).public_key;
    } catch (err) {
      if (err instanceof CarelineError && err.code === 'push.webpush_unconfigured') return false;
      throw err;
    }
    let permission = Notification.permission;
    if (permission === 'default') permission = await Notification.requestPermission();
    if (permission !== 'granted') return false;
    await navigator.serviceWorker.register(SERVICE_WORKER_URL, { scope: '/' });
    const reg = await navigator.serviceWorker.ready;
    const appKey = keyBytes(key);
    let sub = await reg.pushManager.getSubscription();
    // A subscription made with another key (the server's key changed) is replaced.
    if (sub && !sameKey(sub.options.applicationServerKey, appKey)) {
      await sub.unsubscribe();
      sub = null;
    }
    sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: appKey });
    await client.devices.register({
      os_type: 3, vendor: 'webpush', push_token: JSON.stringify(sub.toJSON()),
      device_info: { user_agent: navigator.userAgent.slice(0, 256), language: navigator.language },
    });
    return true;
  } catch (err) {
    console.warn('Web Push is not available:', err);
    return false;
  }
}
