/** What Careline accepts, by the type sniffed from the bytes, and the rules for names. */
import type { FileKind } from '../domain/ports.ts';
import { fail } from '../domain/errors.ts';

/** Accepted MIME types (as `file-type` names them) and the kind each counts as. */
export const ACCEPTED: Readonly<Record<string, FileKind>> = {
  'image/jpeg': 'image', 'image/png': 'image', 'image/gif': 'image', 'image/webp': 'image', 'image/avif': 'image',
  'audio/mpeg': 'audio', 'audio/ogg': 'audio', 'audio/opus': 'audio', 'audio/wav': 'audio', 'audio/x-wav': 'audio', 'audio/webm': 'audio',
  'audio/aac': 'audio', 'audio/x-m4a': 'audio', 'audio/mp4': 'audio', 'audio/amr': 'audio', 'audio/flac': 'audio', 'audio/x-flac': 'audio',
  'video/mp4': 'video', 'video/webm': 'video', 'video/quicktime': 'video', 'video/3gpp': 'video', 'video/x-matroska': 'video',
  'application/pdf': 'file',
};

/** Images whose metadata (EXIF, GPS, XMP) sharp rewrites away; the others are served as sniffed. */
export const STRIPPED_IMAGES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/avif']);

const ALIASES: Readonly<Record<string, string>> = {
  'image/jpg': 'image/jpeg', 'image/pjpeg': 'image/jpeg', 'audio/mp3': 'audio/mpeg', 'audio/x-mpeg': 'audio/mpeg', 'audio/wave': 'audio/wav',
  'audio/x-wav': 'audio/wav', 'audio/m4a': 'audio/x-m4a', 'audio/x-flac': 'audio/flac', 'audio/3gpp': 'video/3gpp',
};

const norm = (t: string) => {
  const base = t.split(';')[0]!.trim().toLowerCase();
  return ALIASES[base] ?? base;
};

/** Whether the client's declared type agrees with the sniffed one (generic types agree with anything; a container's audio/video twin too). */
export function declaredMatches(declared: string | undefined, sniffed: string): boolean {
  if (!declared) return true;
  const d = norm(declared);
  const s = norm(sniffed);
  if (d === '' || d === 'application/octet-stream' || d === s) return true;
  // One container, two names: an MP4/WebM/Ogg/3GP with sound only is sniffed as video or audio by extension-free readers.
  const sub = (t: string) => t.split('/')[1];
  return ['mp4', 'webm', 'ogg', '3gpp', 'x-m4a'].includes(sub(d)!) && ['mp4', 'webm', 'ogg', '3gpp', 'x-m4a'].includes(sub(s)!) && sub(d) === sub(s);
}

/**
 * The client's file name, if it is a plain name: 1–255 characters, no path separator, no
 * control character, not `.` or `..`, not starting with a dot. Otherwise `file.invalid`.
 */
export function checkFileName(name: string | undefined): string {
  const n = (name ?? '').normalize('NFC');
  // eslint-disable-next-line no-control-regex
  if (n.length < 1 || n.length > 255 || /[/\\\u0000-\u001f\u007f:]/.test(n) || n.startsWith('.') || n.trim() !== n || n === '') {
    throw fail('file.invalid', 'The file name must be a plain name: no path, no control characters, not starting with a dot.', { name: name ?? null });
  }
  return n;
}
