/**
 * The conference page speaks Russian, English, Hebrew (right to left) and Chinese: its texts
 * are the SDK's (`UX.initConfConfigL10n`), one source for every app that shows a conference,
 * in the conference's vertical (medicine / general). This file only names the languages.
 */
import { UX, type ConfLang } from '@careline/sdk';

export const CONF_LANG_LABELS: Record<ConfLang, string> = {
  ru: 'Русский',
  en: 'English',
  he: 'עברית',
  zh: '中文',
};

/** The page's language: `?lang=` in the address, else the conference's, else the browser's. */
export function initialConfLang(conferenceLanguage: string | undefined): ConfLang {
  const fromQuery = new URLSearchParams(location.search).get('lang');
  if (fromQuery) return UX.lang(fromQuery);
  if (conferenceLanguage) return UX.lang(conferenceLanguage);
  return UX.lang(navigator.language);
}
