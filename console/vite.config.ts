// The bundle is one script and one stylesheet under fixed names: the binary
// embeds them (src/http/console.rs) and gives them content-hashed URLs
// itself, as it does for GraphiQL. Licences of what the bundle contains
// are written beside it (scripts/finish.mjs).
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  base: './',
  build: {
    outDir: '../assets/console',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: false,
    cssCodeSplit: false,
    rolldownOptions: {
      output: {
        entryFileNames: 'console.js',
        assetFileNames: 'console[extname]',
      },
    },
  },
});
