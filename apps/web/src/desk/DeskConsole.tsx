/**
 * The front desk's staff console (`/desk`): the queue with waiting times, position and who
 * acknowledged each chat; the staff member's own chats; the visitors on the site with the page
 * they are on; and the open chat, where the staff member answers, hands over or closes it.
 *
 * Lists refresh on every desk event of the web client's connection (the SDK's `desk` event:
 * a visit, a request, a claim…), after every action, and every few seconds; the open chat also
 * when the SDK delivers one of its messages (the staff member is a member of the chat's
 * conversation once they claimed it). All calls: `DeskApi` (docs/desk.md).
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { CarelineError } from '@careline/sdk';
import { useI18n, type MsgKey } from '../i18n.ts';
import { useStore, type Store } from '../store.ts';
import './desk.css';
import { DeskApi, OUTCOMES, type DeskChat, type OnlineStaff, type OnlineVisitor, type QueueItem, type SeedMsg } from './api.ts';

const REFRESH_MS = 5000;

interface DeskData {
  queue: QueueItem[];
  visitors: OnlineVisitor[];
  staff: OnlineStaff[];
  mine: DeskChat[];
}

const short = (id: string) => id.slice(0, 6);

function waited(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

export function DeskConsole({ store }: { store: Store }) {
  const { t } = useI18n();
  const me = useStore(store, (s) => s.me);
  const api = useMemo(() => new DeskApi(store.client), [store]);
  const [data, setData] = useState<DeskData | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [fetchedAt, setFetchedAt] = useState(() => Date.now());
  const now = useNow(1000);
  const busy = useRef(false);

  const refresh = useCallback(async () => {
    if (busy.current) return;
    busy.current = true;
    try {
      const init = await api.init();
      const [queue, visitors, staff] = await Promise.all([api.queue(), api.visitors(), api.staff()]);
      setData({ queue, visitors, staff, mine: init.state.chats.filter((c) => c.state !== 'closed') });
      setFetchedAt(Date.now());
      setFailure(null);
    } catch (err) {
      setFailure(reason(err));
    } finally {
      busy.current = false;
    }
  }, [api]);

  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), REFRESH_MS);
    // Desk events (a visit, a request, a claim…) refresh at once, a burst of them once.
    let soon: ReturnType<typeof setTimeout> | undefined;
    const off = store.client.on('desk', () => {
      if (soon === undefined) soon = setTimeout(() => {
        soon = undefined;
        void refresh();
      }, 150);
    });
    return () => {
      clearInterval(timer);
      clearTimeout(soon);
      off();
    };
  }, [refresh, store]);

  const names = useMemo(() => {
    const m = new Map((data?.staff ?? []).map((s) => [s.uid, s.name || short(s.uid)]));
    if (me) m.set(me.id, me.name);
    return m;
  }, [data, me]);

  const act = async (fn: () => Promise<void>, after?: () => void) => {
    setNotice(null);
    try {
      await fn();
      after?.();
    } catch (err) {
      if (err instanceof CarelineError && (err.code as string) === 'desk.already_claimed') setNotice(t('desk.lostClaim'));
      else setNotice(t('desk.failed', { reason: reason(err) }));
    }
    void refresh();
  };

  if (!data) {
    return (
      <section className="panel desk" data-testid="desk">
        <h1>{t('desk.title')}</h1>
        <p className="placeholder" role="status">
          {failure ? t('desk.unavailable', { reason: failure }) : t('desk.loading')}
        </p>
      </section>
    );
  }

  const queueSorted = [...data.queue].sort((a, b) => a.position - b.position);
  return (
    <section className="desk" aria-labelledby="desk-title" data-testid="desk">
      <header className="desk-head">
        <h1 id="desk-title">{t('desk.title')}</h1>
        <p className="muted" data-testid="desk-summary">
          {t('desk.summary', { queue: data.queue.length, visitors: data.visitors.length, staff: data.staff.length })}
        </p>
      </header>
      <div className="desk-alert" role="alert">
        {notice && (
          <p className="banner error" data-testid="desk-notice">
            <span>{notice}</span>
            <button type="button" className="ghost small" onClick={() => setNotice(null)}>
              {t('dismiss')}
            </button>
          </p>
        )}
      </div>
      <div className="desk-body">
        <div className="desk-lists">
          <section aria-labelledby="desk-queue-title" data-testid="desk-queue">
            <h2 id="desk-queue-title">
              {t('desk.queue')} <span className="count">{data.queue.length}</span>
            </h2>
            {queueSorted.length === 0 ? (
              <p className="placeholder">{t('desk.queueEmpty')}</p>
            ) : (
              <ul className="desk-items">
                {queueSorted.map((q) => {
                  const ackedByMe = q.acked_by.some((a) => a.uid === me?.id);
                  const waitingMs = q.waiting_ms + (now - fetchedAt);
                  return (
                    <li key={q.chat_id} className="desk-item" data-testid="desk-queue-item" data-chat={q.chat_id} data-visitor={q.creator}>
                      <div className="desk-item-main">
                        <span className="desk-item-name">{t('desk.visitor', { id: short(q.creator) })}</span>
                        <span className="muted small">
                          {t('desk.position', { n: q.position })} · <span data-testid="desk-waiting">{t('desk.waiting', { time: waited(waitingMs) })}</span>
                          {q.team_id ? ` · ${q.team_id}` : ''}
                        </span>
                        {q.escalated_at ? <span className="desk-tag warn">{t('desk.escalated')}</span> : null}
                        {q.acked_by.length > 0 && (
                          <span className="small" data-testid="desk-acked">
                            {t('desk.ackedBy', { names: q.acked_by.map((a) => names.get(a.uid) ?? short(a.uid)).join(', ') })}
                          </span>
                        )}
                      </div>
                      <div className="desk-item-actions">
                        <button type="button" className="small" disabled={ackedByMe} aria-label={t('desk.ackChat', { id: short(q.creator) })} onClick={() => void act(() => api.ack(q.chat_id))}>
                          {ackedByMe ? t('desk.acked') : t('desk.ack')}
                        </button>
                        <button type="button" className="primary small" aria-label={t('desk.claimChat', { id: short(q.creator) })} data-testid="desk-claim" onClick={() => void act(() => api.claim(q.chat_id), () => setSelected(q.chat_id))}>
                          {t('desk.claim')}
                        </button>
                      </div>
                    </li>
                  );
                })}
              </ul>
            )}
          </section>

          <section aria-labelledby="desk-mine-title" data-testid="desk-mine">
            <h2 id="desk-mine-title">
              {t('desk.mine')} <span className="count">{data.mine.length}</span>
            </h2>
            {data.mine.length === 0 ? (
              <p className="placeholder">{t('desk.mineEmpty')}</p>
            ) : (
              <ul className="desk-items">
                {data.mine.map((c) => (
                  <li key={c.id} className="desk-item">
                    <button type="button" className={`desk-open${selected === c.id ? ' active' : ''}`} aria-current={selected === c.id ? 'true' : undefined} onClick={() => setSelected(c.id)} data-testid="desk-mine-item">
                      <span className="desk-item-name">{t('desk.visitor', { id: short(c.creator) })}</span>
                      <span className="muted small">{lastText(c.msgs)}</span>
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </section>

          <section aria-labelledby="desk-visitors-title" data-testid="desk-visitors">
            <h2 id="desk-visitors-title">
              {t('desk.visitors')} <span className="count">{data.visitors.length}</span>
            </h2>
            {data.visitors.length === 0 ? (
              <p className="placeholder">{t('desk.visitorsEmpty')}</p>
            ) : (
              <ul className="desk-items">
                {data.visitors.map((v) => (
                  <li key={v.uid} className="desk-item desk-visitor" data-testid="desk-visitor" data-visitor={v.uid}>
                    <span className="desk-item-name">{t('desk.visitor', { id: short(v.uid) })}</span>
                    <span className="small" data-testid="desk-visitor-page">
                      {t('desk.onPage', { page: v.title || v.url })}
                    </span>
                    <span className="muted small desk-url">{v.url}</span>
                    {v.referer && <span className="muted small desk-url">{t('desk.from', { referer: v.referer })}</span>}
                    {v.chat_id && v.chat_state && v.chat_state !== 'closed' && (
                      <span className="desk-tag">{t('desk.inChat', { state: stateLabel(v.chat_state, t) })}</span>
                    )}
                  </li>
                ))}
              </ul>
            )}
          </section>
        </div>

        {selected ? (
          <ChatPanel key={selected} store={store} api={api} chatId={selected} staff={data.staff} names={names} onChanged={() => void refresh()} onClosed={() => setSelected(null)} onError={(e) => setNotice(t('desk.failed', { reason: e }))} />
        ) : (
          <section className="desk-chat chat-empty" aria-label={t('desk.chatLog')}>
            <p className="placeholder">{t('desk.chooseChat')}</p>
          </section>
        )}
      </div>
    </section>
  );
}

function lastText(msgs: SeedMsg[]): string {
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i]!.type === 'text') return msgs[i]!.text ?? '';
  return '';
}

function stateLabel(state: string, t: (k: MsgKey) => string): string {
  return state === 'request' || state === 'active' || state === 'closed' ? t(`desk.state.${state}`) : state;
}

function ChatPanel({ store, api, chatId, staff, names, onChanged, onClosed, onError }: {
  store: Store;
  api: DeskApi;
  chatId: string;
  staff: OnlineStaff[];
  names: Map<string, string>;
  onChanged: () => void;
  onClosed: () => void;
  onError: (reason: string) => void;
}) {
  const { t } = useI18n();
  const me = useStore(store, (s) => s.me);
  const [chat, setChat] = useState<DeskChat | null>(null);
  const [text, setText] = useState('');
  const [sending, setSending] = useState(false);
  const [form, setForm] = useState<'none' | 'transfer' | 'close'>('none');
  const logRef = useRef<HTMLDivElement>(null);

  const load = useCallback(async () => {
    try {
      setChat(await api.chat(chatId));
    } catch (err) {
      onError(reason(err));
    }
  }, [api, chatId]);

  useEffect(() => {
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    const off = store.client.on('message', (m) => {
      if (m.conversation_id === chatId) void load();
    });
    const offDesk = store.client.on('desk', (e) => {
      const chat = (e['chat'] as { id?: string } | undefined)?.id;
      if (chat === chatId) void load();
    });
    return () => {
      clearInterval(timer);
      off();
      offDesk();
    };
  }, [load, store, chatId]);

  const count = chat?.msgs.length ?? 0;
  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [count]);

  if (!chat) {
    return (
      <section className="desk-chat" aria-label={t('desk.chatLog')}>
        <p className="placeholder" role="status">
          {t('desk.loading')}
        </p>
      </section>
    );
  }
  const closed = chat.state === 'closed';
  const mine = chat.staff_id === me?.id;

  const send = async (e: React.FormEvent) => {
    e.preventDefault();
    const value = text.trim();
    if (!value || !me) return;
    setSending(true);
    try {
      await api.say(chatId, value, me.name);
      setText('');
      await load();
    } catch (err) {
      onError(reason(err));
    } finally {
      setSending(false);
    }
  };

  return (
    <section className="desk-chat" aria-labelledby="desk-chat-title" data-testid="desk-chat" data-chat={chatId} data-state={chat.state}>
      <header className="desk-chat-head">
        <h2 id="desk-chat-title">{t('desk.chatTitle', { id: short(chat.creator) })}</h2>
        <span className="desk-tag">{stateLabel(chat.state, t)}</span>
        {!closed && mine && (
          <div className="desk-chat-actions">
            <button type="button" className="small" aria-expanded={form === 'transfer'} onClick={() => setForm(form === 'transfer' ? 'none' : 'transfer')} data-testid="desk-transfer">
              {t('desk.transfer')}
            </button>
            <button type="button" className="small" aria-expanded={form === 'close'} onClick={() => setForm(form === 'close' ? 'none' : 'close')} data-testid="desk-close">
              {t('desk.close')}
            </button>
          </div>
        )}
      </header>
      {form === 'transfer' && (
        <TransferForm staff={staff.filter((s) => s.uid !== me?.id)} onCancel={() => setForm('none')} onSubmit={async (to) => {
          try {
            await api.transfer(chatId, to);
            setForm('none');
            onChanged();
            onClosed();
          } catch (err) {
            onError(reason(err));
          }
        }} />
      )}
      {form === 'close' && (
        <CloseForm onCancel={() => setForm('none')} onSubmit={async (outcome) => {
          try {
            await api.close(chatId, outcome);
            setForm('none');
            await load();
            onChanged();
          } catch (err) {
            onError(reason(err));
          }
        }} />
      )}
      {chat.note && <p className="desk-note small">{chat.note}</p>}
      <div className="desk-log" role="log" aria-live="polite" aria-label={t('desk.chatLog')} tabIndex={0} ref={logRef} data-testid="desk-log">
        <ol>
          {chat.msgs.map((m, i) => (
            <DeskMessage key={m.mid ?? i} m={m} me={me?.id ?? ''} names={names} />
          ))}
        </ol>
      </div>
      {closed ? (
        <p className="placeholder">{t('desk.closedChat')}</p>
      ) : (
        <form className="desk-composer" onSubmit={(e) => void send(e)}>
          <label htmlFor="desk-reply" className="visually-hidden">
            {t('desk.reply')}
          </label>
          <textarea id="desk-reply" rows={2} value={text} maxLength={16000} onChange={(e) => setText(e.target.value)} placeholder={t('desk.reply')} data-testid="desk-reply" onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              e.currentTarget.form?.requestSubmit();
            }
          }} />
          <button type="submit" className="primary" disabled={sending || !text.trim()} data-testid="desk-send">
            {t('desk.send')}
          </button>
        </form>
      )}
    </section>
  );
}

function DeskMessage({ m, me, names }: { m: SeedMsg; me: string; names: Map<string, string> }) {
  const { t } = useI18n();
  const from = m.from?.id ?? '';
  const who = from === me ? t('desk.you') : m.from?.role === 'user' ? t('desk.visitorName') : (m.from?.name || names.get(from) || t('desk.staffName'));
  if (m.type === 'join_chat') return <li className="desk-msg note">{t('desk.joined', { name: m.from?.name || names.get(from) || t('desk.staffName') })}</li>;
  if (m.type === 'close_chat') return <li className="desk-msg note">{t('desk.closedNote', { outcome: String(m.event?.outcome ?? '') })}</li>;
  if (m.type === 'transfer_chat') return <li className="desk-msg note">{t('desk.transferredNote')}</li>;
  if (m.type !== 'text') return null;
  return (
    <li className={`desk-msg ${from === me ? 'mine' : m.from?.role === 'user' ? 'visitor' : 'staff'}`} data-testid="desk-msg">
      <span className="desk-msg-who">{who}</span>
      <span className="desk-msg-text">{m.text}</span>
    </li>
  );
}

function TransferForm({ staff, onSubmit, onCancel }: { staff: OnlineStaff[]; onSubmit: (to: { to_staff?: string; to_team?: string; note?: string }) => Promise<void>; onCancel: () => void }) {
  const { t } = useI18n();
  const [toStaff, setToStaff] = useState('');
  const [toTeam, setToTeam] = useState('');
  const [note, setNote] = useState('');
  return (
    <form className="desk-form" aria-labelledby="desk-transfer-title" data-testid="desk-transfer-form" onSubmit={(e) => {
      e.preventDefault();
      void onSubmit({ ...(toStaff ? { to_staff: toStaff } : { to_team: toTeam.trim() }), ...(note.trim() ? { note: note.trim() } : {}) });
    }}>
      <h3 id="desk-transfer-title">{t('desk.transferTitle')}</h3>
      <label>
        {t('desk.toStaff')}
        <select value={toStaff} onChange={(e) => setToStaff(e.target.value)} data-testid="desk-transfer-staff">
          <option value="">{t('desk.noColleague')}</option>
          {staff.map((s) => (
            <option key={s.uid} value={s.uid}>
              {s.name || s.uid}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t('desk.toTeam')}
        <input value={toTeam} onChange={(e) => setToTeam(e.target.value)} disabled={toStaff !== ''} />
      </label>
      <label>
        {t('desk.note')}
        <textarea value={note} maxLength={1000} rows={2} onChange={(e) => setNote(e.target.value)} />
      </label>
      <div className="desk-form-actions">
        <button type="submit" className="primary small" disabled={!toStaff && !toTeam.trim()}>
          {t('desk.transferSubmit')}
        </button>
        <button type="button" className="small" onClick={onCancel}>
          {t('desk.cancel')}
        </button>
      </div>
    </form>
  );
}

function CloseForm({ onSubmit, onCancel }: { onSubmit: (outcome: string) => Promise<void>; onCancel: () => void }) {
  const { t } = useI18n();
  const [outcome, setOutcome] = useState<string>('resolved');
  return (
    <form className="desk-form" aria-labelledby="desk-close-title" data-testid="desk-close-form" onSubmit={(e) => {
      e.preventDefault();
      void onSubmit(outcome);
    }}>
      <h3 id="desk-close-title">{t('desk.closeTitle')}</h3>
      <label>
        {t('desk.outcome')}
        <select value={outcome} onChange={(e) => setOutcome(e.target.value)} data-testid="desk-outcome">
          {OUTCOMES.map((o) => (
            <option key={o} value={o}>
              {t(`desk.outcome.${o}`)}
            </option>
          ))}
        </select>
      </label>
      <div className="desk-form-actions">
        <button type="submit" className="primary small" data-testid="desk-close-submit">
          {t('desk.closeSubmit')}
        </button>
        <button type="button" className="small" onClick={onCancel}>
          {t('desk.cancel')}
        </button>
      </div>
    </form>
  );
}
