/**
 * The one script a clinic's website includes:
 *
 *   <script async src="https://careline.example.org/widget.js" data-key="<widget key>"></script>
 *
 * It draws a "Chat with us" button in the page's corner (in a shadow root, so the page's
 * styles do not reach it) and loads the chat itself in an iframe on the Careline server's
 * origin (`/widget/frame.html`), which tracks the visit, holds the connection and shows the
 * chat. The page's address, title and referrer go to the frame in its URL fragment (never
 * sent to the server as part of the frame's URL) and again, by `postMessage`, when a
 * single-page site changes its address.
 *
 * Optional attributes: `data-lang="en|zh-CN"`, `data-position="left"`.
 */

interface FrameMessage {
  careline?: 'widget';
  type?: string;
  unread?: number;
  /** `save`: the visitor's id and token, for browsers that keep no storage in a third-party frame. */
  data?: string;
}

(() => {
  const script = document.currentScript as HTMLScriptElement | null;
  const w = window as unknown as { __carelineWidget?: boolean };
  if (!script || w.__carelineWidget) return;
  w.__carelineWidget = true;
  const key = script.dataset['key'] ?? '';
  const origin = new URL(script.src, location.href).origin;
  const docLang = (script.dataset['lang'] ?? document.documentElement.lang ?? navigator.language ?? '').toLowerCase();
  const lang = docLang.startsWith('zh') ? 'zh-CN' : 'en';
  const left = script.dataset['position'] === 'left';
  const label0 = lang === 'zh-CN' ? '在线咨询' : 'Chat with us';

  // Where a browser blocks storage in third-party frames, the frame keeps the visitor (id and
  // token, nothing of the chat) in the page's own storage, through this script.
  const storeKey = `careline-widget:${key.slice(0, 16)}`;
  const load = () => {
    try {
      return localStorage.getItem(storeKey);
    } catch {
      return null;
    }
  };
  const store = (v: string) => {
    try {
      localStorage.setItem(storeKey, v);
    } catch {
      // Not kept: the next page starts a new visitor.
    }
  };

  const page = () => ({ url: location.href.slice(0, 2000), title: document.title.slice(0, 300), referer: document.referrer.slice(0, 2000) });

  const host = document.createElement('div');
  host.id = 'careline-widget';
  const root = host.attachShadow({ mode: 'open' });
  const side = left ? 'left' : 'right';
  root.innerHTML = `<style>
:host{all:initial}
.w{position:fixed;${side}:20px;bottom:20px;z-index:2147483000;font:16px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif}
button{display:flex;align-items:center;gap:8px;min-height:48px;padding:0 18px;border:0;border-radius:24px;background:#0f5fa8;color:#fff;font:inherit;font-weight:600;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25)}
button:hover{background:#0b4a84}
button:focus-visible{outline:3px solid #d9480f;outline-offset:3px}
.n{min-width:20px;padding:0 6px;border-radius:10px;background:#fff;color:#0b4a84;font-size:13px;text-align:center}
.n[hidden]{display:none}
iframe{position:absolute;${side}:0;bottom:64px;width:min(380px,calc(100vw - 40px));height:min(560px,calc(100vh - 104px));border:0;border-radius:12px;background:#fff;box-shadow:0 8px 30px rgba(0,0,0,.3)}
iframe[hidden]{display:none}
</style><div class="w"><iframe hidden></iframe><button type="button" aria-expanded="false"><svg width="20" height="20" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg><span class="l"></span><span class="n" hidden></span></button></div>`;
  const frame = root.querySelector('iframe')!;
  const button = root.querySelector('button')!;
  const labelEl = root.querySelector('.l')!;
  const badge = root.querySelector<HTMLElement>('.n')!;
  labelEl.textContent = label0;
  button.setAttribute('aria-controls', 'careline-chat');
  frame.id = 'careline-chat';
  frame.title = label0;
  const fragment = new URLSearchParams({ key, lang, ...page() });
  frame.src = `${origin}/widget/frame.html#${fragment.toString()}`;

  let open = false;
  const post = (msg: object) => frame.contentWindow?.postMessage({ careline: 'widget', ...msg }, origin);
  const setOpen = (value: boolean, focusButton = false) => {
    open = value;
    frame.hidden = !value;
    button.setAttribute('aria-expanded', String(value));
    post({ type: value ? 'open' : 'close' });
    if (value) frame.focus();
    else if (focusButton) button.focus();
  };
  button.addEventListener('click', () => setOpen(!open));

  window.addEventListener('message', (e: MessageEvent<FrameMessage>) => {
    if (e.origin !== origin || e.source !== frame.contentWindow || e.data?.careline !== 'widget') return;
    const d = e.data;
    if (d.type === 'close') setOpen(false, true);
    else if (d.type === 'open') setOpen(true);
    else if (d.type === 'unread') {
      const n = Math.max(0, Math.min(99, Number(d.unread) || 0));
      badge.hidden = n === 0 || open;
      badge.textContent = String(n);
      button.setAttribute('aria-label', n > 0 ? `${label0} (${n})` : label0);
    } else if (d.type === 'ready') post({ type: 'page', ...page(), saved: load() });
    else if (d.type === 'save' && typeof d.data === 'string' && d.data.length < 16384) store(d.data);
  });

  // A single-page site: tell the frame the new address (it tracks the visit again).
  let last = location.href;
  const changed = () => {
    if (location.href === last) return;
    last = location.href;
    post({ type: 'page', ...page() });
  };
  window.addEventListener('popstate', changed);
  window.addEventListener('hashchange', changed);
  for (const m of ['pushState', 'replaceState'] as const) {
    const orig = history[m];
    history[m] = function (this: History, ...args: Parameters<History['pushState']>) {
      orig.apply(this, args);
      setTimeout(changed, 0);
    };
  }

  const mount = () => document.body.appendChild(host);
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
