import { z } from 'zod';
import { MalformedMessageError } from '../../shared/errors.ts';

/**
 * The SQS body the stripe-events queue carries: the EventBridge event a rule on the partner bus
 * matched, whose `detail` is the Stripe event and `detail-type` its type. Parsed here once; only
 * what payouts acts on is read, the rest of Stripe's objects is left alone.
 */

const reversalSchema = z.object({
  id: z.string().startsWith('trr_'),
  object: z.literal('transfer_reversal'),
  amount: z.number().int().positive(),
  created: z.number().int(),
  currency: z.string().min(1),
});

const transferSchema = z.object({
  id: z.string().startsWith('tr_'),
  object: z.literal('transfer'),
  metadata: z.record(z.string(), z.string()).nullish(),
  reversals: z.object({ data: z.array(reversalSchema), has_more: z.boolean() }),
});

const accountSchema = z.object({
  id: z.string().startsWith('acct_'),
  object: z.literal('account'),
});

const envelopeSchema = z.object({
  'detail-type': z.string(),
  source: z.string(),
  detail: z.object({
    id: z.string().startsWith('evt_'),
    object: z.literal('event'),
    type: z.string(),
    created: z.number().int(),
    account: z.string().optional(),
    data: z.object({ object: z.unknown() }),
  }),
});

export interface StripeEventHeader {
  id: string;
  type: string;
  created: Date;
  /** The connected account the event came from; null for the platform's own events. */
  account: string | null;
}

export interface ReportedReversal {
  id: string;
  amount: number;
  currency: string;
  created: Date;
}

export type StripeEventMessage =
  | { kind: 'account_updated'; event: StripeEventHeader; accountId: string }
  | {
      kind: 'transfer_changed';
      event: StripeEventHeader;
      transfer: {
        id: string;
        /** metadata[session_id] when it is a session id: only then is the transfer ours. */
        sessionId: string | undefined;
        /** The newest reversals (Stripe embeds up to 10 in the transfer). */
        reversals: ReportedReversal[];
        hasMoreReversals: boolean;
      };
    }
  /** A type the rules do not route here: acknowledged, nothing done. */
  | { kind: 'unhandled'; event: StripeEventHeader };

const TRANSFER_EVENTS = new Set(['transfer.reversed', 'transfer.updated']);

/** Throws MalformedMessageError for anything that is not a Stripe event from `expectedSource`. */
export function parseStripeEventMessage(body: string, expectedSource: string): StripeEventMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new MalformedMessageError('body is not JSON');
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success)
    throw malformed('not an EventBridge event holding a Stripe event', envelope);
  const { detail, source } = envelope.data;
  // Only Stripe can put events from an aws.partner/ source on the bus; any other is refused.
  if (source !== expectedSource) {
    throw new MalformedMessageError(`source ${source} is not the configured Stripe event source`);
  }
  if (envelope.data['detail-type'] !== detail.type) {
    throw new MalformedMessageError('detail-type differs from the Stripe event type');
  }
  const event: StripeEventHeader = {
    id: detail.id,
    type: detail.type,
    created: new Date(detail.created * 1000),
    account: detail.account ?? null,
  };
  if (detail.type === 'account.updated') {
    const account = accountSchema.safeParse(detail.data.object);
    if (!account.success) throw malformed('account.updated without an account', account);
    return { kind: 'account_updated', event, accountId: account.data.id };
  }
  if (TRANSFER_EVENTS.has(detail.type)) {
    const transfer = transferSchema.safeParse(detail.data.object);
    if (!transfer.success) throw malformed(`${detail.type} without a transfer`, transfer);
    const sessionId = transfer.data.metadata?.session_id;
    return {
      kind: 'transfer_changed',
      event,
      transfer: {
        id: transfer.data.id,
        sessionId: sessionId && z.guid().safeParse(sessionId).success ? sessionId : undefined,
        reversals: transfer.data.reversals.data.map((reversal) => ({
          id: reversal.id,
          amount: reversal.amount,
          currency: reversal.currency,
          created: new Date(reversal.created * 1000),
        })),
        hasMoreReversals: transfer.data.reversals.has_more,
      },
    };
  }
  return { kind: 'unhandled', event };
}

function malformed(what: string, result: { error?: z.ZodError }): MalformedMessageError {
  const issue = result.error?.issues[0];
  const where = issue ? ` (${issue.path.join('.') || 'body'}: ${issue.message})` : '';
  return new MalformedMessageError(`${what}${where}`);
}
