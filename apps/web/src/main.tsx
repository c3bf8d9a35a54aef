import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { parseRoute } from './router.ts';
import { ConferencePage } from './conference/ConferencePage.tsx';

const route = parseRoute(location.pathname);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    {/* A conference link (`/conf/<access token>`) needs no Careline sign-in: its own page. */}
    {route.name === 'conference' ? <ConferencePage accessToken={route.token} /> : <App />}
  </StrictMode>,
);
