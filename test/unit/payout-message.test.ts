import { describe, expect, it } from 'vitest';
import { parsePayoutMessage } from '../../lambdas/transfer/payout-message.ts';
import { MalformedMessageError } from '../../shared/errors.ts';

describe('parsePayoutMessage', () => {
  it('reads the session id from a well-formed body', () => {
    const body = '{"sessionId":"0f8fad5b-d9cb-469f-a165-70867728950e"}';
    expect(parsePayoutMessage(body)).toEqual({ sessionId: '0f8fad5b-d9cb-469f-a165-70867728950e' });
  });

  it.each([
    ['not json', 'body is not JSON'],
    ['{}', 'sessionId is missing'],
    ['{"sessionId":"abc"}', 'sessionId must be a uuid'],
    ['{"sessionId":42}', 'sessionId must be a uuid'],
    ['[]', 'body is not a JSON object'],
    ['null', 'body is not a JSON object'],
  ])('refuses %s with "%s"', (body, reason) => {
    expect(() => parsePayoutMessage(body)).toThrow(new MalformedMessageError(reason));
  });
});
