import { fileURLToPath } from 'node:url'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vitest/config'
import { gettextCatalogue } from './build/vite-plugin-po'

const staticDir = fileURLToPath(new URL('../src/osis_async/static/osis_async', import.meta.url))
/** Set by bench/bundle_size.py: builds the widget with Vue left out, as the seed shipped it. */
const benchOutDir = process.env.OSIS_ASYNC_BENCH_OUT_DIR

export default defineConfig(({ command }) => ({
  plugins: [vue(), gettextCatalogue()],
  define:
    command === 'build'
      ? {
          'process.env.NODE_ENV': JSON.stringify('production'),
          __VUE_OPTIONS_API__: 'false',
          __VUE_PROD_DEVTOOLS__: 'false',
          __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
        }
      : {},
  build: {
    outDir: benchOutDir ?? staticDir,
    emptyOutDir: false,
    sourcemap: true,
    target: 'es2019',
    cssTarget: 'chrome80',
    reportCompressedSize: false,
    lib: {
      entry: fileURLToPath(new URL('./src/main.ts', import.meta.url)),
      name: 'OsisAsync',
      formats: ['umd'],
      fileName: () => 'osis-async.umd.js',
      cssFileName: 'osis-async',
    },
    rollupOptions: benchOutDir ? { external: ['vue'], output: { globals: { vue: 'Vue' } } } : {},
  },
  test: {
    environment: 'jsdom',
    include: ['tests/**/*.spec.ts'],
    restoreMocks: true,
    unstubGlobals: true,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.{ts,vue}', 'build/**/*.ts'],
      exclude: ['src/env.d.ts'],
      reporter: ['text', 'json-summary'],
      thresholds: { lines: 90, statements: 90, functions: 90, branches: 85 },
    },
  },
}))
