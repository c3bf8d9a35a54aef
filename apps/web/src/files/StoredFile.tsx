/**
 * Messages whose file Careline stores (a `storageId` in the content, seed 003): the picture's
 * thumbnail (opening a full-size viewer), the voice note with its player and duration, the
 * video, and the document's card with its download. Every address is a short-lived signed
 * link (`client.files.url`), so `<img>` and `<audio>` load without the token.
 */
import { useEffect, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import { MessageTypes, type FilesApi } from '@careline/sdk';
import { useI18n } from '../i18n.ts';
import { duration, fileSize, safeUrl, str } from '../format.ts';
import { FileIcon } from '../components/Icons.tsx';
import { signedLink, useSignedLink } from './links.ts';
import './files.css';

type Content = Record<string, unknown>;

const STORED_TYPES: ReadonlySet<number> = new Set([MessageTypes.IMAGE, MessageTypes.VOICE, MessageTypes.VIDEO, MessageTypes.FILE]);

/** A storage id made by Careline (a ULID and 16 hex digits); any other is a host system's, passed through as before. */
const STORAGE_ID = /^[0-9A-HJKMNP-TV-Z]{26}[0-9a-f]{16}$/;

/** Whether this message's file is one Careline stores (and not a host system's, drawn from its own `url`). */
export function isStoredFile(type: number, content: Content): boolean {
  return STORED_TYPES.has(type) && typeof content.storageId === 'string' && STORAGE_ID.test(content.storageId) && !safeUrl(content.url);
}

export function StoredFileContent({ files, type, content }: { files: FilesApi; type: number; content: Content }) {
  const id = content.storageId as string;
  switch (type) {
    case MessageTypes.IMAGE:
      return <StoredImage files={files} id={id} content={content} />;
    case MessageTypes.VOICE:
      return <StoredVoice files={files} id={id} content={content} />;
    case MessageTypes.VIDEO:
      return <StoredVideo files={files} id={id} content={content} />;
    default:
      return <StoredDocument files={files} id={id} content={content} />;
  }
}

function Unavailable() {
  const { t } = useI18n();
  return (
    <p className="muted file-gone" data-testid="file-unavailable">
      {t('files.unavailable')}
    </p>
  );
}

function StoredImage({ files, id, content }: { files: FilesApi; id: string; content: Content }) {
  const { t } = useI18n();
  const hasThumb = typeof content.thumbnail === 'string';
  const thumb = useSignedLink(files, id, hasThumb ? 'thumbnail' : 'original');
  const [open, setOpen] = useState(false);
  const opener = useRef<HTMLButtonElement>(null);
  const w = typeof content.thumbnailWidth === 'number' && content.thumbnailWidth > 0 ? content.thumbnailWidth : typeof content.width === 'number' ? content.width : 0;
  const h = typeof content.thumbnailHeight === 'number' && content.thumbnailHeight > 0 ? content.thumbnailHeight : typeof content.height === 'number' ? content.height : 0;
  const width = w > 0 ? Math.min(w, 240) : 200;
  const height = w > 0 && h > 0 ? Math.round((h / w) * width) : 150;
  if (thumb.error) return <Unavailable />;
  const name = str(content.fileName) ?? t('files.image');
  return (
    <>
      <button
        type="button"
        ref={opener}
        className="image-button"
        onClick={() => setOpen(true)}
        aria-label={t('files.openImage')}
        aria-haspopup="dialog"
        data-testid="image-thumb"
        data-storage-id={id}
      >
        {thumb.url ? (
          <img src={thumb.url} alt="" width={width} height={height} className="image" onError={thumb.refresh} />
        ) : (
          <span className="image image-loading" style={{ width, height }} />
        )}
      </button>
      {open && (
        <ImageViewer
          files={files}
          id={id}
          name={name}
          content={content}
          onClose={() => {
            setOpen(false);
            opener.current?.focus();
          }}
        />
      )}
    </>
  );
}

/** The picture full size in a modal dialog: Escape, the close button or a click outside closes it. */
function ImageViewer({ files, id, name, content, onClose }: { files: FilesApi; id: string; name: string; content: Content; onClose: () => void }) {
  const { t } = useI18n();
  const ref = useRef<HTMLDialogElement>(null);
  const full = useSignedLink(files, id, 'original');
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  // Closed before the parent moves the focus back: while modal, the rest of the page is inert.
  const close = () => {
    ref.current?.close();
    onClose();
  };
  const dims = typeof content.width === 'number' && typeof content.height === 'number' ? `${content.width} × ${content.height}` : '';
  return createPortal(
    <dialog
      ref={ref}
      className="image-viewer"
      aria-labelledby="image-viewer-title"
      data-testid="image-viewer"
      onCancel={(e) => {
        e.preventDefault();
        close();
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) close();
      }}
    >
      <header className="viewer-head">
        <h2 id="image-viewer-title">
          {t('files.viewer')}
          <span className="muted small"> {dims}</span>
        </h2>
        {full.url && (
          <a className="button small" href={full.url} target="_blank" rel="noopener noreferrer">
            {t('files.openOriginal')}
          </a>
        )}
        <button type="button" className="small" onClick={close} autoFocus data-testid="viewer-close">
          {t('files.close')}
        </button>
      </header>
      <div className="viewer-body">
        {full.error ? <Unavailable /> : full.url ? <img src={full.url} alt={name} data-testid="viewer-image" onError={full.refresh} /> : <p className="muted">{t('files.loading')}</p>}
      </div>
    </dialog>,
    document.body,
  );
}

function StoredVoice({ files, id, content }: { files: FilesApi; id: string; content: Content }) {
  const { t } = useI18n();
  const link = useSignedLink(files, id, 'original');
  const audio = useRef<HTMLAudioElement>(null);
  const [playing, setPlaying] = useState(false);
  const [at, setAt] = useState(0);
  const total = typeof content.duration === 'number' && content.duration > 0 ? content.duration : 0;
  const retried = useRef(false);
  if (link.error) return <Unavailable />;
  const label = t('files.voiceDuration', { duration: duration(total) });
  const toggle = () => {
    const a = audio.current;
    if (!a) return;
    if (a.paused) void a.play().catch(() => undefined);
    else a.pause();
  };
  return (
    <div className="voice-note" data-testid="voice-note" data-state={playing ? 'playing' : 'paused'}>
      <button type="button" className="icon-button play" onClick={toggle} disabled={!link.url} aria-pressed={playing} aria-label={label} data-testid="voice-play">
        {playing ? (
          <svg width={20} height={20} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <rect x="6" y="5" width="4" height="14" fill="currentColor" />
            <rect x="14" y="5" width="4" height="14" fill="currentColor" />
          </svg>
        ) : (
          <svg width={20} height={20} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
            <path d="M7 4l13 8-13 8z" fill="currentColor" />
          </svg>
        )}
      </button>
      <span className="voice-bar" aria-hidden="true">
        <span style={{ width: `${total > 0 ? Math.min(100, (at / total) * 100) : 0}%` }} />
      </span>
      <span className="voice-time" data-testid="voice-duration">
        {playing || at > 0 ? `${duration(at)} / ${duration(total)}` : duration(total)}
      </span>
      {link.url && (
        <audio
          ref={audio}
          src={link.url}
          preload="none"
          onPlay={() => setPlaying(true)}
          onPause={() => setPlaying(false)}
          onEnded={() => {
            setPlaying(false);
            setAt(0);
          }}
          onTimeUpdate={(e) => setAt(e.currentTarget.currentTime)}
          onError={() => {
            // A link that expired meanwhile: once, a new one.
            if (retried.current) return;
            retried.current = true;
            link.refresh();
          }}
        />
      )}
    </div>
  );
}

function StoredVideo({ files, id, content }: { files: FilesApi; id: string; content: Content }) {
  const { t } = useI18n();
  const link = useSignedLink(files, id, 'original');
  const poster = useSignedLink(files, id, 'thumbnail', typeof content.thumbnail === 'string');
  if (link.error) return <Unavailable />;
  // A length of 0 is "not known" (a browser's recording says none): left out rather than shown as 0:00.
  const secs = typeof content.duration === 'number' && content.duration > 0 ? duration(content.duration) : null;
  const label = [t('files.video'), secs, str(content.fileName)].filter(Boolean).join(' · ');
  return (
    <figure className="video">
      {link.url && <video controls preload="metadata" src={link.url} poster={poster.url} aria-label={label} width={240} />}
      <figcaption>{label}</figcaption>
    </figure>
  );
}

function StoredDocument({ files, id, content }: { files: FilesApi; id: string; content: Content }) {
  const { t, lang } = useI18n();
  const link = useSignedLink(files, id, 'original');
  const name = str(content.fileName) ?? t('msg.file');
  const size = fileSize(content.fileSize, lang);
  if (link.error) return <Unavailable />;
  return (
    <div className="file-card" data-testid="file-card">
      <FileIcon />
      <span className="file-text">
        <span className="file-name">{name}</span>
        <span className="muted small">{[size, str(content.mimeType)].filter(Boolean).join(' · ')}</span>
      </span>
      <a
        href={link.url ?? '#'}
        download={name}
        className="button small"
        aria-disabled={link.url ? undefined : 'true'}
        data-testid="file-download"
        onClick={(e) => {
          // A link past its time (the page was open a while): make a new one, then follow it.
          const a = e.currentTarget;
          if (a.dataset.fresh === '1') {
            delete a.dataset.fresh;
            return;
          }
          e.preventDefault();
          void signedLink(files, id, 'original').then((url) => {
            a.href = url;
            a.dataset.fresh = '1';
            a.click();
          }, link.refresh);
        }}
      >
        {t('files.download')}
        <span className="visually-hidden"> {name}</span>
      </a>
    </div>
  );
}
