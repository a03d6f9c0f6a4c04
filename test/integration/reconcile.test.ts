import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ReconcileOptions, reconcile } from '../../lambdas/reconcile/reconcile.ts';
import { paySession, recordReconciledTransfer } from '../../lambdas/transfer/pay-session.ts';
import {
  type StripeStandIn,
  startStripeStandIn,
} from '../../local/stripe-stand-in/stripe-stand-in.ts';
import { recordPayoutReversals } from '../../shared/db/payout-reversals.repository.ts';
import { HOUR_MS } from '../../shared/runtime-limits.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import {
  attemptsFor,
  insertMentor,
  insertSession,
  sessionPayoutStatus,
} from '../helpers/factories.ts';
import { fixedClock, recordingLog, testPacing, testPayoutConfig } from '../helpers/fakes.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const ACCOUNT = 'acct_1Reconcile';
const OTHER_ACCOUNT = 'acct_1ReconcileOther';
const run = promisify(execFile);

describe('reconcile', () => {
  let database: TestDatabase;
  let standIn: StripeStandIn;
  let stripe: Stripe;
  let mentorId: string;
  const since = new Date(Date.now() - HOUR_MS);

  beforeAll(async () => {
    [database, standIn] = await Promise.all([createTestDatabase(), startStripeStandIn()]);
    stripe = createStripeClient('sk_test_reconcile', standIn.url);
    mentorId = await insertMentor(database.db, { stripeAccountId: ACCOUNT });
  });
  afterAll(async () => Promise.all([database.close(), standIn.close()]));
  beforeEach(async () => {
    standIn.reset();
    standIn.setAccount(ACCOUNT, 'active');
    standIn.setAccount(OTHER_ACCOUNT, 'active');
    await database.db.deleteFrom('payouts').execute();
    await database.db.updateTable('sessions').set({ payout_status: 'not_payable' }).execute();
  });

  /**
   * What reconcile uses, on this file's database and stand-in, as the role that runs it with
   * `--fix`: the operator's (the reconcile Lambda never fixes); the transfer Lambda's as its own.
   */
  const deps = (role: 'operator' | 'transfer' = 'operator') => ({
    db: database.dbAs(role),
    stripe,
    clock: fixedClock(new Date()),
    log: recordingLog(),
    config: testPayoutConfig(),
    pacing: testPacing(database.dbAs(role)),
  });

  /** What `reconcile --fix` passes: the transfer Lambda's own recording. */
  const recordAsTheLambdaDoes: ReconcileOptions['fix'] = async (sessionId, transfer) =>
    (await recordReconciledTransfer(deps(), sessionId, transfer)).outcome === 'paid';

  async function paidSession(): Promise<string> {
    const sessionId = await insertSession(database.db, mentorId);
    const result = await paySession(deps('transfer'), sessionId);
    expect(result.outcome).toBe('paid');
    return sessionId;
  }

  const transferFor = (sessionId: string, amount = 8000, destination = ACCOUNT) =>
    stripe.transfers.create({
      amount,
      currency: 'usd',
      destination,
      transfer_group: `session_${sessionId}`,
      metadata: { session_id: sessionId },
    });

  it('finds nothing when every payout matches its transfer', async () => {
    await paidSession();

    const report = await reconcile(deps(), { since });

    expect(report).toMatchObject({ stripeTransfers: 1, paidPayouts: 1, mismatches: [], open: 0 });
  });

  it('reports a transfer paid at Stripe but not marked here, and changes nothing without --fix', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    const transfer = await transferFor(sessionId);

    const report = await reconcile(deps(), { since });

    expect(report.mismatches).toEqual([
      {
        kind: 'paid_at_stripe_not_marked',
        sessionId,
        transferId: transfer.id,
        amount: 8000,
        currency: 'usd',
        fixed: false,
      },
    ]);
    expect(report.open).toBe(1);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('pending');
  });

  it('records that transfer with --fix: paid_out, a reconciled attempt, and nothing open on the next run', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    const transfer = await transferFor(sessionId);

    const fixed = await reconcile(deps(), { since, fix: recordAsTheLambdaDoes });
    const again = await reconcile(deps(), { since });

    expect(fixed.mismatches).toMatchObject([{ kind: 'paid_at_stripe_not_marked', fixed: true }]);
    expect(fixed.open).toBe(0);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
    expect(await attemptsFor(database.db, sessionId)).toMatchObject([
      { outcome: 'paid', error_code: 'reconciled', stripe_transfer_id: transfer.id },
    ]);
    expect(again.mismatches).toEqual([]);
    // The transfer Lambda now leaves the session alone.
    expect(standIn.transfers()).toHaveLength(1);
  });

  it('finds and records a transfer Stripe filed under its source charge’s group, by metadata', async () => {
    standIn.fileUnderChargeGroup(true);
    const sessionId = await insertSession(database.db, mentorId, {
      stripe_charge_id: 'ch_1ReconcileGroup',
    });
    const transfer = await stripe.transfers.create({
      amount: 8000,
      currency: 'usd',
      destination: ACCOUNT,
      source_transaction: 'ch_1ReconcileGroup',
      transfer_group: `session_${sessionId}`,
      metadata: { session_id: sessionId },
    });

    const fixed = await reconcile(deps(), { since, fix: recordAsTheLambdaDoes });

    expect(transfer.transfer_group).toBe('group_ch_1ReconcileGroup');
    expect(fixed.mismatches).toMatchObject([
      { kind: 'paid_at_stripe_not_marked', sessionId, transferId: transfer.id, fixed: true },
    ]);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
  });

  it('records a found transfer for a session with an unfinished generation as the Lambda would: that generation is paid', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    standIn.dropNextAfterCreate(3);
    await paySession(deps('transfer'), sessionId).catch(() => undefined);

    const fixed = await reconcile(deps(), { since, fix: recordAsTheLambdaDoes });

    const payout = await database.db
      .selectFrom('payouts')
      .select(['state', 'stripe_transfer_id', 'key_generation'])
      .where('session_id', '=', sessionId)
      .executeTakeFirstOrThrow();
    expect(fixed.open).toBe(0);
    expect(payout).toEqual({
      state: 'paid',
      stripe_transfer_id: standIn.transfers()[0]?.id,
      key_generation: 1,
    });
    expect(standIn.transfers()).toHaveLength(1);
  });

  it('lists a reversed transfer apart from the mismatches, with what is recorded here; --fix pays nothing again', async () => {
    const sessionId = await paidSession();
    const [transfer] = standIn.transfers();
    if (!transfer) throw new Error('no transfer');
    const first = await stripe.transfers.createReversal(transfer.id, { amount: 3000 });
    await stripe.transfers.createReversal(transfer.id, { amount: 1000 });
    // Only the first reversal's transfer.reversed has been handled here so far (as the
    // stripe-events Lambda records it).
    await recordPayoutReversals(
      database.dbAs('stripeEvents'),
      [
        {
          reversalId: first.id,
          sessionId,
          transferId: transfer.id,
          amount: 3000,
          currency: 'usd',
          reversedAt: new Date(first.created * 1000),
          stripeEventId: 'evt_first',
        },
      ],
      new Date(),
    );
    const attemptsBefore = await attemptsFor(database.db, sessionId);

    const report = await reconcile(deps(), { since, fix: recordAsTheLambdaDoes });

    expect(report.mismatches).toEqual([]);
    expect(report.open).toBe(0);
    expect(report.reversed).toEqual([
      {
        sessionId,
        transferId: transfer.id,
        amount: 8000,
        amountReversed: 4000,
        currency: 'usd',
        recordedReversalIds: [first.id],
        unrecordedAmount: 1000,
      },
    ]);
    expect(standIn.transfers()).toHaveLength(1);
    expect(await attemptsFor(database.db, sessionId)).toEqual(attemptsBefore);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
  });

  it('lists a fully reversed transfer whose answer was lost as found at Stripe, and --fix only records it: no second transfer', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    const transfer = await transferFor(sessionId);
    await stripe.transfers.createReversal(transfer.id);

    const report = await reconcile(deps(), { since, fix: recordAsTheLambdaDoes });

    expect(report.mismatches).toMatchObject([
      { kind: 'paid_at_stripe_not_marked', transferId: transfer.id, fixed: true },
    ]);
    expect(report.reversed).toMatchObject([
      { sessionId, transferId: transfer.id, amountReversed: 8000, unrecordedAmount: 8000 },
    ]);
    expect(standIn.transfers()).toHaveLength(1);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
  });

  it('reports a payout marked paid here whose transfer Stripe does not have', async () => {
    const sessionId = await paidSession();
    await database.db
      .updateTable('payouts')
      .set({ stripe_transfer_id: 'tr_missing' })
      .where('session_id', '=', sessionId)
      .execute();

    const report = await reconcile(deps(), { since, fix: recordAsTheLambdaDoes });

    expect(report.mismatches).toContainEqual({
      kind: 'marked_but_absent_at_stripe',
      sessionId,
      transferId: 'tr_missing',
    });
    expect(report.open).toBeGreaterThan(0);
  });

  it('reports an amount mismatch', async () => {
    const sessionId = await paidSession();
    await database.db
      .updateTable('payouts')
      .set({ amount: 7999 })
      .where('session_id', '=', sessionId)
      .execute();

    const report = await reconcile(deps(), { since });

    expect(report.mismatches).toMatchObject([
      { kind: 'amount_mismatch', sessionId, recorded: '7999 usd', atStripe: '8000 usd' },
    ]);
  });

  it('reports a destination mismatch', async () => {
    const sessionId = await paidSession();
    await database.db
      .updateTable('payouts')
      .set({ destination: OTHER_ACCOUNT })
      .where('session_id', '=', sessionId)
      .execute();

    const report = await reconcile(deps(), { since });

    expect(report.mismatches).toMatchObject([
      { kind: 'destination_mismatch', sessionId, recorded: OTHER_ACCOUNT, atStripe: ACCOUNT },
    ]);
  });

  it('reports a session paid twice at Stripe and never adopts the second transfer', async () => {
    const sessionId = await paidSession();
    const second = await transferFor(sessionId);

    const report = await reconcile(deps(), { since, fix: recordAsTheLambdaDoes });

    expect(report.mismatches).toContainEqual(
      expect.objectContaining({ kind: 'several_transfers', sessionId }),
    );
    expect(report.mismatches).toContainEqual(
      expect.objectContaining({
        kind: 'paid_at_stripe_not_marked',
        transferId: second.id,
        fixed: false,
      }),
    );
    expect(report.open).toBe(2);
  });

  it('ignores transfers that are not session payouts', async () => {
    await stripe.transfers.create({
      amount: 100,
      currency: 'usd',
      destination: ACCOUNT,
      transfer_group: 'bonus_2026',
    });

    const report = await reconcile(deps(), { since });

    expect(report).toMatchObject({ stripeTransfers: 0, mismatches: [] });
  });

  it('looks only at the requested range', async () => {
    await paidSession();
    const later = new Date(Date.now() + HOUR_MS);

    const report = await reconcile(deps(), {
      since: later,
      until: new Date(later.getTime() + 60_000),
    });

    expect(report).toMatchObject({ stripeTransfers: 0, paidPayouts: 0, mismatches: [] });
  });

  describe('npm run payouts -- reconcile', () => {
    const cli = (args: string[]) =>
      run('npx', ['tsx', 'tools/payouts-cli.ts', ...args], {
        env: {
          ...process.env,
          DATABASE_URL: database.urls.operator,
          STRIPE_SECRET_KEY: 'sk_test_reconcile',
          STRIPE_API_BASE: standIn.url,
        },
      }).then(
        ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );

    it('prints the report as JSON and exits 1 while a mismatch is open', async () => {
      const sessionId = await insertSession(database.db, mentorId);
      await transferFor(sessionId);

      const { code, stdout } = await cli(['reconcile', '--since', '1d', '--json']);

      expect(code).toBe(1);
      expect(JSON.parse(stdout)).toMatchObject({
        open: 1,
        mismatches: [{ kind: 'paid_at_stripe_not_marked', sessionId, fixed: false }],
      });
    }, 60_000);

    it('exits 0 with a human summary when everything matches', async () => {
      await paidSession();

      const { code, stdout } = await cli(['reconcile', '--since', '1d']);

      expect(code).toBe(0);
      expect(stdout).toContain('1 transfer(s) at Stripe, 1 payout(s) marked paid here.');
      expect(stdout).toContain('No mismatches.');
    }, 60_000);

    it('refuses a bad --since with a clear message and a non-zero exit', async () => {
      const { code, stderr } = await cli(['reconcile', '--since', 'yesterday']);

      expect(code).not.toBe(0);
      expect(stderr).toContain("argument 'yesterday' is invalid");
    }, 60_000);
  });
});
