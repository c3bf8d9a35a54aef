/** Vite bundles the CSS files that modules import (the conference page's own styles). */
declare module '*.css';
