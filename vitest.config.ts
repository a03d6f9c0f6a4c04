import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Two cores: one Postgres server shared by two test workers, one database per test file.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Node 20 is the local runtime by decision; the Lambdas run on nodejs22.x.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
