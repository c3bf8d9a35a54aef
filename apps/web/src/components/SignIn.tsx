/**
 * Sign-in: in the dev profile the server lists demo users with fresh tokens
 * (`GET /api/v2/demo/users`, 404 elsewhere); otherwise paste a token, or come from the host's
 * page with `#token=…`.
 */
import { useEffect, useId, useState, type FormEvent } from 'react';
import { CarelineApi } from '@careline/sdk';
import { useI18n } from '../i18n.ts';
import { initials } from '../format.ts';
import { LangSwitch } from './LangSwitch.tsx';
import { Logo } from './Icons.tsx';

interface DemoUser {
  id: string;
  role: string;
  name: string;
  token: string;
}

export function SignIn({ onToken, error }: { onToken: (token: string) => void; error: string | null }) {
  const { t } = useI18n();
  const [demo, setDemo] = useState<DemoUser[] | null>(null);
  const [token, setToken] = useState('');
  const tokenId = useId();
  const hintId = useId();

  useEffect(() => {
    let cancelled = false;
    // A public, dev-only endpoint: no token needed.
    const api = new CarelineApi({ url: location.origin, token: () => '', requestTimeoutMs: 10_000 });
    api.request<{ users: DemoUser[] }>('GET', '/demo/users').then(
      (r) => {
        if (!cancelled) setDemo(r.users);
      },
      () => {
        if (!cancelled) setDemo([]);
      },
    );
    return () => {
      cancelled = true;
    };
  }, []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v = token.trim();
    if (v) onToken(v);
  };

  return (
    <div className="signin">
      <main className="signin-card" aria-labelledby="signin-title">
        <div className="signin-head">
          <Logo />
          <div>
            <p className="brand">{t('app.name')}</p>
            <p className="muted">{t('app.tagline')}</p>
          </div>
          <LangSwitch />
        </div>
        <h1 id="signin-title">{t('signin.title')}</h1>
        {error && (
          <p className="alert" role="alert">
            {error}
          </p>
        )}
        {demo && demo.length > 0 && (
          <section aria-labelledby="demo-title" className="demo">
            <h2 id="demo-title">{t('signin.demo')}</h2>
            <p className="muted">{t('signin.demoHint')}</p>
            <ul className="demo-users">
              {demo.map((u) => (
                <li key={u.id}>
                  <button type="button" className="demo-user" onClick={() => onToken(u.token)} data-user={u.id}>
                    <span className={`avatar role-${u.role}`} aria-hidden="true">
                      {initials(u.name)}
                    </span>
                    <span className="demo-user-text">
                      <span className="demo-user-name">{t('signin.as', { name: u.name })}</span>
                      <span className="muted">
                        {roleLabel(u.role, t)} · {u.id}
                      </span>
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          </section>
        )}
        <form onSubmit={submit} className="token-form">
          <label htmlFor={tokenId}>{t('signin.token')}</label>
          <textarea
            id={tokenId}
            aria-describedby={hintId}
            value={token}
            onChange={(e) => setToken(e.target.value)}
            rows={3}
            spellCheck={false}
            autoComplete="off"
          />
          <p id={hintId} className="muted small">
            {t('signin.tokenHint')}
          </p>
          <button type="submit" className="primary" disabled={!token.trim()}>
            {t('signin.submit')}
          </button>
        </form>
      </main>
    </div>
  );
}

export function roleLabel(role: string, t: ReturnType<typeof useI18n>['t']): string {
  switch (role) {
    case 'doctor':
      return t('role.doctor');
    case 'patient':
      return t('role.patient');
    case 'staff':
      return t('role.staff');
    case 'admin':
      return t('role.admin');
    case 'system':
      return t('role.system');
    default:
      return role;
  }
}
