/**
 * The body of one message, by type: text, image with thumbnail, voice, video, file, link
 * card, the business cards (prescription renewal, referral, diagnosis…), contact cards,
 * forwarded messages, custom messages. System messages (topic start/end, notices, recalls)
 * are drawn by `SystemLine`.
 */
import { useMemo } from 'react';
import { find as findLinks } from 'linkifyjs';
import { MessageTypes, type FilesApi } from '@careline/sdk';
import { useI18n, type T } from '../i18n.ts';
import { cardLabel, duration, fileSize, initials, safeUrl, str } from '../format.ts';
import { FileIcon, LinkIcon, MicIcon } from './Icons.tsx';
import { isStoredFile, StoredFileContent } from '../files/StoredFile.tsx';
import { CallRecord } from '../calls/record.tsx';

type Content = Record<string, unknown>;

export function MessageContent({ type, content, files }: { type: number; content: Content; files?: FilesApi }) {
  const { t, lang } = useI18n();
  if (files && isStoredFile(type, content)) return <StoredFileContent files={files} type={type} content={content} />;
  switch (type) {
    case MessageTypes.TEXT:
    case MessageTypes.FORWARDED_TEXT:
      return (
        <div className="text">
          {type === MessageTypes.FORWARDED_TEXT && <ForwardedLabel t={t} />}
          <p>
            <Linkified text={str(content.text) ?? ''} />
          </p>
        </div>
      );
    case MessageTypes.IMAGE:
    case MessageTypes.FORWARDED_IMAGE:
      return (
        <div>
          {type === MessageTypes.FORWARDED_IMAGE && <ForwardedLabel t={t} />}
          <ImageBody content={content} t={t} />
        </div>
      );
    case MessageTypes.VOICE: {
      const url = safeUrl(content.url);
      return (
        <div className="voice">
          <MicIcon />
          <span>
            {t('msg.voice')} · {duration(content.duration)}
          </span>
          {url && <audio controls preload="none" src={url} aria-label={`${t('msg.voice')} ${duration(content.duration)}`} />}
        </div>
      );
    }
    case MessageTypes.VIDEO: {
      const url = safeUrl(content.url);
      const poster = safeUrl(content.thumbnail);
      const label = `${t('msg.video')} · ${duration(content.duration)}${str(content.fileName) ? ` · ${str(content.fileName)}` : ''}`;
      return (
        <figure className="video">
          {url ? (
            <video controls preload="none" src={url} poster={poster} aria-label={label} width={dim(content.thumbnailWidth, 240)} />
          ) : poster ? (
            <span className="video-poster">
              <img src={poster} alt={label} loading="lazy" width={dim(content.thumbnailWidth, 240)} />
            </span>
          ) : null}
          <figcaption>{label}</figcaption>
        </figure>
      );
    }
    case MessageTypes.FILE: {
      const url = safeUrl(content.url);
      const name = str(content.fileName) ?? t('msg.file');
      const size = fileSize(content.fileSize, lang);
      return (
        <div className="file-card">
          <FileIcon />
          <span className="file-text">
            <span className="file-name">{name}</span>
            <span className="muted small">{[size, str(content.mimeType)].filter(Boolean).join(' · ')}</span>
          </span>
          {url && (
            <a href={url} download={name} target="_blank" rel="noopener noreferrer" className="button small">
              {t('msg.download')}
              <span className="visually-hidden"> {name}</span>
            </a>
          )}
        </div>
      );
    }
    case MessageTypes.PERSONAL_CARD: {
      const name = str(content.name) ?? '';
      return (
        <div className="card contact-card">
          <p className="card-kind">{t('msg.contact')}</p>
          <div className="contact-row">
            <span className={`avatar role-${str(content.role) ?? 'group'}`} aria-hidden="true">
              {initials(name)}
            </span>
            <span>
              <span className="card-title">{name}</span>
              <span className="muted small block">{[str(content.title), str(content.user_id)].filter(Boolean).join(' · ')}</span>
            </span>
          </div>
        </div>
      );
    }
    case MessageTypes.FORWARD: {
      const inner = content.content && typeof content.content === 'object' ? (content.content as Content) : null;
      return (
        <div className="forward">
          <ForwardedLabel t={t} />
          {inner ? <MessageContent type={Number(content.type)} content={inner} /> : null}
        </div>
      );
    }
    case MessageTypes.CALL:
      return <CallRecord content={content} t={t} />;
    case MessageTypes.CUSTOM:
      return (
        <div className="card">
          <p className="card-kind">{t('msg.custom', { kind: str(content.kind) ?? '?' })}</p>
          <DataList data={content.data} />
        </div>
      );
  }
  if (typeof content.title === 'string') return <LinkCard type={type} content={content} t={t} />;
  return <p className="muted">{t('msg.unsupported', { type })}</p>;
}

/**
 * Text with its web addresses as links (linkifyjs finds them). Only addresses written with
 * http:// or https:// become links, opened in a new tab without access to this one; the
 * rest stays text, and React escapes all of it (no HTML from a message is ever parsed).
 */
function Linkified({ text }: { text: string }) {
  return useMemo(() => linkify(text), [text]);
}

function linkify(text: string): React.ReactNode {
  const parts: React.ReactNode[] = [];
  let at = 0;
  for (const link of findLinks(text, 'url')) {
    if (!/^https?:\/\//i.test(link.value)) continue;
    const href = safeUrl(link.href);
    if (!href) continue;
    if (link.start > at) parts.push(text.slice(at, link.start));
    parts.push(
      <a key={link.start} href={href} target="_blank" rel="noopener noreferrer">
        {link.value}
      </a>,
    );
    at = link.end;
  }
  if (at < text.length) parts.push(text.slice(at));
  return <>{parts}</>;
}

function ForwardedLabel({ t }: { t: T }) {
  return <p className="forwarded-label">{t('msg.forwarded')}</p>;
}

function dim(v: unknown, fallback: number): number {
  return typeof v === 'number' && v > 0 ? Math.min(v, 320) : fallback;
}

function ImageBody({ content, t }: { content: Content; t: T }) {
  const full = safeUrl(content.url);
  const thumb = safeUrl(content.thumbnail) ?? full;
  // Keep the thumbnail's aspect ratio, at most 240 px wide.
  const w = typeof content.thumbnailWidth === 'number' ? content.thumbnailWidth : typeof content.width === 'number' ? content.width : 0;
  const h = typeof content.thumbnailHeight === 'number' ? content.thumbnailHeight : typeof content.height === 'number' ? content.height : 0;
  const width = w > 0 ? Math.min(w, 240) : 200;
  const height = w > 0 && h > 0 ? Math.round((h / w) * width) : undefined;
  if (!thumb) return <p className="muted">[{t('msg.image')}]</p>;
  const img = <img src={thumb} alt={t('msg.image')} width={width} height={height} loading="lazy" className="image" />;
  return full ? (
    <a href={full} target="_blank" rel="noopener noreferrer" aria-label={t('msg.openImage')} className="image-link">
      {img}
    </a>
  ) : (
    img
  );
}

/** Link cards, articles, jump messages and the business cards (with their structured data). */
function LinkCard({ type, content, t }: { type: number; content: Content; t: T }) {
  const url = safeUrl(content.url);
  const logo = safeUrl(content.appLogo);
  const kind = cardLabel(type, t) ?? t('msg.card');
  const business = type !== MessageTypes.LINK && type !== MessageTypes.ARTICLE && type !== MessageTypes.JUMP;
  return (
    <div className={`card${business ? ' business-card' : ' link-card'}`} data-card-type={type}>
      <p className="card-kind">
        {logo ? <img src={logo} alt="" width={16} height={16} /> : business ? null : <LinkIcon />}
        {str(content.appName) ?? kind}
      </p>
      <p className="card-title">
        {url ? (
          <a href={url} target="_blank" rel="noopener noreferrer" className="card-link">
            {str(content.title)}
          </a>
        ) : (
          str(content.title)
        )}
      </p>
      {str(content.content) && <p className="card-body">{str(content.content)}</p>}
      <DataList data={content.data} />

    </div>
  );
}

/** A card's structured fields as a definition list (flat values only). */
function DataList({ data }: { data: unknown }) {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return null;
  const rows = Object.entries(data as Record<string, unknown>)
    .filter(([, v]) => v !== null && v !== undefined && typeof v !== 'object')
    .slice(0, 12);
  if (rows.length === 0) return null;
  return (
    <dl className="card-data">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k.replace(/[_-]+/g, ' ')}</dt>
          <dd>{String(v)}</dd>
        </div>
      ))}
    </dl>
  );
}
