// Vite config of the example: `jina-v3-wasm` resolves to this repository (an app would install it).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  resolve: { alias: { 'jina-v3-wasm': fileURLToPath(new URL('../../js/index.mjs', import.meta.url)) } },
  // Top-level await in the app and the Emscripten glue.
  build: { target: 'es2022' },
  worker: { format: 'es' },
});
