// The unit tests of the modules `npm run mutate` mutates (stryker.config.mjs): they import source,
// need no build, and start no process but the real virsh of the libvirt driver's tests.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [
      'shared/src/os/*.test.ts',
      'collector/src/compat/*.test.ts',
      'collector/src/catalog/*.test.ts',
      'collector/src/api/access.test.ts',
      'agent/src/drivers/*/*.test.ts',
      'collector/src/store/inventory.test.ts',
    ],
    // Unit tests import source: nothing to build (and the sandbox has no need of dist/).
    globalSetup: [],
    reporters: ['default'],
    outputFile: undefined,
  },
});
