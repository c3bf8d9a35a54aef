/**
 * The search box over the conversation list: searches the messages of every conversation of
 * the user, or only the open one (`client.search`, Chinese as well as English), as they type.
 * The results take the list's place: the conversation, sender and time of each, and its text
 * with the matches marked; choosing one opens the conversation at that message.
 */
import { useEffect, useId, useRef, useState } from 'react';
import { CarelineError, conversationTitle, highlightParts, type SearchHit } from '@careline/sdk';
import { useI18n, type T } from '../i18n.ts';
import { fullTime, preview, shortTime } from '../format.ts';
import { routePath } from '../router.ts';
import { errorText, useStore, type Store } from '../store.ts';
import { jumpToMessage } from './jump.ts';
import './search.css';

const DEBOUNCE_MS = 300;
/** Pages that come back empty with a cursor (the server stopped early) are followed this many times. */
const FOLLOW_EMPTY = 3;

interface Results {
  q: string;
  scope: string | null;
  items: SearchHit[];
  cursor: string | null;
  loading: boolean;
  error?: string;
}

function words(q: string): string[] {
  return q.trim().split(/\s+/u).filter(Boolean);
}

function problem(q: string, t: T): string | null {
  const w = words(q);
  if (w.length === 0) return null;
  if (q.length > 200 || w.length > 8) return t('search.tooLong');
  if (w.every((x) => [...x].length < 2)) return t('search.tooShort');
  return null;
}

export function SearchBox({ store, activeId }: { store: Store; activeId: string | null }) {
  const { t } = useI18n();
  const [q, setQ] = useState('');
  const [scopeThis, setScopeThis] = useState(false);
  const [res, setRes] = useState<Results | null>(null);
  const round = useRef(0);
  const inputId = useId();
  const scope = scopeThis && activeId ? activeId : null;

  const run = async (query: string, conv: string | null, cursor: string | null) => {
    const my = ++round.current;
    setRes((r) => ({ q: query, scope: conv, items: cursor && r ? r.items : [], cursor, loading: true }));
    let items: SearchHit[] = [];
    let next: string | null = cursor;
    try {
      for (let i = 0; i <= FOLLOW_EMPTY; i++) {
        const page = await store.client.search({ q: query, ...(conv ? { conversation_id: conv } : {}), ...(next ? { cursor: next } : {}), limit: 20 });
        items = items.concat(page.items);
        next = page.next_cursor;
        if (items.length > 0 || !next) break;
      }
      if (my !== round.current) return;
      setRes((r) => ({ q: query, scope: conv, items: [...(cursor && r ? r.items : []), ...items], cursor: next, loading: false }));
    } catch (err) {
      if (my !== round.current) return;
      const reason = err instanceof CarelineError && err.code === 'search.query_too_short' ? t('search.tooShort') : errorText(err);
      setRes({ q: query, scope: conv, items: [], cursor: null, loading: false, error: t('search.failed', { reason }) });
    }
  };

  // As they type (after a pause), and when the scope changes.
  useEffect(() => {
    const query = q.trim();
    if (!query || problem(query, t)) {
      round.current++;
      setRes(null);
      return;
    }
    const timer = setTimeout(() => void run(query, scope, null), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [q, scope]); // eslint-disable-line react-hooks/exhaustive-deps

  const hint = q.trim() ? problem(q.trim(), t) : null;
  const clear = () => {
    setQ('');
    round.current++;
    setRes(null);
  };

  return (
    <div className="search">
      <form
        role="search"
        className="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          const query = q.trim();
          if (query && !problem(query, t)) void run(query, scope, null);
        }}
      >
        <label htmlFor={inputId} className="visually-hidden">
          {t('search.label')}
        </label>
        <input
          id={inputId}
          type="search"
          value={q}
          placeholder={t('search.placeholder')}
          onChange={(e) => setQ(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape' && q) {
              e.preventDefault();
              clear();
            }
          }}
          maxLength={200}
          autoComplete="off"
          data-testid="search-input"
        />
        {activeId && (
          <label className="search-scope">
            <input type="checkbox" checked={scopeThis} onChange={(e) => setScopeThis(e.target.checked)} data-testid="search-scope" />
            {t('search.scopeThis')}
          </label>
        )}
      </form>
      {hint && <p className="muted small search-hint">{hint}</p>}
      {res && <ResultList store={store} res={res} onMore={() => res.cursor && void run(res.q, res.scope, res.cursor)} onPick={clear} />}
    </div>
  );
}

function ResultList({ store, res, onMore, onPick }: { store: Store; res: Results; onMore: () => void; onPick: () => void }) {
  const { t } = useI18n();
  const [missing, setMissing] = useState(false);
  return (
    <section className="search-results" aria-label={t('search.results')} data-testid="search-results">
      <p className="muted small" role="status">
        {res.error ?? (res.loading && res.items.length === 0 ? t('search.searching') : res.items.length === 0 ? t('search.none', { q: res.q }) : t('search.count', { count: res.items.length + (res.cursor ? '+' : '') }))}
      </p>
      {missing && (
        <p className="alert small" role="alert">
          {t('search.jumpFailed')}
        </p>
      )}
      <ul>
        {res.items.map((hit) => (
          <li key={hit.message.id}>
            <Hit
              store={store}
              hit={hit}
              onOpen={async () => {
                setMissing(false);
                const ok = await jumpToMessage(store, hit.message.conversation_id, hit.message.seq);
                if (ok) onPick();
                else setMissing(true);
              }}
            />
          </li>
        ))}
      </ul>
      {res.cursor && (
        <button type="button" className="ghost small search-more" onClick={onMore} disabled={res.loading}>
          {t('search.more')}
        </button>
      )}
    </section>
  );
}

function Hit({ store, hit, onOpen }: { store: Store; hit: SearchHit; onOpen: () => void }) {
  const { t, lang } = useI18n();
  const me = useStore(store, (s) => s.me);
  const conv = useStore(store, (s) => s.conversations.find((c) => c.id === hit.message.conversation_id));
  const participants = useStore(store, (s) => s.participants[hit.message.conversation_id]);
  useStore(store, (s) => s.names);
  const m = hit.message;
  const title = conversationTitle(conv, participants ?? [], me?.id, m.conversation_id);
  const sender = m.sender_id === me?.id ? t('chat.you') : store.nameOf(m.sender_id);
  return (
    <a
      href={routePath({ name: 'chat', id: m.conversation_id })}
      className="search-hit"
      data-testid="search-hit"
      data-message={m.id}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        onOpen();
      }}
    >
      <span className="search-hit-top">
        <span className="search-hit-conv">{title}</span>
        <time dateTime={new Date(m.created_at).toISOString()} title={fullTime(m.created_at, lang)}>
          {shortTime(m.created_at, lang, t)}
        </time>
      </span>
      {sender !== title && <span className="search-hit-sender muted small">{sender}</span>}
      <span className="search-hit-text">
        {hit.highlight
          ? highlightParts(hit.highlight).map(([text, hot], i) => (hot ? <mark key={i}>{text}</mark> : <span key={i}>{text}</span>))
          : preview(m, t, store.nameOf, me?.id)}
      </span>
      <span className="visually-hidden">{t('search.open', { name: title })}</span>
    </a>
  );
}
