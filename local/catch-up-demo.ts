import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { Kysely } from 'kysely';
import type { Database } from '../shared/db/database.ts';
import { findAllAttempts, findAttemptsAfter } from '../shared/db/payout-attempts.repository.ts';
import type { PayoutAttempt } from '../shared/db/payout-attempts.table.ts';
import type { Output } from '../tools/cli-deps.ts';
import { formatMoney, printTable } from '../tools/commands/format.ts';
import { DEMO_ACCOUNTS } from './demo-data.ts';
import { drainQueue, type PollerOptions } from './lambda-poller.ts';
import type { LocalStripeEventDestination } from './stripe-event-destination.ts';
import type { StripeStandIn } from './stripe-stand-in/stripe-stand-in.ts';

/**
 * `npm start`, after the daily run: Ben finishes Stripe onboarding, so his restricted account can
 * receive transfers. Stripe emits `account.updated`, the event destination puts it on the
 * stripe-events queue, the real stripe-events handler reads the account and enqueues Ben's waiting
 * session, and the transfer handler pays it: no second scan, no wait for the next day. Resolves
 * to what went wrong on the way (nothing, normally), each naming where.
 */
export async function showCatchUp(
  out: Output,
  deps: {
    db: Kysely<Database>;
    stripe: StripeStandIn;
    destination: LocalStripeEventDestination;
    stripeEvents: PollerOptions;
    transfer: PollerOptions;
  },
): Promise<string[]> {
  const before = (await findAllAttempts(deps.db)).at(-1)?.id ?? '0';
  out.log(`\nBen finishes Stripe onboarding: ${DEMO_ACCOUNTS.restricted} becomes active.`);
  deps.stripe.setAccount(DEMO_ACCOUNTS.restricted, 'active');
  await deps.destination.delivered();
  out.log('Stripe sends account.updated through EventBridge to the stripe-events queue.');
  const events = await drainQueue(deps.stripeEvents);
  const enqueued = await waiting(deps.transfer);
  out.log(
    `Stripe events: ${events.invocations} invocation(s), ${events.acknowledged} event(s) handled, ` +
      `${enqueued} session(s) enqueued.`,
  );
  const transfers = await drainQueue(deps.transfer);
  out.log(
    `Transfer: ${transfers.invocations} invocation(s), ${transfers.acknowledged} message(s) ` +
      'acknowledged, without another scan.\n',
  );
  const attempts = await findAttemptsAfter(deps.db, before);
  out.log(
    `Caught up after account.updated (${attempts.length}):${attempts.length === 0 ? ' none' : ''}`,
  );
  printTable(
    out,
    [{ header: 'mentor' }, { header: 'session' }, { header: 'amount' }, { header: 'outcome' }],
    attempts.map((attempt) => [
      attempt.mentor_id,
      attempt.session_id,
      attempt.amount === null ? '' : formatMoney(Number(attempt.amount), attempt.currency ?? ''),
      outcome(attempt),
    ]),
  );
  return [
    ...deps.destination
      .failures()
      .map((failure) => `an event missed the stripe-events queue: ${failure}`),
    ...events.errors.map((error) => `the stripe-events Lambda failed: ${error}`),
    ...transfers.errors.map((error) => `the transfer Lambda failed: ${error}`),
  ];
}

function outcome(attempt: PayoutAttempt): string {
  // The outcome on its first line, the transfer or the code under it: no id is cut in two.
  const detail = attempt.outcome === 'paid' ? attempt.stripe_transfer_id : attempt.error_code;
  return detail ? `${attempt.outcome}\n${detail}` : attempt.outcome;
}

/** Messages on the queue, not yet received: what the stripe-events handler enqueued. */
async function waiting(queue: PollerOptions): Promise<number> {
  const { Attributes = {} } = await queue.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queue.queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages'],
    }),
  );
  return Number(Attributes.ApproximateNumberOfMessages ?? '0');
}
