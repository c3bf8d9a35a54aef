/** Style sheets imported by components (bundled by Vite). */
declare module '*.css';
