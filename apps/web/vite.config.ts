/**
 * Builds the web client into `dist/` (served by the Careline server at `/`).
 * `npm run dev --workspace @careline/web` serves it with hot reload on :5173 and forwards
 * the API and the WebSocket to a server started with `npm start` on :3000.
 */
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const server = process.env.CARELINE_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 1000 },
  server: {
    proxy: {
      '/api': server,
      '/sdk': server,
      '/ws': { target: server.replace(/^http/, 'ws'), ws: true },
    },
  },
});
