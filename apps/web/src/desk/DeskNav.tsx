/** The front desk's entry in the navigation: for the care team only (staff, doctors, admins). */
import { useI18n } from '../i18n.ts';
import { onLinkClick, routePath } from '../router.ts';
import { useStore, type Store } from '../store.ts';

export function DeskNavLink({ store, current }: { store: Store; current: boolean }) {
  const { t } = useI18n();
  const me = useStore(store, (s) => s.me);
  if (!me || me.role === 'patient') return null;
  return (
    <a href={routePath({ name: 'desk' })} onClick={onLinkClick} aria-current={current ? 'page' : undefined} className="nav-link" data-testid="nav-desk">
      <svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true" focusable="false">
        <path d="M4 14v-2a8 8 0 0 1 16 0v2" />
        <path d="M4 14h3v5H5a1 1 0 0 1-1-1zM20 14h-3v5h2a1 1 0 0 0 1-1z" />
      </svg>
      <span className="nav-label">{t('desk.nav')}</span>
    </a>
  );
}
