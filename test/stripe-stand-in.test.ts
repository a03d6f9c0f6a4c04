import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type StripeStandIn,
  startStripeStandIn,
} from '../local/stripe-stand-in/stripe-stand-in.ts';
import { createStripeClient } from '../shared/stripe-client.ts';

const ACTIVE = 'acct_1StandInActive';
const RESTRICTED = 'acct_1StandInRestricted';
const OTHER = 'acct_1StandInOther';
const INSUFFICIENT_FUNDS =
  'You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance by creating Top-ups.';

function sdk(
  standIn: StripeStandIn,
  { maxNetworkRetries = 0, timeout }: { maxNetworkRetries?: number; timeout?: number } = {},
): Stripe {
  return new Stripe('sk_test_standin', {
    host: '127.0.0.1',
    port: standIn.port,
    protocol: 'http',
    maxNetworkRetries,
    telemetry: false,
    ...(timeout !== undefined && { timeout }),
  });
}

/** The error a call failed with; fails the test if the call succeeded. */
async function failure(call: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await call;
  } catch (error) {
    return error as Stripe.errors.StripeError;
  }
  throw new Error('Expected the call to fail');
}

async function elapsedMs(call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await call();
  return performance.now() - start;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const ids = (transfers: Array<{ id: string }>) => transfers.map((transfer) => transfer.id);

describe('Stripe stand-in, through the real stripe SDK', () => {
  let standIn: StripeStandIn;
  const client = (maxNetworkRetries = 0, key = 'sk_test_standin') =>
    new Stripe(key, {
      host: '127.0.0.1',
      port: standIn.port,
      protocol: 'http',
      maxNetworkRetries,
      telemetry: false,
    });
  const params = (overrides: Record<string, unknown> = {}): Stripe.TransferCreateParams => ({
    amount: 1500,
    currency: 'usd',
    destination: ACTIVE,
    transfer_group: 'session_1',
    metadata: { session_id: '1' },
    ...overrides,
  });
  const rawPost = (body: string, key: string) =>
    fetch(`${standIn.url}/v1/transfers`, {
      method: 'POST',
      headers: {
        Authorization: 'Bearer sk_test_standin',
        'Content-Type': 'application/x-www-form-urlencoded',
        'Idempotency-Key': key,
      },
      body,
    });

  beforeAll(async () => {
    standIn = await startStripeStandIn();
  });
  afterAll(async () => standIn.close());
  beforeEach(() => {
    standIn.reset();
    standIn.setAccount(ACTIVE, 'active');
    standIn.setAccount(RESTRICTED, 'restricted');
  });

  it('creates a transfer with the given parameters in Stripe’s shape', async () => {
    const transfer = await client().transfers.create(params({ source_transaction: 'ch_1' }));

    expect(transfer).toMatchObject({
      object: 'transfer',
      amount: 1500,
      currency: 'usd',
      destination: ACTIVE,
      transfer_group: 'session_1',
      source_transaction: 'ch_1',
      metadata: { session_id: '1' },
    });
    expect(transfer.id).toMatch(/^tr_[0-9A-Za-z]{24}$/);
    expect(standIn.transfers()).toEqual([transfer]);
  });

  it('refuses an unknown parameter as Stripe does', async () => {
    const call = client().transfers.create({
      ...params(),
      surprise: 'x',
    } as Stripe.TransferCreateParams);

    await expect(call).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      code: 'parameter_unknown',
      param: 'surprise',
      message: 'Received unknown parameter: surprise',
    });
    expect(standIn.transfers()).toEqual([]);
  });

  it('refuses a missing and a non-positive amount', async () => {
    const { amount: _omitted, ...withoutAmount } = params();
    await expect(
      client().transfers.create(withoutAmount as Stripe.TransferCreateParams),
    ).rejects.toMatchObject({
      code: 'parameter_missing',
      param: 'amount',
    });
    await expect(client().transfers.create(params({ amount: 0 }))).rejects.toMatchObject({
      code: 'parameter_invalid_integer',
      param: 'amount',
    });
  });

  it('refuses a restricted destination with insufficient_capabilities_for_transfer', async () => {
    const call = client().transfers.create(params({ destination: RESTRICTED }));

    await expect(call).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    await expect(call).rejects.toMatchObject({
      code: 'insufficient_capabilities_for_transfer',
      message:
        'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments',
    });
  });

  it('refuses an unknown destination with resource_missing on destination', async () => {
    const call = client().transfers.create(params({ destination: 'acct_unknown' }));

    await expect(call).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      code: 'resource_missing',
      param: 'destination',
      message: "No such destination: 'acct_unknown'",
    });
  });

  it('replays the stored response for the same idempotency key and parameters', async () => {
    const first = await client().transfers.create(params(), { idempotencyKey: 'k-same' });
    const second = await client().transfers.create(params(), { idempotencyKey: 'k-same' });

    expect(second.id).toBe(first.id);
    expect(standIn.transfers()).toHaveLength(1);
    expect(standIn.requests().map((request) => request.replayed)).toEqual([false, true]);
  });

  it('remembers which key’s execution created a transfer, outside the transfer itself', async () => {
    standIn.dropNextAfterCreate(1);

    const transfer = await client(2).transfers.create(params(), { idempotencyKey: 'k-creator' });

    expect(standIn.creatorKey(transfer.id)).toBe('k-creator');
    expect(JSON.stringify(standIn.transfers())).not.toContain('k-creator');
    expect(standIn.creatorKey('tr_unknown')).toBeUndefined();
  });

  it('answers a replay with Idempotent-Replayed: true', async () => {
    const body = 'amount=100&currency=usd&destination=acct_1StandInActive';
    await rawPost(body, 'k-header');

    const replay = await rawPost(body, 'k-header');

    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it('refuses the same key with different parameters with an idempotency error', async () => {
    await client().transfers.create(params(), { idempotencyKey: 'k-diff' });

    const call = client().transfers.create(params({ amount: 1501 }), { idempotencyKey: 'k-diff' });

    await expect(call).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(standIn.transfers()).toHaveLength(1);
  });

  it('answers 409 to a second request with a key that is still in flight', async () => {
    standIn.setLatency(150);
    const body = 'amount=100&currency=usd&destination=acct_1StandInActive';

    const [first, second] = await Promise.all([
      rawPost(body, 'k-flight'),
      new Promise((resolve) => setTimeout(resolve, 30)).then(() => rawPost(body, 'k-flight')),
    ]);

    expect(first.status).toBe(200);
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({
      error: { type: 'idempotency_error', code: 'idempotency_key_in_use' },
    });
    expect(standIn.transfers()).toHaveLength(1);
  });

  it('stores an injected 500 under the key and replays it', async () => {
    standIn.failNext(1, 500);

    const first = client().transfers.create(params(), { idempotencyKey: 'k-500' });
    await expect(first).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    const replay = client(2).transfers.create(params(), { idempotencyKey: 'k-500' });

    await expect(replay).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(standIn.requests().at(-1)?.replayed).toBe(true);
    expect(standIn.transfers()).toEqual([]);
  });

  it('does not store a 429: the same key succeeds afterwards', async () => {
    standIn.failNext(1, 429);

    await expect(
      client().transfers.create(params(), { idempotencyKey: 'k-429' }),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    const transfer = await client().transfers.create(params(), { idempotencyKey: 'k-429' });

    expect(standIn.transfers()).toEqual([transfer]);
  });

  it('does not store a validation error: the same key with valid parameters executes', async () => {
    await expect(
      client().transfers.create(params({ amount: -1 }), { idempotencyKey: 'k-valid' }),
    ).rejects.toMatchObject({ code: 'parameter_invalid_integer' });

    const transfer = await client().transfers.create(params(), { idempotencyKey: 'k-valid' });

    expect(standIn.transfers()).toEqual([transfer]);
  });

  it('creates the transfer and drops the connection; the SDK retry gets the replay', async () => {
    standIn.dropNextAfterCreate();

    const transfer = await client(2).transfers.create(params(), { idempotencyKey: 'k-drop' });

    expect(standIn.transfers()).toEqual([transfer]);
    expect(standIn.requests().map((request) => request.status)).toEqual([0, 200]);
  });

  it('drops the connection for an SDK without retries, and a later call with the key gets the transfer', async () => {
    standIn.dropNextAfterCreate(2);

    const call = client(0).transfers.create(params(), { idempotencyKey: 'k-drop-2' });
    await expect(call).rejects.toBeInstanceOf(Stripe.errors.StripeConnectionError);
    const later = await client(0).transfers.create(params(), { idempotencyKey: 'k-drop-2' });

    expect(standIn.transfers()).toHaveLength(1);
    expect(later.id).toBe(standIn.transfers()[0]?.id);
  });

  it('forgets keys older than the configured TTL', async () => {
    standIn.setIdempotencyKeyTtl(20);
    await client().transfers.create(params(), { idempotencyKey: 'k-ttl' });
    await new Promise((resolve) => setTimeout(resolve, 40));

    await client().transfers.create(params(), { idempotencyKey: 'k-ttl' });

    expect(standIn.transfers()).toHaveLength(2);
  });

  it('lists transfers by transfer_group, newest first, with pagination', async () => {
    const created: Stripe.Transfer[] = [];
    for (let index = 0; index < 3; index += 1) {
      created.push(await client().transfers.create(params({ transfer_group: 'session_a' })));
    }
    await client().transfers.create(params({ transfer_group: 'session_b' }));

    const page1 = await client().transfers.list({ transfer_group: 'session_a', limit: 2 });
    const page2 = await client().transfers.list({
      transfer_group: 'session_a',
      limit: 2,
      starting_after: page1.data.at(-1)?.id,
    });

    expect(page1.data.map((transfer) => transfer.id)).toEqual([created[2]?.id, created[1]?.id]);
    expect(page1.has_more).toBe(true);
    expect(page2.data.map((transfer) => transfer.id)).toEqual([created[0]?.id]);
    expect(page2.has_more).toBe(false);
  });

  it('refuses a bad API key without echoing it', async () => {
    const call = client(0, 'pk_test_notasecretkey123').transfers.create(params());

    await expect(call).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    await expect(call).rejects.not.toMatchObject({
      message: expect.stringContaining('notasecretkey'),
    });
  });

  it('answers an unknown route with Stripe’s 404', async () => {
    const response = await fetch(`${standIn.url}/v1/charges`, {
      headers: { Authorization: 'Bearer sk_test_standin' },
    });

    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({
      error: {
        type: 'invalid_request_error',
        message: expect.stringContaining('Unrecognized request URL'),
      },
    });
  });

  describe('slow executions that outlive the client', () => {
    it('keeps executing a create the client abandoned: 409 meanwhile, one transfer, then the stored 200', async () => {
      standIn.slowNext(1, 300);
      const impatient = sdk(standIn, { timeout: 100 });

      const abandoned = await failure(
        impatient.transfers.create(params(), { idempotencyKey: 'k-slow' }),
      );
      const inFlightAfterTimeout = standIn.inFlight();
      const meanwhile = await failure(
        client().transfers.create(params(), { idempotencyKey: 'k-slow' }),
      );
      await standIn.whenIdle();
      const replay = await client().transfers.create(params(), { idempotencyKey: 'k-slow' });

      expect(abandoned).toBeInstanceOf(Stripe.errors.StripeConnectionError);
      expect(inFlightAfterTimeout).toBe(1);
      // stripe-node classes a 409 as StripeAPIError; the raw type says idempotency_error.
      expect(meanwhile).toBeInstanceOf(Stripe.errors.StripeAPIError);
      expect(meanwhile).toMatchObject({
        statusCode: 409,
        rawType: 'idempotency_error',
        code: 'idempotency_key_in_use',
      });
      expect(standIn.inFlight()).toBe(0);
      expect(standIn.transfers()).toHaveLength(1);
      expect(replay.id).toBe(standIn.transfers()[0]?.id);
      expect(replay.lastResponse.headers['idempotent-replayed']).toBe('true');
      expect(standIn.requests().map((request) => [request.status, request.replayed])).toEqual([
        [200, false],
        [409, false],
        [200, true],
      ]);
    });

    it('gives the production client, timing out, the transfer on its retry with the same key', async () => {
      standIn.slowNext(1, 300);
      const stripe = createStripeClient('sk_test_standin', standIn.url, { timeoutMs: 100 });

      const transfer = await stripe.transfers.create(params(), { idempotencyKey: 'k-prod' });

      expect(standIn.transfers()).toEqual([transfer]);
      expect(transfer.lastResponse.headers['idempotent-replayed']).toBe('true');
    });

    it('slows only the next n executions, not replays', async () => {
      standIn.slowNext(2, 200);

      const first = await elapsedMs(() =>
        client().transfers.create(params(), { idempotencyKey: 'k-slow-a' }),
      );
      const replay = await elapsedMs(() =>
        client().transfers.create(params(), { idempotencyKey: 'k-slow-a' }),
      );
      const second = await elapsedMs(() =>
        client().transfers.create(params(), { idempotencyKey: 'k-slow-b' }),
      );
      const third = await elapsedMs(() =>
        client().transfers.create(params(), { idempotencyKey: 'k-slow-c' }),
      );

      expect(first).toBeGreaterThanOrEqual(190);
      expect(replay).toBeLessThan(150);
      expect(second).toBeGreaterThanOrEqual(190);
      expect(third).toBeLessThan(150);
      expect(standIn.transfers()).toHaveLength(3);
    });

    it('decides the refusal when the slow execution ends, and stores it', async () => {
      standIn.setBalance('usd', 5000);
      standIn.slowNext(1, 150);

      const slow = client().transfers.create(params({ amount: 4000 }), {
        idempotencyKey: 'k-late',
      });
      await pause(30);
      await client().transfers.create(params({ amount: 2000 }), { idempotencyKey: 'k-early' });

      await expect(slow).rejects.toMatchObject({ code: 'balance_insufficient' });
      expect(standIn.transfers().map((transfer) => transfer.amount)).toEqual([2000]);
    });

    it('still honours setLatency on every create', async () => {
      standIn.setLatency(150);

      const took = await elapsedMs(() => client().transfers.create(params()));

      expect(took).toBeGreaterThanOrEqual(140);
    });

    it('discards an execution still running when the stand-in is reset', async () => {
      standIn.slowNext(1, 150);
      const running = client().transfers.create(params(), { idempotencyKey: 'k-reset' });
      await pause(30);

      standIn.reset();
      await standIn.whenIdle();

      await expect(running).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
      expect(standIn.transfers()).toEqual([]);
      expect(standIn.inFlight()).toBe(0);
    });
  });

  describe('platform balance', () => {
    it('refuses a transfer above the balance with balance_insufficient and replays that refusal after a top-up', async () => {
      standIn.setBalance('usd', 1000);

      const refused = await failure(
        client().transfers.create(params(), { idempotencyKey: 'k-funds' }),
      );
      standIn.setBalance('usd', 10_000);
      const replayed = await failure(
        client().transfers.create(params(), { idempotencyKey: 'k-funds' }),
      );
      const fresh = await client().transfers.create(params(), { idempotencyKey: 'k-funds-2' });

      expect(refused).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(refused).toMatchObject({
        statusCode: 400,
        code: 'balance_insufficient',
        message: INSUFFICIENT_FUNDS,
      });
      expect(refused.headers?.['idempotent-replayed']).toBeUndefined();
      expect(replayed).toMatchObject({ statusCode: 400, code: 'balance_insufficient' });
      expect(replayed.headers?.['idempotent-replayed']).toBe('true');
      expect(standIn.transfers()).toEqual([fresh]);
      expect(standIn.balance('usd')).toBe(8500);
    });

    it('subtracts a transfer from the balance of its own currency only', async () => {
      standIn.setBalance('usd', 2000);

      await client().transfers.create(params({ amount: 1500 }));
      await client().transfers.create(params({ amount: 1500, currency: 'eur' }));
      const overdrawn = client().transfers.create(params({ amount: 501 }));

      await expect(overdrawn).rejects.toMatchObject({ code: 'balance_insufficient' });
      expect(standIn.balance('usd')).toBe(500);
      expect(standIn.balance('eur')).toBeNull();
    });

    it('pays a transfer with source_transaction from its charge, not the balance', async () => {
      standIn.setBalance('usd', 0);

      const transfer = await client().transfers.create(params({ source_transaction: 'ch_paid' }));

      expect(standIn.transfers()).toEqual([transfer]);
      expect(standIn.balance('usd')).toBe(0);
    });

    it('treats a balance set to null as unlimited', async () => {
      standIn.setBalance('usd', 0);
      standIn.setBalance('usd', null);

      await client().transfers.create(params({ amount: 999_999 }));

      expect(standIn.balance('usd')).toBeNull();
      expect(standIn.transfers()).toHaveLength(1);
    });
  });

  describe('charges named by source_transaction', () => {
    it('refuses an unregistered charge when charges must exist, and stores the refusal', async () => {
      standIn.setChargesMustExist(true);

      const refused = await failure(
        client().transfers.create(params({ source_transaction: 'ch_ghost' }), {
          idempotencyKey: 'k-ghost',
        }),
      );
      standIn.setCharge('ch_ghost', { amount: 5000, currency: 'usd' });
      const replayed = await failure(
        client().transfers.create(params({ source_transaction: 'ch_ghost' }), {
          idempotencyKey: 'k-ghost',
        }),
      );

      expect(refused).toMatchObject({
        type: 'StripeInvalidRequestError',
        statusCode: 400,
        code: 'resource_missing',
        param: 'source_transaction',
        message: "No such charge: 'ch_ghost'",
      });
      expect(replayed.headers?.['idempotent-replayed']).toBe('true');
      expect(standIn.transfers()).toEqual([]);
    });

    it('accepts an unregistered charge by default as one of unlimited amount', async () => {
      const transfer = await client().transfers.create(
        params({ amount: 1_000_000, source_transaction: 'ch_prop_0' }),
      );

      expect(transfer.source_transaction).toBe('ch_prop_0');
    });

    it('refuses a transfer above what remains of its charge, and stores the refusal', async () => {
      standIn.setCharge('ch_1', { amount: 2000, currency: 'usd' });
      await client().transfers.create(params({ amount: 1500, source_transaction: 'ch_1' }));

      const refused = await failure(
        client().transfers.create(params({ amount: 600, source_transaction: 'ch_1' }), {
          idempotencyKey: 'k-over',
        }),
      );
      const rest = await client().transfers.create(
        params({ amount: 500, source_transaction: 'ch_1' }),
      );
      const replayed = await failure(
        client().transfers.create(params({ amount: 600, source_transaction: 'ch_1' }), {
          idempotencyKey: 'k-over',
        }),
      );

      expect(refused).toMatchObject({
        type: 'StripeInvalidRequestError',
        statusCode: 400,
        message: expect.stringContaining('ch_1'),
      });
      expect(rest.amount).toBe(500);
      expect(replayed.headers?.['idempotent-replayed']).toBe('true');
      expect(standIn.transfers().map((transfer) => transfer.amount)).toEqual([1500, 500]);
    });

    it('refuses a currency other than the charge’s, with no code', async () => {
      standIn.setCharge('ch_eur', { amount: 5000, currency: 'eur' });

      const refused = await failure(
        client().transfers.create(params({ source_transaction: 'ch_eur' })),
      );

      expect(refused).toMatchObject({
        type: 'StripeInvalidRequestError',
        statusCode: 400,
        param: 'currency',
        message:
          "The currency of source_transaction's balance transaction (eur) must be the same as the transfer currency (usd)",
      });
      expect(refused.code).toBeUndefined();
    });

    it('files a transfer under its charge’s group when fileUnderChargeGroup is on', async () => {
      standIn.fileUnderChargeGroup(true);
      standIn.setCharge('ch_grouped', { amount: 5000, currency: 'usd', transferGroup: 'order_9' });

      const grouped = await client().transfers.create(params({ source_transaction: 'ch_grouped' }));
      const defaulted = await client().transfers.create(params({ source_transaction: 'ch_loose' }));
      const plain = await client().transfers.create(params());
      const underSession = await client().transfers.list({ transfer_group: 'session_1' });

      expect(grouped.transfer_group).toBe('order_9');
      expect(defaulted.transfer_group).toBe('group_ch_loose');
      expect(plain.transfer_group).toBe('session_1');
      expect(ids(underSession.data)).toEqual([plain.id]);
    });

    it('keeps the client’s transfer_group while fileUnderChargeGroup is off, as after reset', async () => {
      standIn.fileUnderChargeGroup(true);
      standIn.reset();
      standIn.setAccount(ACTIVE, 'active');

      const transfer = await client().transfers.create(params({ source_transaction: 'ch_x' }));

      expect(transfer.transfer_group).toBe('session_1');
    });
  });

  describe('failures around execution', () => {
    it('creates the transfer and answers a stored 500 after failNextAfterCreate', async () => {
      standIn.failNextAfterCreate(1);

      const first = await failure(
        client().transfers.create(params(), { idempotencyKey: 'k-after' }),
      );
      const replayed = await failure(
        client().transfers.create(params(), { idempotencyKey: 'k-after' }),
      );
      const next = await client().transfers.create(params(), { idempotencyKey: 'k-after-2' });

      expect(first).toBeInstanceOf(Stripe.errors.StripeAPIError);
      expect(first.statusCode).toBe(500);
      expect(replayed).toBeInstanceOf(Stripe.errors.StripeAPIError);
      expect(replayed.headers).toMatchObject({
        'idempotent-replayed': 'true',
        'stripe-should-retry': 'false',
      });
      expect(standIn.transfers()).toHaveLength(2);
      expect(standIn.transfers()[1]).toEqual(next);
    });

    it('gives the SDK’s own retry the replayed 500 after failNextAfterCreate, with one transfer', async () => {
      standIn.failNextAfterCreate(1);

      const error = await failure(
        client(2).transfers.create(params(), { idempotencyKey: 'k-after-retry' }),
      );

      expect(error.headers?.['idempotent-replayed']).toBe('true');
      expect(standIn.transfers()).toHaveLength(1);
      expect(standIn.requests().map((request) => [request.status, request.replayed])).toEqual([
        [500, false],
        [500, true],
      ]);
    });

    it('answers an edge 503 that creates nothing and is not stored', async () => {
      standIn.failNext(1, 503);

      const edge = await failure(client().transfers.create(params(), { idempotencyKey: 'k-503' }));
      const transfer = await client().transfers.create(params(), { idempotencyKey: 'k-503' });

      expect(edge).toBeInstanceOf(Stripe.errors.StripeAPIError);
      expect(edge.statusCode).toBe(503);
      expect(standIn.transfers()).toEqual([transfer]);
      expect(transfer.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    });

    it('gives an injected 429 the Stripe-Rate-Limited-Reason header', async () => {
      standIn.failNext(1, 429);

      const limited = await failure(client().transfers.create(params()));

      expect(limited).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
      expect(limited.headers?.['stripe-rate-limited-reason']).toBe('endpoint-rate');
    });
  });

  describe('listing transfers', () => {
    it('filters by destination', async () => {
      standIn.setAccount(OTHER, 'active');
      const mine = await client().transfers.create(params());
      await client().transfers.create(params({ destination: OTHER }));

      const page = await client().transfers.list({ destination: ACTIVE });

      expect(ids(page.data)).toEqual([mine.id]);
      expect(page).toMatchObject({ object: 'list', url: '/v1/transfers', has_more: false });
    });

    it('answers ten transfers by default, newest first', async () => {
      for (let index = 0; index < 12; index += 1) await client().transfers.create(params());

      const page = await client().transfers.list();

      expect(ids(page.data)).toEqual(ids(standIn.transfers().reverse().slice(0, 10)));
      expect(page.has_more).toBe(true);
    });

    it('refuses an unknown parameter with parameter_unknown', async () => {
      const call = client().transfers.list({ surprise: 'x' } as Stripe.TransferListParams);

      await expect(call).rejects.toMatchObject({
        type: 'StripeInvalidRequestError',
        statusCode: 400,
        code: 'parameter_unknown',
        param: 'surprise',
        message: 'Received unknown parameter: surprise',
      });
    });

    it.each([0, 101, 2.5, 'ten'])(
      'refuses limit=%s with parameter_invalid_integer',
      async (limit) => {
        const call = client().transfers.list({ limit } as Stripe.TransferListParams);

        await expect(call).rejects.toMatchObject({
          statusCode: 400,
          code: 'parameter_invalid_integer',
          param: 'limit',
        });
      },
    );

    it.each(['starting_after', 'ending_before'] as const)(
      'refuses an unknown %s with No such transfer',
      async (cursor) => {
        const call = client().transfers.list({ [cursor]: 'tr_missing' });

        await expect(call).rejects.toMatchObject({
          type: 'StripeInvalidRequestError',
          statusCode: 400,
          code: 'resource_missing',
          param: cursor,
          message: "No such transfer: 'tr_missing'",
        });
      },
    );

    it('accepts expand[] and ignores it', async () => {
      const transfer = await client().transfers.create(params());

      const page = await client().transfers.list({ expand: ['data.destination'] });

      expect(ids(page.data)).toEqual([transfer.id]);
    });

    it('records the decoded query of a list request', async () => {
      await client().transfers.list({ transfer_group: 'session_1', limit: 5 });

      const [request] = standIn.requests();

      expect(request?.query).toEqual({ transfer_group: 'session_1', limit: '5' });
      expect(request?.params).toEqual(request?.query);
      expect(request?.at).toBeGreaterThan(0);
    });
  });

  describe('faults on listing', () => {
    it('fails the next list with an injected 500 and does not cache it', async () => {
      const transfer = await client().transfers.create(params());
      standIn.failNextList(1, 500);

      const failed = await failure(client().transfers.list());
      const page = await client().transfers.list();

      expect(failed).toBeInstanceOf(Stripe.errors.StripeAPIError);
      expect(failed.statusCode).toBe(500);
      expect(ids(page.data)).toEqual([transfer.id]);
    });

    it('lets the SDK’s retries get past an injected 500 on a list', async () => {
      standIn.failNextList(1, 500);

      const page = await client(2).transfers.list();

      expect(page.data).toEqual([]);
      expect(standIn.requests().map((request) => request.status)).toEqual([500, 200]);
    });

    it('answers an injected 404 as a misrouted call gets, and 400 and 429 as Stripe errors', async () => {
      standIn.failNextList(1, 404);
      const misrouted = await failure(client().transfers.list());
      standIn.failNextList(1, 400);
      const invalid = await failure(client().transfers.list());
      standIn.failNextList(1, 429);
      const limited = await failure(client().transfers.list());

      expect(misrouted).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(misrouted).toMatchObject({
        statusCode: 404,
        message: expect.stringContaining('Unrecognized request URL (GET: /v1/transfers)'),
      });
      expect(invalid).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(invalid.statusCode).toBe(400);
      expect(limited).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    });

    it('drops list connections unanswered; the SDK retries a closed connection once even without retries', async () => {
      standIn.dropNextList(2);

      const dropped = await failure(client(0).transfers.list());
      const page = await client(0).transfers.list();

      expect(dropped).toBeInstanceOf(Stripe.errors.StripeConnectionError);
      expect(page.data).toEqual([]);
      expect(standIn.requests().map((request) => request.status)).toEqual([0, 0, 200]);
    });

    it('leaves creates alone: list faults touch only GET /v1/transfers', async () => {
      standIn.failNextList(1, 500);
      standIn.dropNextList(1);

      const transfer = await client().transfers.create(params());
      const fetched = await client().transfers.retrieve(transfer.id);

      expect(fetched.id).toBe(transfer.id);
    });
  });

  describe('connected accounts', () => {
    it('retrieves an account in the state it was given, in Stripe’s shape', async () => {
      const active = await client().accounts.retrieve(ACTIVE);
      const restricted = await client().accounts.retrieve(RESTRICTED);

      expect(active).toMatchObject({
        id: ACTIVE,
        object: 'account',
        payouts_enabled: true,
        charges_enabled: true,
        capabilities: { transfers: 'active' },
        requirements: { disabled_reason: null, currently_due: [] },
      });
      expect(restricted).toMatchObject({
        payouts_enabled: false,
        capabilities: { transfers: 'inactive' },
        requirements: {
          disabled_reason: 'requirements.past_due',
          currently_due: ['individual.verification.document'],
        },
      });
    });

    it('answers 404 resource_missing on account for an account it does not know', async () => {
      const missing = await failure(client().accounts.retrieve(OTHER));

      expect(missing).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect(missing).toMatchObject({
        statusCode: 404,
        code: 'resource_missing',
        param: 'account',
        message: `No such account: '${OTHER}'`,
      });
    });

    it('emits account.updated from the connected account when its state changes, with the previous attributes', async () => {
      standIn.setAccount(RESTRICTED, 'restricted');
      standIn.setAccount(RESTRICTED, 'active');

      const events = standIn.events();

      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        id: expect.stringMatching(/^evt_/),
        object: 'event',
        account: RESTRICTED,
        type: 'account.updated',
        livemode: false,
        request: { id: null, idempotency_key: null },
        data: {
          object: { id: RESTRICTED, capabilities: { transfers: 'active' }, payouts_enabled: true },
          previous_attributes: {
            capabilities: { transfers: 'inactive' },
            payouts_enabled: false,
          },
        },
      });
    });

    it('tells onEvent listeners of each event as it is emitted, until they stop listening', async () => {
      const heard: string[] = [];
      const stop = standIn.onEvent((event) => heard.push(`${event.type} ${event.account}`));

      standIn.setAccount(RESTRICTED, 'restricted');
      standIn.setAccount(RESTRICTED, 'active');
      stop();
      standIn.setAccount(RESTRICTED, 'restricted');

      expect(heard).toEqual([`account.updated ${RESTRICTED}`]);
      expect(standIn.events()).toHaveLength(2);
    });

    it('changes an account from another process through its control route, as setAccount does, unrecorded', async () => {
      const control = (id: string, body: string) =>
        fetch(`${standIn.url}/_stand_in/accounts/${id}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
      standIn.setAccount(RESTRICTED, 'restricted');

      const changed = await control(RESTRICTED, 'state=active');
      const created = await control(OTHER, 'state=restricted');
      const refused = await control(RESTRICTED, 'state=open');

      expect(changed.status).toBe(200);
      expect(await changed.json()).toMatchObject({ capabilities: { transfers: 'active' } });
      expect(created.status).toBe(200);
      expect(refused.status).toBe(400);
      expect((await client().accounts.retrieve(OTHER)).capabilities?.transfers).toBe('inactive');
      // Only a change of a known account is an event, as with setAccount.
      expect(standIn.events().map((event) => event.account)).toEqual([RESTRICTED]);
      expect(standIn.requests().map((request) => request.path)).toEqual([`/v1/accounts/${OTHER}`]);
    });

    it('fails the next account reads as injected: 500, a misrouted 404, 429, a dropped connection', async () => {
      standIn.failNextAccountRead(1, 500);
      const failed = await failure(client().accounts.retrieve(ACTIVE));
      standIn.failNextAccountRead(1, 404);
      const misrouted = await failure(client().accounts.retrieve(ACTIVE));
      standIn.failNextAccountRead(1, 429);
      const limited = await failure(client().accounts.retrieve(ACTIVE));
      standIn.failNextAccountRead(2, 'drop');
      const dropped = await failure(client().accounts.retrieve(ACTIVE));
      const fine = await client().accounts.retrieve(ACTIVE);

      expect(failed).toBeInstanceOf(Stripe.errors.StripeAPIError);
      expect(misrouted).toMatchObject({ statusCode: 404, code: undefined });
      expect(limited).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
      expect(dropped).toBeInstanceOf(Stripe.errors.StripeConnectionError);
      expect(fine.id).toBe(ACTIVE);
    });

    it('counts account reads as an endpoint of their own under limitRate', async () => {
      standIn.limitRate(1);

      await client().transfers.list();
      await client().accounts.retrieve(ACTIVE);
      const second = await failure(client().accounts.retrieve(ACTIVE));

      expect(second.statusCode).toBe(429);
    });
  });

  describe('transfer reversals', () => {
    it('reverses part of a transfer, then the rest, and the transfer shows both, newest first', async () => {
      const transfer = await client().transfers.create(params());

      const part = await client().transfers.createReversal(transfer.id, { amount: 500 });
      const rest = await client().transfers.createReversal(transfer.id);
      const fetched = await client().transfers.retrieve(transfer.id);

      expect(part).toMatchObject({
        id: expect.stringMatching(/^trr_/),
        object: 'transfer_reversal',
        amount: 500,
        currency: 'usd',
        transfer: transfer.id,
      });
      expect(rest.amount).toBe(1000);
      expect(fetched).toMatchObject({ amount_reversed: 1500, reversed: true });
      expect(fetched.reversals.data.map((reversal) => reversal.id)).toEqual([rest.id, part.id]);
    });

    it('refuses to reverse more than remains, and an unknown transfer', async () => {
      const transfer = await client().transfers.create(params());

      const tooMuch = await failure(
        client().transfers.createReversal(transfer.id, { amount: 1501 }),
      );
      const unknown = await failure(client().transfers.createReversal('tr_nope'));

      expect(tooMuch).toMatchObject({ statusCode: 400, param: 'amount' });
      expect(unknown).toMatchObject({ statusCode: 404, code: 'resource_missing' });
    });

    it('emits transfer.reversed from the platform with the transfer as it is after the reversal', async () => {
      const transfer = await client().transfers.create(params());
      const reversal = await client().transfers.createReversal(transfer.id, { amount: 700 });

      const [event] = standIn.events();

      expect(event).toMatchObject({
        type: 'transfer.reversed',
        data: {
          object: {
            id: transfer.id,
            amount_reversed: 700,
            reversed: false,
            reversals: { data: [{ id: reversal.id, amount: 700 }] },
          },
        },
      });
      expect(event).not.toHaveProperty('account');
      expect(event?.data).not.toHaveProperty('previous_attributes');
    });
  });

  describe('clearFaults and reset', () => {
    it('clearFaults stops every fault but keeps balances, charges, modes, keys and transfers', async () => {
      const before = await client().transfers.create(params(), { idempotencyKey: 'k-kept' });
      standIn.setBalance('usd', 3000);
      standIn.setCharge('ch_small', { amount: 100, currency: 'usd' });
      standIn.fileUnderChargeGroup(true);
      standIn.setLatency(1000);
      standIn.failNext(5, 500);
      standIn.failNextAfterCreate(5);
      standIn.dropNextAfterCreate(5);
      standIn.slowNext(5, 1000);
      standIn.failNextList(5, 500);
      standIn.dropNextList(5);
      standIn.failNextAccountRead(5, 500);

      standIn.clearFaults();
      const took = await elapsedMs(async () => {
        await client().transfers.create(params());
        await client().transfers.list();
        await client().accounts.retrieve(ACTIVE);
      });
      const replay = await client().transfers.create(params(), { idempotencyKey: 'k-kept' });
      const overCharge = await failure(
        client().transfers.create(params({ source_transaction: 'ch_small' })),
      );
      const grouped = await client().transfers.create(
        params({ amount: 50, source_transaction: 'ch_small' }),
      );

      expect(took).toBeLessThan(500);
      expect(replay.id).toBe(before.id);
      expect(standIn.balance('usd')).toBe(1500);
      expect(overCharge.statusCode).toBe(400);
      expect(grouped.transfer_group).toBe('group_ch_small');
    });

    it('reset forgets balances, charges, modes, keys, transfers, accounts and events', async () => {
      await client().transfers.create(params(), { idempotencyKey: 'k-gone' });
      standIn.setAccount(RESTRICTED, 'active');
      standIn.setBalance('usd', 0);
      standIn.setCharge('ch_small', { amount: 100, currency: 'usd' });
      standIn.setChargesMustExist(true);

      standIn.reset();
      standIn.setAccount(ACTIVE, 'active');
      const transfer = await client().transfers.create(params({ source_transaction: 'ch_small' }), {
        idempotencyKey: 'k-gone',
      });
      await client().transfers.create(params());

      expect(transfer.lastResponse.headers['idempotent-replayed']).toBeUndefined();
      expect(standIn.balance('usd')).toBeNull();
      expect(standIn.transfers()).toHaveLength(2);
      expect(standIn.events()).toEqual([]);
      expect(standIn.account(RESTRICTED)).toBeUndefined();
    });
  });
});

describe('Stripe stand-in with an injected clock and startup options', () => {
  const START_MS = 1_700_000_000_500;
  let nowMs = START_MS;
  let standIn: StripeStandIn;
  const create = (overrides: Partial<Stripe.TransferCreateParams> = {}, idempotencyKey?: string) =>
    sdk(standIn).transfers.create(
      {
        amount: 1000,
        currency: 'usd',
        destination: ACTIVE,
        transfer_group: 'session_1',
        ...overrides,
      },
      idempotencyKey ? { idempotencyKey } : undefined,
    );

  beforeAll(async () => {
    standIn = await startStripeStandIn({ now: () => nowMs, chargesMustExist: true });
  });
  afterAll(async () => standIn.close());
  beforeEach(() => {
    nowMs = START_MS;
    standIn.reset();
    standIn.setAccount(ACTIVE, 'active');
  });

  it('stamps created and every recorded request from the clock', async () => {
    const transfer = await create();
    nowMs += 2500;
    const fetched = await sdk(standIn).transfers.retrieve(transfer.id);

    expect(transfer.created).toBe(1_700_000_000);
    expect(fetched.created).toBe(1_700_000_000);
    expect(standIn.requests().map((request) => request.at)).toEqual([START_MS, START_MS + 2500]);
  });

  it('ages idempotency keys by the clock', async () => {
    standIn.setIdempotencyKeyTtl(60_000);
    const first = await create({}, 'k-clock');

    nowMs += 30_000;
    const replay = await create({}, 'k-clock');
    nowMs += 31_000;
    const afterTtl = await create({}, 'k-clock');

    expect(replay.id).toBe(first.id);
    expect(afterTtl.id).not.toBe(first.id);
    expect(standIn.transfers()).toHaveLength(2);
  });

  it('filters by created, exactly and by bounds', async () => {
    const made: Stripe.Transfer[] = [];
    for (const seconds of [1000, 2000, 3000]) {
      nowMs = seconds * 1000;
      made.push(await create());
    }
    const [t1, t2, t3] = ids(made);
    const list = async (created: Stripe.TransferListParams['created']) =>
      ids((await sdk(standIn).transfers.list({ created })).data);

    expect(await list(2000)).toEqual([t2]);
    expect(await list({ gt: 1000 })).toEqual([t3, t2]);
    expect(await list({ gte: 1000, lt: 3000 })).toEqual([t2, t1]);
    expect(await list({ lte: 1000 })).toEqual([t1]);
    expect(await list({ gt: 3000 })).toEqual([]);
  });

  it('orders by created before creation order when the clock goes back', async () => {
    nowMs = 5_000_000;
    const later = await create();
    nowMs = 4_000_000;
    const earlier = await create();

    const page = await sdk(standIn).transfers.list();

    expect(ids(page.data)).toEqual([later.id, earlier.id]);
  });

  it('lets the SDK walk 250 transfers created in the same second across pages, both ways', async () => {
    for (let batch = 0; batch < 10; batch += 1) {
      await Promise.all(Array.from({ length: 25 }, () => create()));
    }
    const newestFirst = ids(standIn.transfers().reverse());
    const oldest = newestFirst.at(-1) ?? '';

    const walked: string[] = [];
    for await (const transfer of sdk(standIn).transfers.list({ limit: 100 })) {
      walked.push(transfer.id);
    }
    const pages = standIn.requests().filter((request) => request.method === 'GET');
    const backwards: string[] = [];
    for await (const transfer of sdk(standIn).transfers.list({
      limit: 100,
      ending_before: oldest,
    })) {
      backwards.push(transfer.id);
    }

    expect(walked).toEqual(newestFirst);
    expect(pages.map((request) => request.query.starting_after)).toEqual([
      undefined,
      newestFirst[99],
      newestFirst[199],
    ]);
    expect(backwards).toEqual(newestFirst.slice(0, -1).reverse());
  });

  it('pages a filtered list by created with has_more', async () => {
    for (let index = 0; index < 5; index += 1) await create();
    const created = { gte: Math.floor(START_MS / 1000) };

    const page1 = await sdk(standIn).transfers.list({ created, limit: 2 });
    const page2 = await sdk(standIn).transfers.list({
      created,
      limit: 2,
      starting_after: page1.data.at(-1)?.id,
    });
    const page3 = await sdk(standIn).transfers.list({
      created,
      limit: 2,
      starting_after: page2.data.at(-1)?.id,
    });

    expect([page1.has_more, page2.has_more, page3.has_more]).toEqual([true, true, false]);
    expect(ids([...page1.data, ...page2.data, ...page3.data])).toEqual(
      ids(standIn.transfers().reverse()),
    );
  });

  it('refuses an unregistered charge under the chargesMustExist startup option, and after reset', async () => {
    standIn.setChargesMustExist(false);
    await create({ source_transaction: 'ch_anything' });

    standIn.reset();
    standIn.setAccount(ACTIVE, 'active');
    const call = create({ source_transaction: 'ch_anything' });

    await expect(call).rejects.toMatchObject({
      code: 'resource_missing',
      param: 'source_transaction',
    });
  });
});
