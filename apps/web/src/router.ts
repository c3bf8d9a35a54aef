/** A small router over the History API: `/`, `/c/<conversation>`, `/consultations`, `/inbox`. */
import { useEffect, useState } from 'react';

export type Route =
  | { name: 'chats' }
  | { name: 'chat'; id: string }
  | { name: 'consultations' }
  | { name: 'inbox' }
  | { name: 'conference'; token: string }
  | { name: 'desk' };

export function parseRoute(path: string): Route {
  const chat = /^\/c\/([^/]+)\/?$/.exec(path);
  if (chat) {
    try {
      return { name: 'chat', id: decodeURIComponent(chat[1]!) };
    } catch {
      return { name: 'chats' };
    }
  }
  if (/^\/consultations\/?$/.test(path)) return { name: 'consultations' };
  if (/^\/inbox\/?$/.test(path)) return { name: 'inbox' };
  const conf = /^\/conf\/([^/]+)\/?$/.exec(path);
  if (conf) return { name: 'conference', token: conf[1]! };
  if (/^\/desk\/?$/.test(path)) return { name: 'desk' };
  return { name: 'chats' };
}

export function routePath(route: Route): string {
  switch (route.name) {
    case 'chat':
      return `/c/${encodeURIComponent(route.id)}`;
    case 'consultations':
      return '/consultations';
    case 'inbox':
      return '/inbox';
    case 'conference':
      return `/conf/${encodeURIComponent(route.token)}`;
    case 'desk':
      return '/desk';
    default:
      return '/';
  }
}

const listeners = new Set<() => void>();

export function navigate(path: string, opts: { replace?: boolean } = {}): void {
  if (path === location.pathname) return;
  if (opts.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  for (const l of listeners) l();
}

export function useRoute(): Route {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return parseRoute(path);
}

/** Follows a same-origin link with the router (keeps Ctrl/⌘-click opening a new tab). */
export function onLinkClick(e: React.MouseEvent<HTMLAnchorElement>): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const href = e.currentTarget.getAttribute('href');
  if (!href || !href.startsWith('/')) return;
  e.preventDefault();
  navigate(href);
}
