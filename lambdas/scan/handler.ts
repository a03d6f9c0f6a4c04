import type { Context, ScheduledEvent } from 'aws-lambda';
import { log, scanDeps } from './scan-deps.ts';
import { type ScanSummary, scanEligibleSessions } from './scan-eligible-sessions.ts';

/** The daily schedule → one scan that enqueues every eligible session. */
export async function handler(_event: ScheduledEvent, context: Context): Promise<ScanSummary> {
  log.addContext(context);
  return scanEligibleSessions(await scanDeps());
}
