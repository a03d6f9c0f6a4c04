import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNTS, DEMO_MENTORS, DEMO_SESSIONS } from '../../local/demo-data.ts';
import { createDb } from '../../shared/db/connect.ts';
import type { Database } from '../../shared/db/database.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import { LOCAL_OWNER_DATABASE_URL_VARIABLE } from '../../tools/cli-environment.ts';
import { attemptsFor, sessionPayoutStatus } from '../helpers/factories.ts';
import { interrupt, ROOT, type Running, startKeptPipeline } from '../helpers/processes.ts';
import { setAccountAtStripe as setAccountAtStripeIn } from '../helpers/stand-in-control.ts';

/**
 * The catch-up `npm start` shows is the event-driven path, not a second scan: a real
 * `npm start -- --keep`, then its database and its Stripe stand-in looked at from outside. Ben's
 * session fails at the one scan, his account becomes active at the stand-in, and the session is
 * paid only after the stripe-events handler took the account.updated.
 */

const SCRATCH = join(ROOT, '.local', `catch-up-${randomUUID().slice(0, 8)}`);
const ENV_FILE = join(SCRATCH, 'payouts-env.json');

let pipeline: Running;
let db: Kysely<Database>;
let localEnv: Record<string, string>;

beforeAll(async () => {
  mkdirSync(SCRATCH, { recursive: true });
  pipeline = await startKeptPipeline(ENV_FILE);
  localEnv = JSON.parse(readFileSync(ENV_FILE, 'utf8'));
  // The owner's: the test looks at every table; the pipeline itself connects as its roles.
  db = createDb(localEnv[LOCAL_OWNER_DATABASE_URL_VARIABLE] ?? '', { maxConnections: 2 });
}, 120_000);

afterAll(async () => {
  await db?.destroy();
  await interrupt(pipeline);
  rmSync(SCRATCH, { recursive: true, force: true });
}, 60_000);

const setAccountAtStripe = (account: string, state: 'active' | 'restricted') =>
  setAccountAtStripeIn(localEnv.STRIPE_API_BASE ?? '', account, state);

const storedStanding = async (account: string) =>
  (
    await db
      .selectFrom('stripe_accounts')
      .selectAll()
      .where('account_id', '=', account)
      .executeTakeFirst()
  )?.transfers_capability;

describe('npm start: the catch-up after account.updated', () => {
  it('pays the restricted mentor’s session after the stripe-events handler took the event, with one scan', async () => {
    const scans = await db.selectFrom('scan_runs').selectAll().execute();
    const attempts = await attemptsFor(db, DEMO_SESSIONS.benRestricted);
    const event = await db
      .selectFrom('stripe_events')
      .selectAll()
      .where('type', '=', 'account.updated')
      .where('account', '=', DEMO_ACCOUNTS.restricted)
      .executeTakeFirstOrThrow();
    const standing = await db
      .selectFrom('stripe_accounts')
      .selectAll()
      .where('account_id', '=', DEMO_ACCOUNTS.restricted)
      .executeTakeFirstOrThrow();
    const announced = await db
      .selectFrom('payout_events')
      .select(['event_type', 'occurred_at'])
      .where('session_id', '=', DEMO_SESSIONS.benRestricted)
      .orderBy('occurred_at')
      .execute();
    const stripe = createStripeClient(
      localEnv.STRIPE_SECRET_KEY ?? '',
      localEnv.STRIPE_API_BASE ?? '',
    );
    const transfers = await stripe.transfers.list({ destination: DEMO_ACCOUNTS.restricted });

    // One scan: Stripe refused Ben's transfer then.
    expect(scans).toHaveLength(1);
    expect(attempts.map((attempt) => [attempt.outcome, attempt.error_code])).toEqual([
      ['failed', 'insufficient_capabilities_for_transfer'],
      ['paid', null],
    ]);
    const [refused, paid] = attempts;
    expect(refused?.created_at.getTime()).toBeLessThan(event.received_at.getTime());
    // Paid only after the event reached the stripe-events handler, which stored Stripe's word.
    expect(paid?.created_at.getTime()).toBeGreaterThan(event.received_at.getTime());
    expect(event.processed_at).not.toBeNull();
    expect(standing).toMatchObject({ transfers_capability: 'active', catch_up_pending: false });
    expect(await sessionPayoutStatus(db, DEMO_SESSIONS.benRestricted)).toBe('paid_out');
    expect(announced.map((row) => row.event_type)).toEqual(['payout.failed', 'payout.paid']);
    // One transfer at Stripe, the one recorded, and the output shows it.
    expect(transfers.data.map((transfer) => [transfer.id, transfer.metadata.session_id])).toEqual([
      [paid?.stripe_transfer_id, DEMO_SESSIONS.benRestricted],
    ]);
    const output = pipeline.stdout();
    expect(output).toContain('Stripe events: 1 invocation(s), 1 event(s) handled, 1 session(s)');
    expect(output).toContain('Transfer: 1 invocation(s), 1 message(s) acknowledged, without');
    expect(output).toMatch(
      new RegExp(
        `Caught up after account\\.updated \\(1\\):\\n(.*\\n){3}.*${DEMO_MENTORS.ben}.*${DEMO_SESSIONS.benRestricted}.*\\$72\\.00.*paid.*\\n.*${paid?.stripe_transfer_id}`,
      ),
    );
  });

  it('keeps taking Stripe’s events with --keep: an account restricted and active again is stored each time', async () => {
    await setAccountAtStripe(DEMO_ACCOUNTS.restricted, 'restricted');
    await expect
      .poll(() => storedStanding(DEMO_ACCOUNTS.restricted), { timeout: 20_000 })
      .not.toBe('active');

    await setAccountAtStripe(DEMO_ACCOUNTS.restricted, 'active');
    await expect
      .poll(() => storedStanding(DEMO_ACCOUNTS.restricted), { timeout: 20_000 })
      .toBe('active');
    const events = await db
      .selectFrom('stripe_events')
      .select('processed_at')
      .where('account', '=', DEMO_ACCOUNTS.restricted)
      .execute();
    expect(events).toHaveLength(3);
    expect(pipeline.stdout()).toMatch(
      /stripe-events: 1 event\(s\), 1 acknowledged, 0 to be retried/,
    );
  }, 60_000);
});
