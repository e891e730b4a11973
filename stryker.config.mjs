// Mutation testing of the pure core (issue: tests that fail when a promise breaks): `npm run mutate`.
// Each mutant runs only the unit tests that cover it (perTest coverage), from vitest.mutate.config.ts.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutate.config.ts' },
  coverageAnalysis: 'perTest',
  // Static mutants (module-level tables and regexes, built once at import) run every test for each
  // mutant: on 2 cores they took most of an hour for a few hundred mutants. Their tables are walked
  // whole by the tests (the osinfo database, the distro lists) all the same.
  ignoreStatic: true,
  mutate: [
    'shared/src/os/*.ts',
    'collector/src/compat/*.ts',
    'collector/src/catalog/*.ts',
    'collector/src/api/access.ts',
    'agent/src/drivers/*/parse.ts',
    // The store's diffing: which snapshot rows are new, changed or gone (SQLite, real files).
    'collector/src/store/inventory.ts',
    '!**/*.test.ts',
    // Data generated from libosinfo's database, not logic.
    '!shared/src/os/osinfo-entries.ts',
  ],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  // vitest strips types without checking them: the sandbox needs no @ts-nocheck.
  disableTypeChecks: false,
  concurrency: 2,
  timeoutMS: 20_000,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
