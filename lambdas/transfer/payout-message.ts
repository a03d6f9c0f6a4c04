import { z } from 'zod';
import { MalformedMessageError } from '../../shared/errors.ts';

/** The body the scan puts on the payout queue: {"sessionId":"<uuid>"}. */
const payoutMessageSchema = z.object({
  // guid, not uuid: Postgres accepts any 8-4-4-4-12 hex value, whatever its version bits.
  sessionId: z.guid({ error: 'sessionId must be a uuid' }),
});

export type PayoutMessage = z.infer<typeof payoutMessageSchema>;

export function parsePayoutMessage(body: string): PayoutMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new MalformedMessageError('body is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new MalformedMessageError('body is not a JSON object');
  }
  if (!('sessionId' in json)) throw new MalformedMessageError('sessionId is missing');
  const result = payoutMessageSchema.safeParse(json);
  if (!result.success) {
    throw new MalformedMessageError(result.error.issues[0]?.message ?? 'body is malformed');
  }
  return result.data;
}
