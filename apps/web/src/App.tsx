/**
 * The web client: sign-in, then one `Store` (one `CarelineClient`) for the signed-in user.
 * The token comes from a demo user (dev profile), a pasted token, or `#token=…` in the
 * address (a host page that signed the user in); it is kept for this tab only.
 */
import { useEffect, useMemo, useState } from 'react';
import { CarelineError } from '@careline/sdk';
import { I18nContext, initialLang, saveLang, translator, type I18n, type Lang } from './i18n.ts';
import { tokenClaims } from './format.ts';
import { Store, errorText } from './store.ts';
import { SignIn } from './components/SignIn.tsx';
import { Shell } from './components/Shell.tsx';

const TOKEN_KEY = 'careline:token';
/** Set when this tab had to fall back to long-polling: a reload starts there instead of trying the WebSocket again. */
const TRANSPORT_KEY = 'careline:transport';

function safeSession(): Storage | undefined {
  try {
    return window.sessionStorage;
  } catch {
    return undefined;
  }
}

/** A token from `#token=…` (then removed from the address), else the one this tab signed in with. */
function takeToken(): string | null {
  const hash = location.hash.startsWith('#') ? new URLSearchParams(location.hash.slice(1)) : null;
  const fromHash = hash?.get('token');
  if (fromHash) {
    safeSession()?.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, '', location.pathname + location.search);
    return fromHash;
  }
  return safeSession()?.getItem(TOKEN_KEY) ?? null;
}

export function App() {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const i18n = useMemo<I18n>(() => ({
    lang,
    t: translator(lang),
    setLang: (l: Lang) => {
      saveLang(l);
      setLangState(l);
    },
  }), [lang]);
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);

  const [token, setToken] = useState<string | null>(takeToken);
  const [signInError, setSignInError] = useState<string | null>(null);
  const [store, setStore] = useState<Store | null>(null);
  const [ready, setReady] = useState(false);

  useEffect(() => {
    if (!token) return;
    const claims = tokenClaims(token);
    const s = new Store({
      url: location.origin,
      token,
      userId: claims.sub,
      storage: safeSession(),
      storageKey: `careline:${claims.tid ?? '-'}:${claims.sub ?? '-'}`,
      transport: safeSession()?.getItem(TRANSPORT_KEY) === 'longpoll' ? 'longpoll' : 'websocket',
    });
    const offTransport = s.subscribe(() => {
      if (s.state.connection === 'open' && s.state.transport === 'longpoll') safeSession()?.setItem(TRANSPORT_KEY, 'longpoll');
    });
    let cancelled = false;
    setStore(s);
    setReady(false);
    s.start().then(
      () => {
        if (cancelled) return;
        setReady(true);
        void s.loadConversations();
        if (s.state.inboxUnread === null) void s.refreshInboxUnread();
      },
      (err: unknown) => {
        if (cancelled) return;
        void s.stop();
        safeSession()?.removeItem(TOKEN_KEY);
        setStore(null);
        setToken(null);
        const auth = err instanceof CarelineError && (err.code.startsWith('auth.') || err.status === 401);
        setSignInError(auth ? translator(lang)('signin.invalid') : translator(lang)('signin.failed', { reason: errorText(err) }));
      },
    );
    return () => {
      cancelled = true;
      offTransport();
      void s.stop();
    };
    // (The language is read only for the error text.)
  }, [token]);

  const signIn = (t: string) => {
    safeSession()?.setItem(TOKEN_KEY, t);
    setSignInError(null);
    setToken(t);
  };

  const signOut = async () => {
    const s = store;
    safeSession()?.removeItem(TOKEN_KEY);
    setStore(null);
    setToken(null);
    setReady(false);
    history.replaceState(null, '', '/');
    if (s) await s.stop({ logout: true });
  };

  return (
    <I18nContext.Provider value={i18n}>
      {token && store ? <Shell store={store} ready={ready} onSignOut={signOut} /> : <SignIn onToken={signIn} error={signInError} />}
    </I18nContext.Provider>
  );
}
