import { describe, expect, it, vi } from 'vitest';

describe('Lambda entry points', () => {
  it('import cleanly with the variables set and nothing running, doing no I/O until invoked', async () => {
    // Port 1 on loopback: any connection attempt at import time would fail the import.
    vi.stubEnv('DATABASE_URL', 'postgres://payouts:secret@127.0.0.1:1/payouts');
    vi.stubEnv('STRIPE_SECRET_KEY', 'sk_test_import_only');
    vi.stubEnv('STRIPE_API_BASE', 'http://127.0.0.1:1');
    vi.stubEnv('PAYOUT_QUEUE_URL', 'http://127.0.0.1:1/000000000000/payouts');
    vi.resetModules();

    const scan = await import('../../lambdas/scan/handler.ts');
    const transfer = await import('../../lambdas/transfer/handler.ts');

    expect(typeof scan.handler).toBe('function');
    expect(typeof transfer.handler).toBe('function');
    vi.unstubAllEnvs();
  });
});
