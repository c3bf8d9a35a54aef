/**
 * The composer's attachments: the attach button (a file picker), images pasted into the
 * message box, files dropped anywhere on the chat, the voice-note recorder, and the list of
 * uploads with their progress, a cancel button, and the reason when one is refused.
 *
 * Rendered inside the composer's form; it finds the form (for paste) and the chat section
 * (for drag and drop) from where it is, so the composer only places it.
 */
import { useEffect, useId, useLayoutEffect, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import { useI18n } from '../i18n.ts';
import { fileSize } from '../format.ts';
import type { Store } from '../store.ts';
import { cancelUpload, extOf, sendFile, stampName, useUploads, type Upload } from './uploads.ts';
import { uploadError } from './errors.ts';
import { VoiceRecorder } from './VoiceRecorder.tsx';
import './files.css';

const ACCEPT = 'image/*,application/pdf,audio/*,video/*';

function nameOf(file: File, fallbackPrefix: string): string {
  // A pasted image is called "image.png" by the browser; a dropped file keeps its own name.
  const n = file.name && !file.name.startsWith('.') ? file.name : '';
  return n && n !== 'image.png' ? n : stampName(fallbackPrefix, extOf(file.type || 'application/octet-stream'));
}

export function Attachments({ store, conversationId, disabled = false }: { store: Store; conversationId: string; disabled?: boolean }) {
  const { t } = useI18n();
  const inputRef = useRef<HTMLInputElement>(null);
  const anchorRef = useRef<HTMLDivElement>(null);
  const [dragging, setDragging] = useState(false);
  const [chat, setChat] = useState<HTMLElement | null>(null);
  const hintId = useId();

  const sendAll = (files: File[], prefix: string) => {
    for (const f of files) void sendFile(store, conversationId, f, { name: nameOf(f, prefix) });
  };
  // The latest `sendAll` for the listeners below, which are added once per element.
  const send = useRef(sendAll);
  send.current = sendAll;

  useLayoutEffect(() => {
    setChat(anchorRef.current?.closest<HTMLElement>('section.chat') ?? null);
  }, []);

  // Paste into the message box: images (and other files) go out as attachments, text as text.
  useEffect(() => {
    const form = anchorRef.current?.closest('form');
    if (!form || disabled) return;
    const onPaste = (e: ClipboardEvent) => {
      const files = [...(e.clipboardData?.files ?? [])];
      if (files.length === 0) return;
      e.preventDefault();
      send.current(files, 'image');
    };
    form.addEventListener('paste', onPaste);
    return () => form.removeEventListener('paste', onPaste);
  }, [disabled]);

  // Drag and drop onto the chat.
  useEffect(() => {
    const section = chat;
    if (!section || disabled) return;
    const hasFiles = (e: DragEvent) => [...(e.dataTransfer?.types ?? [])].includes('Files');
    const over = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
      setDragging(true);
    };
    const leave = (e: DragEvent) => {
      const to = e.relatedTarget as Node | null;
      if (!to || !section.contains(to)) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      setDragging(false);
      send.current([...(e.dataTransfer?.files ?? [])], 'file');
    };
    section.addEventListener('dragenter', over);
    section.addEventListener('dragover', over);
    section.addEventListener('dragleave', leave);
    section.addEventListener('drop', drop);
    return () => {
      section.removeEventListener('dragenter', over);
      section.removeEventListener('dragover', over);
      section.removeEventListener('dragleave', leave);
      section.removeEventListener('drop', drop);
      setDragging(false);
    };
  }, [chat, disabled]);

  return (
    <div className="attachments" ref={anchorRef}>
      <UploadList store={store} conversationId={conversationId} />
      <input
        ref={inputRef}
        type="file"
        multiple
        accept={ACCEPT}
        hidden
        tabIndex={-1}
        data-testid="attach-input"
        onChange={(e) => {
          const files = [...(e.target.files ?? [])];
          e.target.value = '';
          sendAll(files, 'file');
        }}
      />
      <button
        type="button"
        className="icon-button attach-button"
        disabled={disabled}
        title={t('files.attach')}
        aria-describedby={hintId}
        onClick={() => inputRef.current?.click()}
        data-testid="attach-button"
      >
        <PaperclipIcon />
        <span className="visually-hidden">{t('files.attach')}</span>
      </button>
      <span id={hintId} className="visually-hidden">
        {t('files.attachHint')}
      </span>
      <VoiceRecorder store={store} conversationId={conversationId} disabled={disabled} />
      {dragging && chat &&
        createPortal(
          <div className="drop-overlay" data-testid="drop-overlay" aria-hidden="true">
            <p>{t('files.drop')}</p>
          </div>,
          chat,
        )}
    </div>
  );
}

function UploadList({ store, conversationId }: { store: Store; conversationId: string }) {
  const uploads = useUploads(store, conversationId);
  const { t } = useI18n();
  if (uploads.length === 0) return null;
  return (
    <ul className="uploads" aria-label={t('files.uploads')} data-testid="uploads">
      {uploads.map((u) => (
        <UploadRow key={u.id} store={store} u={u} />
      ))}
    </ul>
  );
}

function UploadRow({ store, u }: { store: Store; u: Upload }) {
  const { t, lang } = useI18n();
  const percent = u.size > 0 ? Math.min(100, Math.round((u.loaded / u.size) * 100)) : 0;
  return (
    <li className={`upload ${u.state}`} data-testid="upload" data-state={u.state} data-name={u.name}>
      {u.preview ? <img src={u.preview} alt="" width={40} height={40} className="upload-preview" /> : <span className="upload-preview file" aria-hidden="true" />}
      <span className="upload-main">
        <span className="upload-name">
          {u.name} <span className="muted small">{fileSize(u.size, lang)}</span>
        </span>
        {u.state === 'failed' && u.error ? (
          <span className="upload-error" role="alert" data-testid="upload-error" data-code={u.error.code}>
            {t('files.failed', { name: u.name, reason: uploadError(u.error, t, lang) })}
          </span>
        ) : (
          <>
            <progress max={100} value={percent} aria-label={u.state === 'sending' ? t('files.sending', { name: u.name }) : t('files.uploading', { name: u.name, percent })} />
            <span className="muted small" aria-hidden="true">
              {percent}%
            </span>
          </>
        )}
      </span>
      {u.state === 'failed' ? (
        <button type="button" className="ghost small" onClick={() => cancelUpload(store, u.id)}>
          {t('files.dismiss')}
        </button>
      ) : (
        <button type="button" className="ghost small" onClick={() => cancelUpload(store, u.id)} aria-label={t('files.cancelUpload', { name: u.name })} data-testid="upload-cancel">
          {t('files.cancel')}
        </button>
      )}
    </li>
  );
}

export const PaperclipIcon = () => (
  <svg width={20} height={20} viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" focusable="false">
    <path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48" />
  </svg>
);
