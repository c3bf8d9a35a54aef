/**
 * The message box. What is typed is kept per conversation for this tab (a reload, going
 * offline or switching conversations loses nothing); Enter sends, Shift+Enter adds a line,
 * and an IME composition (Chinese input) is never cut short by Enter. `closed` (a patient's
 * consultation has ended) disables it, with a notice saying why; the draft is kept.
 */
import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { MessageTypes } from '@careline/sdk';
import { useI18n } from '../i18n.ts';
import type { Store } from '../store.ts';
import { SendIcon } from './Icons.tsx';
import { Attachments } from '../files/Attachments.tsx';

const draftKey = (id: string) => `careline:draft:${id}`;

function loadDraft(id: string): string {
  try {
    return sessionStorage.getItem(draftKey(id)) ?? '';
  } catch {
    return '';
  }
}

function saveDraft(id: string, text: string): void {
  try {
    if (text) sessionStorage.setItem(draftKey(id), text);
    else sessionStorage.removeItem(draftKey(id));
  } catch {
    // Not kept across reloads; still kept in memory.
  }
}

export function Composer({ store, conversationId, closed = false }: { store: Store; conversationId: string; closed?: boolean }) {
  const { t } = useI18n();
  const [text, setText] = useState(() => loadDraft(conversationId));
  const ref = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  const hintId = useId();
  const closedId = useId();

  useEffect(() => {
    saveDraft(conversationId, text);
  }, [conversationId, text]);

  useEffect(() => () => store.stopTyping(conversationId), [store, conversationId]);

  // Grow with the text, up to a few lines.
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, 160)}px`;
  }, [text]);

  const send = (e?: FormEvent) => {
    e?.preventDefault();
    const value = text.trim();
    if (!value || closed) return;
    store.send(conversationId, MessageTypes.TEXT, { text: value });
    setText('');
    ref.current?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  };

  return (
    <form className="composer" onSubmit={send}>
      {closed && (
        <p className="composer-closed" id={closedId} data-testid="composer-closed">
          {t('composer.closed')}
        </p>
      )}
      <label htmlFor={id} className="visually-hidden">
        {t('composer.label')}
      </label>
      <Attachments store={store} conversationId={conversationId} disabled={closed} />
      <textarea
        id={id}
        ref={ref}
        value={text}
        rows={1}
        placeholder={t('composer.placeholder')}
        aria-describedby={closed ? `${closedId} ${hintId}` : hintId}
        disabled={closed}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value) store.typing(conversationId);
          else store.stopTyping(conversationId);
        }}
        onBlur={() => store.stopTyping(conversationId)}
        onKeyDown={onKeyDown}
        maxLength={16000}
        data-testid="composer"
      />
      <span id={hintId} className="visually-hidden">
        {t('composer.hint')}
      </span>
      <button type="submit" className="primary send" disabled={closed || !text.trim()} data-testid="send">
        <SendIcon />
        <span className="send-label">{t('composer.send')}</span>
      </button>
    </form>
  );
}
