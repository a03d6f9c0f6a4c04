import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { paySession } from '../../lambdas/transfer/pay-session.ts';
import { DEMO_ACCOUNTS, DEMO_SESSIONS, seedDemoData } from '../../local/demo-data.ts';
import { localPipelineEnv } from '../../local/pipeline-env.ts';
import { systemClock } from '../../shared/clock.ts';
import { recordAccountObservation } from '../../shared/db/stripe-accounts.repository.ts';
import { payoutMessageBody } from '../../shared/payout-queue.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import { createCliDeps, type Output } from '../../tools/cli-deps.ts';
import { redriveDlq } from '../../tools/commands/dlq.ts';
import { main } from '../../tools/payouts-cli.ts';
import {
  attemptsFor,
  insertMentor,
  insertSession,
  seedPayout,
  sessionPayoutStatus,
} from '../helpers/factories.ts';
import { recordingLog, testPayoutConfig } from '../helpers/fakes.ts';
import { captureLogs } from '../helpers/log-capture.ts';
import { type Pipeline, sqsEvent, startPipeline } from '../helpers/pipeline.ts';
import { receiveAllSessionIds } from '../helpers/sqs.ts';

function bufferOutput(): Output & { stdout: string[]; stderr: string[]; text(): string } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    isTTY: false,
    columns: undefined,
    colour: false,
    errorColour: false,
    log: (text) => stdout.push(text),
    error: (text) => stderr.push(text),
    text: () => stdout.join('\n'),
  };
}

describe('payouts CLI', () => {
  let pipeline: Pipeline;
  let env: Record<string, string>;

  beforeAll(async () => {
    pipeline = await startPipeline();
    pipeline.stripe.setAccount(DEMO_ACCOUNTS.active, 'active');
    pipeline.stripe.setAccount(DEMO_ACCOUNTS.restricted, 'restricted');
    await seedDemoData(pipeline.database.db, new Date());
    // As `npm start -- --keep` writes it for `payouts --env local`.
    env = localPipelineEnv({
      databaseUrl: pipeline.database.urls.operator,
      queueUrl: pipeline.sqs.queueUrl,
      dlqUrl: pipeline.sqs.dlqUrl,
      stripeApiBase: pipeline.stripe.url,
      sqsEndpoint: pipeline.sqs.endpoint,
    });
    const logs = captureLogs();
    await pipeline.scan();
    await pipeline.drain();
    logs.stop();
  });
  afterAll(async () => pipeline.stop());
  beforeEach(async () => {
    await pipeline.purgeQueues();
  });

  async function cli(...argv: string[]) {
    const out = bufferOutput();
    const code = await main(argv, { env, out });
    return { code, out };
  }

  const sendToDlq = (messageBody: string) =>
    pipeline.sqs.sqs.send(
      new SendMessageCommand({ QueueUrl: pipeline.sqs.dlqUrl, MessageBody: messageBody }),
    );

  describe('failures', () => {
    it('lists a transfer made for a session that changed since, for an admin to decide on a reversal', async () => {
      const { db } = pipeline.database;
      const mentorId = await insertMentor(db, { stripeAccountId: DEMO_ACCOUNTS.active });
      const sessionId = await insertSession(db, mentorId);
      const deps = {
        db,
        stripe: createStripeClient('sk_test_cli', pipeline.stripe.url),
        clock: systemClock,
        log: recordingLog(),
        config: testPayoutConfig(),
      };
      pipeline.stripe.dropNextAfterCreate(3); // created; every answer lost
      await paySession(deps, sessionId).catch(() => undefined);
      await db
        .updateTable('sessions')
        .set({ status: 'cancelled' })
        .where('id', '=', sessionId)
        .execute();
      await paySession(deps, sessionId);

      const { code, out } = await cli('failures', '--json');
      const text = await cli('failures');

      expect(code).toBe(0);
      expect(JSON.parse(out.text()).paidAfterChange).toMatchObject([
        { sessionId, amount: 8000, currency: 'usd', change: 'the session is now cancelled' },
      ]);
      expect(text.out.text()).toContain(
        '1 session(s) paid although they changed after the transfer was requested:',
      );
    });

    it('groups unpaid failed sessions by code with the amount owed and what to do', async () => {
      const { code, out } = await cli('failures');

      expect(code).toBe(0);
      expect(out.text()).toContain('2 unpaid session(s) with a failed payout');
      expect(out.text()).toContain(
        'insufficient_capabilities_for_transfer: 1 session(s), owed $72.00',
      );
      expect(out.text()).toContain(
        '→ Restricted account: ask the mentor to finish Stripe onboarding.',
      );
      expect(out.text()).toContain('no_connected_account: 1 session(s), owed $80.00');
      expect(out.text()).toContain(DEMO_SESSIONS.benRestricted);
    });

    it('prints JSON, newest first, filtered by code', async () => {
      const { code, out } = await cli('failures', '--code', 'no_connected_account', '--json');

      const report = JSON.parse(out.text());
      expect(code).toBe(0);
      expect(report.sessions).toMatchObject([
        {
          sessionId: DEMO_SESSIONS.cleoNoAccount,
          code: 'no_connected_account',
          owed: 8000,
          currency: 'usd',
        },
      ]);
      expect(report.byCode).toMatchObject([
        { code: 'no_connected_account', count: 1, owed: { usd: 8000 } },
      ]);
    });

    it('filters by mentor and leaves out sessions paid since their failure', async () => {
      const mentorId = await insertMentor(pipeline.database.db, { stripeAccountId: null });
      const sessionId = await insertSession(pipeline.database.db, mentorId);
      await pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)]));
      await pipeline.database.db
        .updateTable('sessions')
        .set({ payout_status: 'paid_out' })
        .where('id', '=', sessionId)
        .execute();

      const { out } = await cli('failures', '--mentor', mentorId, '--json');

      expect(JSON.parse(out.text()).sessions).toEqual([]);
    });
  });

  describe('relative times count back from now', () => {
    const HOUR = 3_600_000;
    const expectNear = (iso: string, msAgo: number) =>
      expect(Math.abs(Date.now() - msAgo - new Date(iso).getTime())).toBeLessThan(60_000);

    it.each([
      ['1h', HOUR],
      ['1d', 24 * HOUR],
      ['36h', 36 * HOUR],
    ])('failures --since %s starts that long before now', async (since, msAgo) => {
      const { code, out } = await cli('failures', '--since', since, '--json');

      expect(code).toBe(0);
      expectNear(JSON.parse(out.text()).since, msAgo);
    });

    it('failures without --since starts 7 days before now', async () => {
      const { out } = await cli('failures', '--json');

      expectNear(JSON.parse(out.text()).since, 7 * 24 * HOUR);
    });

    it('reconcile --since 1d --until 1h spans from a day ago to an hour ago', async () => {
      const { code, out } = await cli('reconcile', '--since', '1d', '--until', '1h', '--json');

      const report = JSON.parse(out.text());
      expect(code).toBe(0);
      expectNear(report.since, 24 * HOUR);
      expectNear(report.until, HOUR);
    });
  });

  describe('preview', () => {
    it('says what the next run would pay and skip, and changes nothing', async () => {
      const mentorId = await insertMentor(pipeline.database.db, {
        stripeAccountId: DEMO_ACCOUNTS.active,
      });
      const big = await insertSession(pipeline.database.db, mentorId, {
        price_amount: 50_000,
        currency: 'eur',
      });
      const attemptsBefore = await pipeline.database.db
        .selectFrom('payout_attempts')
        .select('id')
        .execute();

      const { code, out } = await cli('preview', '--json');

      const report = JSON.parse(out.text());
      expect(code).toBe(0);
      expect(report.paused).toBe(false);
      expect(report.largest[0]).toMatchObject({ sessionId: big, amount: 40_000, currency: 'eur' });
      expect(report.wouldPay.totals).toMatchObject({ eur: 40_000, usd: 7200 });
      expect(report.wouldFail).toContainEqual({
        code: 'no_connected_account',
        count: expect.any(Number),
        owed: expect.objectContaining({ usd: expect.any(Number) }),
      });
      expect(await receiveAllSessionIds(pipeline.sqs.sqs, pipeline.sqs.queueUrl)).toEqual([]);
      expect(
        await pipeline.database.db.selectFrom('payout_attempts').select('id').execute(),
      ).toHaveLength(attemptsBefore.length);
      await pipeline.database.db
        .updateTable('sessions')
        .set({ payout_status: 'not_payable' })
        .where('id', '=', big)
        .execute();
    });
  });

  describe('dlq', () => {
    it('lists dead letters with their session state without consuming them', async () => {
      await sendToDlq(payoutMessageBody(DEMO_SESSIONS.benRestricted));
      await sendToDlq('{"oops":1}');

      const first = await cli('dlq', 'list', '--json');
      const second = await cli('dlq', 'list', '--json');

      const entries = JSON.parse(first.out.text()).messages;
      expect(entries).toHaveLength(2);
      expect(entries).toContainEqual(
        expect.objectContaining({
          sessionId: DEMO_SESSIONS.benRestricted,
          payoutStatus: 'pending',
          lastAttempt: 'failed (insufficient_capabilities_for_transfer)',
        }),
      );
      expect(entries).toContainEqual(
        expect.objectContaining({ sessionId: null, body: '{"oops":1}' }),
      );
      expect(JSON.parse(second.out.text()).messages).toHaveLength(2);
    });

    it('says how many dead letters there are in all when it shows fewer', async () => {
      for (const sessionId of [DEMO_SESSIONS.benRestricted, DEMO_SESSIONS.adaUsd]) {
        await sendToDlq(payoutMessageBody(sessionId));
      }
      await sendToDlq('{"oops":1}');

      const text = await cli('dlq', 'list', '--max', '2');
      const json = await cli('dlq', 'list', '--max', '2', '--json');

      expect(text.out.stdout[0]).toBe('2 of 3 dead-lettered message(s):');
      expect(JSON.parse(json.out.text())).toMatchObject({ total: 3, shown: 2 });
    });

    it('counts dead letters another reader holds (a running redrive) instead of saying 0', async () => {
      await sendToDlq(payoutMessageBody(DEMO_SESSIONS.benRestricted));
      await pipeline.sqs.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: pipeline.sqs.dlqUrl, VisibilityTimeout: 300 }),
      );

      const text = await cli('dlq', 'list');
      const json = await cli('dlq', 'list', '--json');

      expect(text.out.stdout[0]).toBe(
        '0 of 1 dead-lettered message(s); 1 held by another reader (a redrive?) are not shown:',
      );
      expect(JSON.parse(json.out.text())).toMatchObject({ total: 1, heldElsewhere: 1, shown: 0 });
    });

    it('removes malformed dead letters for good, each saved to the file it names first', async () => {
      await sendToDlq('{"oops":1}');
      await sendToDlq('not json');
      await sendToDlq(payoutMessageBody(DEMO_SESSIONS.benRestricted));
      const file = join(mkdtempSync(join(tmpdir(), 'payouts-dlq-')), 'removed.jsonl');

      const { code, out } = await cli('dlq', 'remove', '--malformed', '--to', file);

      expect(code).toBe(0);
      expect(out.text()).toBe(`Removed 2 message(s) from the DLQ; each was saved first to ${file}`);
      const saved = readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(saved.map((entry) => entry.body).sort()).toEqual(['not json', '{"oops":1}']);
      expect(saved[0]).toMatchObject({
        messageId: expect.any(String),
        removedAt: expect.any(String),
      });
      expect(await pipeline.deadLetters()).toEqual([
        payoutMessageBody(DEMO_SESSIONS.benRestricted),
      ]);
    });

    it('removes a dead letter by its message id, and exits 1 naming an id not in the DLQ', async () => {
      await sendToDlq('{"oops":1}');
      await sendToDlq(payoutMessageBody(DEMO_SESSIONS.benRestricted));
      const listed = JSON.parse((await cli('dlq', 'list', '--json')).out.text()).messages;
      const malformed = listed.find((entry: { sessionId: string | null }) => !entry.sessionId);
      const file = join(mkdtempSync(join(tmpdir(), 'payouts-dlq-')), 'removed.jsonl');

      const { code, out } = await cli(
        'dlq',
        'remove',
        malformed.messageId,
        'no-such-message',
        '--to',
        file,
        '--json',
      );

      expect(code).toBe(1);
      expect(JSON.parse(out.text())).toMatchObject({
        removed: [{ messageId: malformed.messageId, body: '{"oops":1}' }],
        notFound: ['no-such-message'],
      });
      expect(out.stderr).toEqual(['Not in the DLQ: no-such-message']);
      expect(await pipeline.deadLetters()).toEqual([
        payoutMessageBody(DEMO_SESSIONS.benRestricted),
      ]);
    });

    it('changes nothing with --dry-run', async () => {
      await sendToDlq(payoutMessageBody(DEMO_SESSIONS.benRestricted));

      const { out } = await cli('dlq', 'redrive', '--dry-run');

      expect(out.text()).toBe(
        'Would redrive 1 message(s) to the payout queue; 0 already settled would be removed; 0 malformed left in the DLQ.',
      );
      expect(await pipeline.deadLetters()).toEqual([
        payoutMessageBody(DEMO_SESSIONS.benRestricted),
      ]);
      expect(await receiveAllSessionIds(pipeline.sqs.sqs, pipeline.sqs.queueUrl)).toEqual([]);
    });

    it('redrives pending sessions, drops settled ones, leaves malformed bodies', async () => {
      await sendToDlq(payoutMessageBody(DEMO_SESSIONS.benRestricted));
      await sendToDlq(payoutMessageBody(DEMO_SESSIONS.adaUsd));
      await sendToDlq('not json');

      const { code, out } = await cli('dlq', 'redrive', '--json');

      expect(code).toBe(0);
      expect(JSON.parse(out.text())).toEqual({
        dryRun: false,
        redriven: 1,
        alreadySettled: 1,
        malformedLeft: 1,
        interrupted: false,
      });
      expect(await receiveAllSessionIds(pipeline.sqs.sqs, pipeline.sqs.queueUrl)).toEqual([
        DEMO_SESSIONS.benRestricted,
      ]);
      expect(await pipeline.deadLetters()).toEqual(['not json']);
    });

    it('loses nothing and pays nothing twice when a redrive is interrupted and run again', async () => {
      const mentorId = await insertMentor(pipeline.database.db, {
        stripeAccountId: DEMO_ACCOUNTS.active,
      });
      const sessions: string[] = [];
      for (let index = 0; index < 5; index += 1)
        sessions.push(await insertSession(pipeline.database.db, mentorId));
      for (const sessionId of sessions) await sendToDlq(payoutMessageBody(sessionId));
      const deps = await createCliDeps(env, bufferOutput());
      let sent = 0;

      // The operator's laptop dies after the third send, before that message left the DLQ.
      const interrupted = redriveDlq(
        deps,
        { dryRun: false, max: 100, rate: 0 },
        {
          afterSend: () => {
            sent += 1;
            if (sent === 3) throw new Error('connection lost');
          },
        },
      );
      await expect(interrupted).rejects.toThrow('connection lost');
      await deps.close();
      const rerun = await cli('dlq', 'redrive', '--json');
      const logs = captureLogs();
      await pipeline.drain();
      logs.stop();

      expect(JSON.parse(rerun.out.text()).redriven).toBe(3);
      expect(await pipeline.deadLetters()).toEqual([]);
      const transfers = pipeline.stripe
        .transfers()
        .filter((t) => sessions.includes(t.metadata.session_id ?? ''));
      expect(transfers).toHaveLength(5);
      expect(new Set(transfers.map((t) => t.metadata.session_id)).size).toBe(5);
    });

    it('pays nothing when the redriven session was already paid', async () => {
      await sendToDlq(payoutMessageBody(DEMO_SESSIONS.adaJpy));
      const before = pipeline.stripe.transfers().length;

      await cli('dlq', 'redrive');
      await pipeline.drain();

      expect(pipeline.stripe.transfers()).toHaveLength(before);
      expect(await pipeline.deadLetters()).toEqual([]);
    });
  });

  describe('retry', () => {
    it('enqueues an eligible session', async () => {
      const { code, out } = await cli('retry', DEMO_SESSIONS.benRestricted);

      expect(code).toBe(0);
      expect(out.text()).toBe(
        `Enqueued session ${DEMO_SESSIONS.benRestricted}: $72.00 to ${DEMO_ACCOUNTS.restricted}.`,
      );
      expect(await receiveAllSessionIds(pipeline.sqs.sqs, pipeline.sqs.queueUrl)).toEqual([
        DEMO_SESSIONS.benRestricted,
      ]);
    });

    it.each([
      [DEMO_SESSIONS.adaUsd, 'Not enqueued: the session is already paid out.'],
      [
        DEMO_SESSIONS.adaTooRecent,
        'Not enqueued: the session ended less than PAYOUT_GRACE_HOURS ago.',
      ],
      [DEMO_SESSIONS.adaCancelled, 'Not enqueued: the session is not confirmed.'],
      [
        DEMO_SESSIONS.cleoNoAccount,
        'Not enqueued: no_connected_account: The mentor has no connected Stripe account.',
      ],
      ['4b1c0e1e-0000-4000-8000-000000000000', 'Not enqueued: no session has this id.'],
    ])('refuses %s with a clear reason and exit code 1', async (sessionId, reason) => {
      const { code, out } = await cli('retry', sessionId);

      expect(code).toBe(1);
      expect(out.stderr).toEqual([reason]);
      expect(await receiveAllSessionIds(pipeline.sqs.sqs, pipeline.sqs.queueUrl)).toEqual([]);
    });
  });

  describe('retry takes the transfer Lambda’s own decision', () => {
    it('enqueues a cancelled session whose earlier transfer request has no answer yet: the Lambda settles it', async () => {
      const { db } = pipeline.database;
      const mentorId = await insertMentor(db, { stripeAccountId: DEMO_ACCOUNTS.active });
      const sessionId = await insertSession(db, mentorId, { status: 'cancelled' });
      await seedPayout(db, sessionId, { destination: DEMO_ACCOUNTS.active });

      const { code, out } = await cli('retry', sessionId);

      expect(code).toBe(0);
      expect(out.text()).toBe(
        `Enqueued session ${sessionId}: its unfinished generation 1 ($80.00 to ${DEMO_ACCOUNTS.active}) will be resent with the same key.`,
      );
      expect(await receiveAllSessionIds(pipeline.sqs.sqs, pipeline.sqs.queueUrl)).toEqual([
        sessionId,
      ]);
    });

    it('refuses while payouts are paused: the Lambda would move no money', async () => {
      await cli('pause', '--reason', 'incident');
      try {
        const { code, out } = await cli('retry', DEMO_SESSIONS.benRestricted);

        expect(code).toBe(1);
        expect(out.stderr).toEqual([
          'Not enqueued: payouts are paused (run npx payouts resume first).',
        ]);
        expect(await receiveAllSessionIds(pipeline.sqs.sqs, pipeline.sqs.queueUrl)).toEqual([]);
      } finally {
        await cli('resume');
      }
    });
  });

  describe('pause and resume say what they changed', () => {
    it('refuses to pause over a pause, keeping who and why, unless --replace', async () => {
      await cli('pause', '--reason', 'first incident');
      try {
        const again = await cli('pause', '--reason', 'second', '--json');
        const replaced = await cli('pause', '--reason', 'second', '--replace');
        const status = JSON.parse((await cli('status', '--json')).out.text());

        expect(again.code).toBe(1);
        expect(JSON.parse(again.out.text())).toMatchObject({
          changed: false,
          paused: true,
          reason: 'first incident',
        });
        expect(again.out.stderr[0]).toMatch(
          /^Not changed: payouts are already PAUSED by .+: first incident\. To replace who and why: add --replace\.$/,
        );
        expect(replaced.code).toBe(0);
        expect(status.pausedReason).toBe('second');
      } finally {
        await cli('resume');
      }
    });

    it('says nothing was resumed when nothing was paused, with a non-zero exit', async () => {
      const { code, out } = await cli('resume');

      expect(code).toBe(1);
      expect(out.stdout).toEqual([]);
      expect(out.stderr[0]).toMatch(/^Not changed: payouts are not paused/);
    });

    it('refuses retry while the functions run with PAYOUTS_PAUSED=true, and status says so', async () => {
      const pausedEnv = { ...env, PAYOUTS_PAUSED: 'true' };
      const out = bufferOutput();
      const statusOut = bufferOutput();

      const code = await main(['retry', DEMO_SESSIONS.benRestricted], { env: pausedEnv, out });
      await main(['status'], { env: pausedEnv, out: statusOut });

      expect(code).toBe(1);
      expect(out.stderr).toEqual([
        'Not enqueued: payouts are paused (PAYOUTS_PAUSED=true on the functions).',
      ]);
      expect(await receiveAllSessionIds(pipeline.sqs.sqs, pipeline.sqs.queueUrl)).toEqual([]);
      expect(statusOut.text()).toContain('Payouts: PAUSED by PAYOUTS_PAUSED=true on the functions');
    });

    it('pause, resume and retry print only JSON on stdout with --json', async () => {
      const paused = await cli('pause', '--reason', 'json check', '--json');
      const retry = await cli('retry', DEMO_SESSIONS.benRestricted, '--json');
      const resumed = await cli('resume', '--json');

      expect(JSON.parse(paused.out.text())).toMatchObject({ changed: true, paused: true });
      expect(JSON.parse(retry.out.text())).toMatchObject({ enqueued: false, stop: 'paused' });
      expect(retry.code).toBe(1);
      expect(JSON.parse(resumed.out.text())).toMatchObject({ changed: true, paused: false });
    });
  });

  describe('pause, resume, status', () => {
    it('pauses the scan and the transfer Lambda without a redeploy, and resumes them', async () => {
      const mentorId = await insertMentor(pipeline.database.db, {
        stripeAccountId: DEMO_ACCOUNTS.active,
      });
      const sessionId = await insertSession(pipeline.database.db, mentorId);

      const paused = await cli('pause', '--reason', 'Stripe incident INC-42');
      const status = await cli('status', '--json');
      const logs = captureLogs();
      const scan = await pipeline.scan();
      const held = await pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)]));
      logs.stop();
      const resumed = await cli('resume');
      const after = await cli('status');

      expect(paused.code).toBe(0);
      expect(paused.out.text()).toContain('Payouts PAUSED by');
      expect(JSON.parse(status.out.text())).toMatchObject({
        paused: true,
        pausedReason: 'Stripe incident INC-42',
      });
      expect(scan.enqueued).toBe(0);
      expect(held.batchItemFailures).toEqual([]);
      expect(await attemptsFor(pipeline.database.db, sessionId)).toEqual([]);
      expect(
        pipeline.stripe.transfers().filter((t) => t.metadata.session_id === sessionId),
      ).toEqual([]);
      expect(resumed.code).toBe(0);
      expect(after.out.text()).toContain('Payouts: running');
      await pipeline.database.db
        .updateTable('sessions')
        .set({ payout_status: 'not_payable' })
        .where('id', '=', sessionId)
        .execute();
    });

    it('shows queue and DLQ depth and the last scan', async () => {
      await sendToDlq('{"x":1}');

      const { code, out } = await cli('status', '--json');

      const status = JSON.parse(out.text());
      expect(code).toBe(0);
      expect(status.dlq).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
      expect(status.queue).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
      expect(status.lastScan).toMatchObject({ finishedAt: expect.any(String), error: null });
    });
  });

  describe('hold and release', () => {
    // Who the CLI records (process.env, as on an operator's machine); the pipeline's own stubbed
    // variables stay as they are.
    const operatorBefore = process.env.PAYOUTS_OPERATOR;
    const actAs = (name: string) => {
      process.env.PAYOUTS_OPERATOR = name;
    };
    beforeEach(() => {
      actAs('ana');
      return () => {
        if (operatorBefore === undefined) delete process.env.PAYOUTS_OPERATOR;
        else process.env.PAYOUTS_OPERATOR = operatorBefore;
      };
    });

    /** A mentor with an active account and `sessions` eligible sessions of $100.00 each. */
    async function mentorWithSessions(sessions: number) {
      const { db } = pipeline.database;
      const mentorId = await insertMentor(db, { stripeAccountId: DEMO_ACCOUNTS.active });
      const sessionIds: string[] = [];
      for (let index = 0; index < sessions; index += 1)
        sessionIds.push(await insertSession(db, mentorId));
      return { mentorId, sessionIds };
    }
    /** Leaves the sessions out of later tests' totals. */
    const settle = (sessionIds: string[]) =>
      pipeline.database.db
        .updateTable('sessions')
        .set({ payout_status: 'not_payable' })
        .where('id', 'in', sessionIds)
        .where('payout_status', '=', 'pending')
        .execute();

    it('holds a mentor, recording who, when and why; status shows the hold and the sessions it keeps waiting', async () => {
      const { mentorId, sessionIds } = await mentorWithSessions(2);
      try {
        const held = await cli('hold', '--mentor', mentorId, '--reason', 'fraud review FR-7');
        const status = await cli('status');
        const json = JSON.parse((await cli('status', '--json')).out.text());

        expect(held.code).toBe(0);
        expect(held.out.stdout[0]).toMatch(
          new RegExp(`^Mentor ${mentorId} ON HOLD by ana .+\\): fraud review FR-7$`),
        );
        expect(held.out.text()).toContain(`npx payouts release --mentor ${mentorId}`);
        const row = await pipeline.database.db
          .selectFrom('mentor_holds')
          .selectAll()
          .where('mentor_id', '=', mentorId)
          .executeTakeFirstOrThrow();
        expect(row).toMatchObject({
          reason: 'fraud review FR-7',
          held_by: 'ana',
          released_at: null,
        });
        expect(Math.abs(row.held_at.getTime() - Date.now())).toBeLessThan(60_000);
        expect(status.out.text()).toMatch(/^Mentors on hold: \d+, with \d+ eligible session\(s\)/m);
        expect(status.out.text()).toMatch(
          new RegExp(
            `^  ${mentorId}: by ana .+: fraud review FR-7; 2 eligible session\\(s\\)$`,
            'm',
          ),
        );
        expect(json.heldMentors).toContainEqual({
          mentorId,
          reason: 'fraud review FR-7',
          heldBy: 'ana',
          heldAt: row.held_at.toISOString(),
          eligibleSessions: 2,
        });
      } finally {
        await cli('release', '--mentor', mentorId);
        await settle(sessionIds);
      }
    });

    it('refuses to hold a held mentor, keeping the first hold’s who and why, with exit 1', async () => {
      const { mentorId } = await mentorWithSessions(0);
      await cli('hold', '--mentor', mentorId, '--reason', 'first reason');
      try {
        actAs('bo');
        const again = await cli('hold', '--mentor', mentorId, '--reason', 'second reason');
        const json = await cli('hold', '--mentor', mentorId, '--reason', 'third', '--json');

        expect(again.code).toBe(1);
        expect(again.out.stdout).toEqual([]);
        expect(again.out.stderr).toHaveLength(1);
        expect(again.out.stderr[0]).toMatch(
          new RegExp(
            `^Not changed: mentor ${mentorId} is already ON HOLD by ana .+: first reason\\. To change who or why: release, then hold again\\.$`,
          ),
        );
        expect(json.code).toBe(1);
        expect(JSON.parse(json.out.text())).toMatchObject({
          changed: false,
          mentorId,
          reason: 'first reason',
          heldBy: 'ana',
        });
        const active = await pipeline.database.db
          .selectFrom('mentor_holds')
          .select(['reason', 'held_by'])
          .where('mentor_id', '=', mentorId)
          .where('released_at', 'is', null)
          .execute();
        expect(active).toEqual([{ reason: 'first reason', held_by: 'ana' }]);
      } finally {
        await cli('release', '--mentor', mentorId);
      }
    });

    it('releases a hold, recording who and why, and says so when the mentor is not on hold (exit 1)', async () => {
      const { mentorId } = await mentorWithSessions(0);
      await cli('hold', '--mentor', mentorId, '--reason', 'chargeback check');
      actAs('bo');

      const released = await cli('release', '--mentor', mentorId, '--reason', 'cleared');
      const again = await cli('release', '--mentor', mentorId);
      const againJson = await cli('release', '--mentor', mentorId, '--json');

      expect(released.code).toBe(0);
      expect(released.out.stdout[0]).toMatch(
        new RegExp(`^Mentor ${mentorId} released by bo \\(held by ana .+: chargeback check\\)\\.$`),
      );
      expect(
        await pipeline.database.db
          .selectFrom('mentor_holds')
          .select(['released_by', 'release_reason'])
          .where('mentor_id', '=', mentorId)
          .execute(),
      ).toEqual([{ released_by: 'bo', release_reason: 'cleared' }]);
      expect(again.code).toBe(1);
      expect(again.out.stdout).toEqual([]);
      expect(again.out.stderr).toEqual([`Not changed: mentor ${mentorId} is not on hold.`]);
      expect(againJson.code).toBe(1);
      expect(JSON.parse(againJson.out.text())).toEqual({ changed: false, mentorId });
    });

    it.each([['hold', '--reason', 'typo'], ['release']])(
      '%s of a mentor id no mentor has is a usage error naming it (exit 2)',
      async (...command) => {
        const unknown = '0b6f4a52-8d3e-4c1a-9f2e-6a7d1c3b5e90';

        const { code, out } = await cli(command[0] ?? '', '--mentor', unknown, ...command.slice(1));

        expect(code).toBe(2);
        expect(out.stdout).toEqual([]);
        expect(out.stderr).toEqual([
          `error: option '--mentor <id>': no mentor has the id ${unknown} (see --help)`,
        ]);
        expect(
          await pipeline.database.db
            .selectFrom('mentor_holds')
            .select('id')
            .where('mentor_id', '=', unknown)
            .execute(),
        ).toEqual([]);
      },
    );

    it('a held mentor’s sessions fail with mentor_on_hold without a Stripe request, and are paid after the release', async () => {
      const { mentorId, sessionIds } = await mentorWithSessions(1);
      const sessionId = sessionIds[0] ?? '';
      const posts = () =>
        pipeline.stripe
          .requests()
          .filter((r) => r.method === 'POST' && r.params['metadata[session_id]'] === sessionId);
      await cli('hold', '--mentor', mentorId, '--reason', 'fraud review');

      const logs = captureLogs();
      await pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)]));
      logs.stop();
      const failures = await cli('failures', '--mentor', mentorId);
      const attemptsWhileHeld = await attemptsFor(pipeline.database.db, sessionId);
      const postsWhileHeld = posts().length;
      await cli('release', '--mentor', mentorId);
      const quiet = captureLogs();
      await pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)]));
      quiet.stop();

      expect(attemptsWhileHeld).toMatchObject([
        { outcome: 'failed', error_code: 'mentor_on_hold' },
      ]);
      expect(postsWhileHeld).toBe(0);
      expect(failures.out.text()).toContain('mentor_on_hold: 1 session(s), owed $80.00');
      expect(failures.out.text()).toContain(
        '→ An admin holds this mentor’s payouts (npx payouts status says who and why): once reviewed, npx payouts release --mentor <mentorId>.',
      );
      expect(await sessionPayoutStatus(pipeline.database.db, sessionId)).toBe('paid_out');
    });

    it('preview plans as the transfer path does: a held mentor’s and a not-ready account’s sessions would fail, not be paid', async () => {
      const { db } = pipeline.database;
      const held = await mentorWithSessions(2);
      const notReadyAccount = `acct_notready_${Date.now()}`;
      const notReady = await insertMentor(db, { stripeAccountId: notReadyAccount });
      const notReadySession = await insertSession(db, notReady, { price_amount: 5_000 });
      await recordAccountObservation(
        db,
        {
          accountId: notReadyAccount,
          transfersCapability: 'inactive',
          payoutsEnabled: false,
          disabledReason: 'requirements.past_due',
          observedAt: new Date(),
        },
        new Date(),
      );
      await cli('hold', '--mentor', held.mentorId, '--reason', 'fraud review');
      try {
        const { code, out } = await cli('preview', '--json');
        const text = await cli('preview');

        const report = JSON.parse(out.text());
        expect(code).toBe(0);
        expect(report.wouldFail).toContainEqual({
          code: 'mentor_on_hold',
          count: 2,
          owed: { usd: 16_000 },
        });
        expect(report.wouldFail).toContainEqual({
          code: 'account_not_ready',
          count: 1,
          owed: { usd: 4_000 },
        });
        const paying = report.largest.map((row: { sessionId: string }) => row.sessionId);
        for (const sessionId of [...held.sessionIds, notReadySession])
          expect(paying).not.toContain(sessionId);
        expect(text.out.text()).toContain(
          'Would fail 2 (held for admin review, no Stripe request): mentor_on_hold, owed $160.00',
        );
        expect(text.out.text()).toContain(
          'Would fail 1 (held for admin review, no Stripe request): account_not_ready, owed $40.00',
        );
      } finally {
        await cli('release', '--mentor', held.mentorId);
        await settle([...held.sessionIds, notReadySession]);
      }
    });

    it('retry refuses a held mentor’s or a not-ready account’s session in one line, enqueueing nothing', async () => {
      const { db } = pipeline.database;
      const held = await mentorWithSessions(1);
      const notReadyAccount = `acct_notready_retry_${Date.now()}`;
      const notReady = await insertMentor(db, { stripeAccountId: notReadyAccount });
      const notReadySession = await insertSession(db, notReady);
      await recordAccountObservation(
        db,
        {
          accountId: notReadyAccount,
          transfersCapability: 'inactive',
          payoutsEnabled: false,
          disabledReason: null,
          observedAt: new Date(),
        },
        new Date(),
      );
      await cli('hold', '--mentor', held.mentorId, '--reason', 'fraud review');
      try {
        const heldRetry = await cli('retry', held.sessionIds[0] ?? '');
        const notReadyRetry = await cli('retry', notReadySession);

        expect(heldRetry.code).toBe(1);
        expect(heldRetry.out.stderr).toHaveLength(1);
        expect(heldRetry.out.stderr[0]).toMatch(
          /^Not enqueued: mentor_on_hold: Payouts to this mentor are on hold since \S+ \(ana\): fraud review\.$/,
        );
        expect(notReadyRetry.code).toBe(1);
        expect(notReadyRetry.out.stderr).toEqual([
          `Not enqueued: account_not_ready: Stripe last reported account ${notReadyAccount} without an active transfers capability.`,
        ]);
        expect(await receiveAllSessionIds(pipeline.sqs.sqs, pipeline.sqs.queueUrl)).toEqual([]);
      } finally {
        await cli('release', '--mentor', held.mentorId);
        await settle([...held.sessionIds, notReadySession]);
      }
    });
  });

  describe('reversals', () => {
    it('status, failures and reconcile show a reversed payout; reconcile lists it apart from mismatches and --fix pays nothing again', async () => {
      const { db } = pipeline.database;
      const mentorId = await insertMentor(db, { stripeAccountId: DEMO_ACCOUNTS.active });
      const sessionId = await insertSession(db, mentorId);
      const logs = captureLogs();
      await pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)]));
      const transfer = pipeline.stripe
        .transfers()
        .find((candidate) => candidate.metadata.session_id === sessionId);
      if (!transfer) throw new Error('the session was not paid');
      const before = pipeline.stripe.events().length;
      const stripe = createStripeClient('sk_test_cli', pipeline.stripe.url);
      const reversal = await stripe.transfers.createReversal(transfer.id, { amount: 8000 });
      await pipeline.stripeEvents(pipeline.stripe.events().slice(before));
      logs.stop();

      const status = await cli('status');
      const statusJson = JSON.parse((await cli('status', '--json')).out.text());
      const failures = await cli('failures', '--mentor', mentorId);
      const failuresJson = JSON.parse(
        (await cli('failures', '--mentor', mentorId, '--json')).out.text(),
      );
      const reconciled = await cli('reconcile', '--since', '1h', '--json');
      const fixed = await cli('reconcile', '--since', '1h', '--fix');

      expect(status.out.text()).toMatch(
        /^Reversed at Stripe in the last 7 d: \d+ \(.*\$80\.00.*\); npx payouts failures lists them$/m,
      );
      expect(statusJson.reversals.count).toBeGreaterThanOrEqual(1);
      expect(failuresJson.reversed).toEqual([
        {
          sessionId,
          mentorId,
          transferId: transfer.id,
          reversalId: reversal.id,
          amount: 8000,
          currency: 'usd',
          reversedAt: new Date(reversal.created * 1000).toISOString(),
        },
      ]);
      expect(failures.out.text()).toContain(
        '1 payout(s) reversed at Stripe ($80.00 taken back from the mentors):',
      );
      expect(failures.out.text()).toContain(reversal.id);
      const report = JSON.parse(reconciled.out.text());
      expect(reconciled.code).toBe(0);
      expect(report.mismatches).toEqual([]);
      expect(report.reversed).toContainEqual({
        sessionId,
        transferId: transfer.id,
        amount: 8000,
        amountReversed: 8000,
        currency: 'usd',
        recordedReversalIds: [reversal.id],
        unrecordedAmount: 0,
      });
      expect(fixed.code).toBe(0);
      expect(fixed.out.text()).toContain(
        'transfer(s) reversed at Stripe (not mismatches; nothing to fix, none is paid again):',
      );
      expect(fixed.out.text()).toContain('No mismatches.');
      expect(
        pipeline.stripe.transfers().filter((t) => t.metadata.session_id === sessionId),
      ).toHaveLength(1);
      expect(await sessionPayoutStatus(db, sessionId)).toBe('paid_out');
    });
  });

  describe('bad arguments', () => {
    it.each([
      [['nonsense'], "error: unknown command 'nonsense'"],
      [['dlq', 'list', '--max', '0'], "error: option '--max <n>' argument '0' is invalid"],
      [['pause'], "error: required option '--reason <text>' not specified"],
      [['--env', 'qa', 'status'], "error: option '--env <name>' argument 'qa' is invalid"],
      [
        ['failures', '--since', 'last week'],
        "error: option '--since <when>' argument 'last week' is invalid",
      ],
      [['retry'], "error: missing required argument 'sessionId'"],
      [
        ['retry', 'not-a-session'],
        "error: command-argument value 'not-a-session' is invalid for argument 'sessionId'",
      ],
      [['failures', '--mentor', 'bob'], "error: option '--mentor <id>' argument 'bob' is invalid"],
      [['failures', '--code', 'Bad code'], "error: option '--code <code>' argument 'Bad code'"],
      [
        ['reconcile', '--since', '2026-02-30'],
        "error: option '--since <when>' argument '2026-02-30' is invalid",
      ],
      [['reconcile', '--since', '1h', '--until', '1d'], "error: option '--until <when>' ("],
      [['reconcile', '--since', '2026-11-02', '--until', '2026-11-01'], 'is not after --since'],
      [['dlq', 'remove'], 'error: dlq remove needs message ids or --malformed'],
      [
        ['hold', '--mentor', '11111111-1111-4111-8111-111111111111'],
        "error: required option '--reason <text>' not specified",
      ],
      [['hold', '--reason', 'x'], "error: required option '--mentor <id>' not specified"],
      [
        ['hold', '--mentor', 'bob', '--reason', 'x'],
        "error: option '--mentor <id>' argument 'bob' is invalid",
      ],
      [
        ['hold', '--mentor', '11111111-1111-4111-8111-111111111111', '--reason', ' '],
        "error: option '--reason <text>' argument ' ' is invalid",
      ],
      [['release'], "error: required option '--mentor <id>' not specified"],
    ])('%j is a usage error: one line naming it, exit code 2', async (argv, message) => {
      const { code, out } = await cli(...argv);

      expect(code).toBe(2);
      expect(out.stderr).toHaveLength(1);
      expect(out.stderr[0]?.split('\n')).toHaveLength(1);
      expect(out.stderr[0]).toContain(message);
      expect(out.stdout).toEqual([]);
    });

    it('prints the version with exit code 0', async () => {
      const { code, out } = await cli('--version');

      expect(code).toBe(0);
      expect(out.stdout).toEqual([
        JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version,
      ]);
    });

    it('names a missing variable with exit code 1', async () => {
      const out = bufferOutput();

      const code = await main(['dlq', 'list'], { env: { ...env, PAYOUT_DLQ_URL: '' }, out });

      expect(code).toBe(1);
      expect(out.stderr).toEqual([
        'payouts: Invalid configuration: PAYOUT_DLQ_URL is required for this command',
      ]);
    });

    it('prints help with exit code 0', async () => {
      const { code, out } = await cli('--help');

      expect(code).toBe(0);
      expect(out.text()).toContain('dlq');
      expect(out.text()).toContain('reconcile');
    });
  });
});
