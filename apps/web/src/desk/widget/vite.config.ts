/**
 * Builds the embeddable front-desk widget next to the web client in `apps/web/dist/`:
 *
 * - `vite build -c src/desk/widget/vite.config.ts` → `dist/widget/frame.html` (the chat,
 *   in an iframe on the server's origin) and its script, hashed, in `dist/assets/`;
 * - `… --mode loader` → `dist/widget.js`, the one classic script a website includes
 *   (a stable path: it only draws the launcher and the frame).
 *
 * Both run after the web client's own build (which empties `dist/`).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = fileURLToPath(new URL('../../../dist/', import.meta.url));

export default defineConfig(({ mode }) => mode === 'loader'
  ? {
    publicDir: false,
    build: {
      outDir: dist,
      emptyOutDir: false,
      target: 'es2019',
      minify: true,
      sourcemap: false,
      lib: { entry: `${here}loader.ts`, name: 'CarelineWidget', formats: ['iife'], fileName: () => 'widget.js' },
    },
  }
  : {
    // The root is src/desk, so that widget/frame.html lands in dist/widget/.
    root: `${here}..`,
    base: '/',
    publicDir: false,
    build: {
      outDir: dist,
      emptyOutDir: false,
      target: 'es2020',
      sourcemap: false,
      modulePreload: false,
      rollupOptions: {
        input: { frame: `${here}frame.html` },
        output: { entryFileNames: 'assets/widget-[hash].js', assetFileNames: 'assets/widget-[hash][extname]' },
      },
    },
  });
