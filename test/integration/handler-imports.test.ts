import { describe, expect, it, vi } from 'vitest';
import { localPipelineEnv } from '../../local/pipeline-env.ts';
import { stubEnv } from '../helpers/env.ts';

describe('Lambda entry points', () => {
  it('import cleanly with the variables set and nothing running, doing no I/O until invoked', async () => {
    // Port 1 on loopback: any connection attempt at import time would fail the import.
    stubEnv(
      localPipelineEnv({
        databaseUrl: 'postgres://payouts:secret@127.0.0.1:1/payouts',
        queueUrl: 'http://127.0.0.1:1/000000000000/payouts',
        stripeApiBase: 'http://127.0.0.1:1',
      }),
    );
    vi.resetModules();

    const handlers = await Promise.all([
      import('../../lambdas/scan/handler.ts'),
      import('../../lambdas/transfer/handler.ts'),
      import('../../lambdas/stripe-events/handler.ts'),
      import('../../lambdas/reconcile/handler.ts'),
      import('../../lambdas/payout-events/handler.ts'),
    ]);

    for (const { handler } of handlers) expect(typeof handler).toBe('function');
    vi.unstubAllEnvs();
  });
});
