/**
 * The widget's chat, in an iframe on the Careline server's origin (loaded by `loader.ts`).
 * It tracks the visit, keeps the visitor online by heartbeat, and carries the chat over the
 * WebSocket, or long-polling where WebSockets do not get through (`visitor.ts`). Keyboard:
 * Tab through the log, the message box and Send; Enter sends (Shift+Enter: a new line);
 * Escape closes the chat and gives the focus back to the page's button.
 */
import { VisitorClient, type SeedMessage } from './visitor.ts';
import { strings, type WidgetLang } from './strings.ts';

const params = new URLSearchParams(location.hash.slice(1));
const lang: WidgetLang = params.get('lang') === 'zh-CN' ? 'zh-CN' : 'en';
const s = strings[lang];
document.documentElement.lang = lang;
document.title = s.title;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const log = $<HTMLOListElement>('log');
const scroll = $<HTMLDivElement>('scroll');
const status = $<HTMLParagraphElement>('status');
const form = $<HTMLFormElement>('form');
const text = $<HTMLTextAreaElement>('text');
const send = $<HTMLButtonElement>('send');
const close = $<HTMLButtonElement>('close');
$('title').textContent = s.title;
$('text-label').textContent = s.label;
text.placeholder = s.placeholder;
send.textContent = s.send;
close.setAttribute('aria-label', s.close);
scroll.setAttribute('aria-label', s.log);

const inFrame = window.parent !== window;
const toPage = (msg: object) => {
  if (inFrame) window.parent.postMessage({ careline: 'widget', ...msg }, '*');
};

let open = !inFrame;
let unread = 0;
const intro = document.createElement('li');
intro.className = 'note intro';
intro.textContent = s.intro;
log.append(intro);

const seen = new Set<string>();
function show(m: SeedMessage, mine: boolean): void {
  if (m.mid && seen.has(m.mid)) return;
  if (m.mid) seen.add(m.mid);
  intro.remove();
  const li = document.createElement('li');
  if (m.type === 'text') {
    li.className = mine ? 'me' : 'them';
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = mine ? s.you : (m.from?.name || s.staff);
    li.append(who, document.createTextNode(m.text ?? ''));
  } else if (m.type === 'join_chat' && !mine) {
    li.className = 'note';
    li.textContent = s.joined.replace('{name}', m.from?.name || s.staff);
  } else return;
  li.dataset['mid'] = m.mid ?? '';
  log.append(li);
  scroll.scrollTop = scroll.scrollHeight;
  if (!mine && !open) {
    unread++;
    toPage({ type: 'unread', unread });
  }
}

function setStatus(t: string, error = false): void {
  status.textContent = t;
  status.classList.toggle('error', error);
}

/** The frame's storage, or (blocked in a third-party frame) the page's, through the loader. */
const pageKept = new Map<string, string>();
const storage = safeStorage() ?? {
  getItem: (k: string) => pageKept.get(k) ?? null,
  setItem: (k: string, v: string) => {
    pageKept.set(k, v);
    toPage({ type: 'save', data: JSON.stringify(Object.fromEntries(pageKept)) });
  },
  removeItem: (k: string) => {
    pageKept.delete(k);
    toPage({ type: 'save', data: JSON.stringify(Object.fromEntries(pageKept)) });
  },
};

const client = new VisitorClient({
  baseUrl: location.origin,
  key: params.get('key') ?? '',
  storage,
  page: { url: params.get('url') ?? '', title: params.get('title') ?? '', referer: params.get('referer') ?? '' },
  env: { os: navigator.platform ?? '', browser: navigator.userAgent.slice(0, 300) },
  on: {
    message: (m, mine) => show(m, mine),
    queue: (position) => {
      if (position === null) setStatus('');
      else if (position <= 1) setStatus(s.next);
      else setStatus(s.position.replace('{n}', String(position)));
    },
    claimed: (name) => setStatus(s.claimed.replace('{name}', name || s.staff)),
    closed: () => setStatus(s.ended),
    connection: (state) => {
      document.body.dataset['connection'] = state;
      if (state === 'reconnecting') setStatus(s.reconnecting, true);
      else if (status.classList.contains('error')) setStatus('');
    },
    error: (e) => setStatus(s.failed.replace('{reason}', e), true),
  },
});
document.body.dataset['transport'] = 'none';
client.onTransport = (t) => (document.body.dataset['transport'] = t);

let started = false;
let pendingPage: { url: string; title: string; referer: string } | null = null;
/** Starts once the page answered (its saved visitor), or after a second without an answer. */
let startTimer: ReturnType<typeof setTimeout> | undefined;
const start = () => {
  if (started) return;
  started = true;
  clearTimeout(startTimer);
  client.start().then(
    () => {
      document.body.dataset['ready'] = '1';
      for (const m of client.history()) show(m, m.from?.id === client.uid);
      if (pendingPage) void client.track(pendingPage).catch(() => undefined);
    },
    (err: unknown) => {
      document.body.dataset['ready'] = 'failed';
      setStatus(s.unavailable.replace('{reason}', err instanceof Error ? err.message : String(err)), true);
    },
  );
};
if (inFrame) startTimer = setTimeout(start, 1000);
else start();
form.addEventListener('submit', (e) => {
  e.preventDefault();
  const value = text.value.trim();
  if (!value) return;
  send.disabled = true;
  client.say(value).then(
    (m) => {
      text.value = '';
      show(m, true);
    },
    (err: unknown) => setStatus(s.failed.replace('{reason}', err instanceof Error ? err.message : String(err)), true),
  ).finally(() => {
    send.disabled = false;
    text.focus();
  });
});
text.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    form.requestSubmit();
  }
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && inFrame) toPage({ type: 'close' });
});
close.addEventListener('click', () => toPage({ type: 'close' }));
if (!inFrame) close.hidden = true;

window.addEventListener('message', (e: MessageEvent<{ careline?: string; type?: string; url?: string; title?: string; referer?: string; saved?: string | null }>) => {
  if (e.source !== window.parent || e.data?.careline !== 'widget') return;
  const d = e.data;
  if (d.type === 'open') {
    open = true;
    unread = 0;
    toPage({ type: 'unread', unread });
    text.focus();
  } else if (d.type === 'close') open = false;
  else if (d.type === 'page') {
    const page = { url: String(d.url ?? ''), title: String(d.title ?? ''), referer: String(d.referer ?? '') };
    if (!started) {
      // The first answer of the page: its saved visitor (when this frame has no storage).
      if (typeof d.saved === 'string') {
        try {
          for (const [k, v] of Object.entries(JSON.parse(d.saved) as Record<string, unknown>)) if (typeof v === 'string') pageKept.set(k, v);
        } catch {
          // Nothing usable: a new visitor.
        }
      }
      start();
    } else if (document.body.dataset['ready'] === '1') void client.track(page).catch(() => undefined);
    else pendingPage = page;
  }
});
toPage({ type: 'ready' });

function safeStorage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}
