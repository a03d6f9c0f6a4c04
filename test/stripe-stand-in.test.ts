import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type StripeStandIn,
  startStripeStandIn,
} from '../local/stripe-stand-in/stripe-stand-in.ts';

const ACTIVE = 'acct_1StandInActive';
const RESTRICTED = 'acct_1StandInRestricted';

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

  it('retrieves accounts in the state they were configured with', async () => {
    const active = await client().accounts.retrieve(ACTIVE);
    const restricted = await client().accounts.retrieve(RESTRICTED);

    expect(active).toMatchObject({ payouts_enabled: true, capabilities: { transfers: 'active' } });
    expect(restricted).toMatchObject({
      payouts_enabled: false,
      capabilities: { transfers: 'inactive' },
      requirements: { disabled_reason: 'requirements.past_due' },
    });
    await expect(client().accounts.retrieve('acct_nope')).rejects.toMatchObject({
      code: 'resource_missing',
      param: 'account',
    });
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
});
