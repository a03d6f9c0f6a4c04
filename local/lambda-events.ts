import type { Context, ScheduledEvent } from 'aws-lambda';

/** What the daily schedule delivers to the scan Lambda. */
export function scheduledEvent(time = new Date()): ScheduledEvent {
  return {
    id: crypto.randomUUID(),
    version: '0',
    account: '000000000000',
    time: time.toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:scheduler:us-east-1:000000000000:schedule/default/payouts-daily-scan'],
    source: 'aws.scheduler',
    'detail-type': 'Scheduled Event',
    detail: {},
  };
}

/** Enough of a Lambda context for Powertools and our handlers. */
export function lambdaContext(functionName: string, remainingTimeMs = 300_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => remainingTimeMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
