import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run from source: the shared package resolves to its TypeScript, not its build.
    alias: [
      { find: /^@hvmap\/shared$/, replacement: fileURLToPath(new URL('./shared/src/index.ts', import.meta.url)) },
      {
        find: /^@hvmap\/shared\/schema$/,
        replacement: fileURLToPath(new URL('./shared/src/schema.ts', import.meta.url)),
      },
      { find: /^@hvmap\/agent$/, replacement: fileURLToPath(new URL('./agent/src/index.ts', import.meta.url)) },
      { find: /^@hvmap\/collector$/, replacement: fileURLToPath(new URL('./collector/src/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['{shared,agent,collector}/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    // better-sqlite3 is a native addon: forks isolate it cleanly.
    pool: 'forks',
    // The JSON results feed the plain "N passed, N failed" line of .ci/run.
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-results.json' },
    // The e2e tests run dist/: built before any test, whatever command started vitest.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
