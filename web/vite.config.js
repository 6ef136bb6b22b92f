import { defineConfig } from 'vite';

// JSX compiles to Preact's automatic runtime; no framework plugin is needed.
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, target: 'es2022' },
});
