/** The reason an upload was refused, in the reader's language, from the server's `file.*` codes. */
import type { CarelineError } from '@careline/sdk';
import type { Lang, T } from '../i18n.ts';
import { fileSize } from '../format.ts';

export function uploadError(err: CarelineError, t: T, lang: Lang): string {
  const d = (err.details ?? {}) as Record<string, unknown>;
  switch (err.code) {
    case 'file.too_large':
      return typeof d.limit === 'number' ? t('files.tooLarge', { limit: fileSize(d.limit, lang) }) : t('files.tooLargeNoLimit');
    case 'file.type_not_allowed':
      return t('files.typeRefused');
    case 'file.type_mismatch':
      return t('files.typeMismatch');
    case 'file.infected':
      return typeof d.signature === 'string' ? t('files.infected', { signature: d.signature }) : t('files.infectedNoName');
    case 'file.scan_failed':
      return t('files.scanFailed');
    case 'file.empty':
      return t('files.empty');
    case 'file.invalid':
      return t('files.nameInvalid');
    case 'client.network_error':
      return t('files.network');
    default:
      return `${err.message} (${err.code})`;
  }
}
