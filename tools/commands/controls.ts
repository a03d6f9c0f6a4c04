import { userInfo } from 'node:os';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { readPayoutControls, setPaused } from '../../shared/db/payout-controls.repository.ts';
import { lastScanRun } from '../../shared/db/scan-runs.repository.ts';
import type { CliDeps } from '../cli-deps.ts';
import { printJson } from './format.ts';

function operator(): string {
  try {
    return process.env.PAYOUTS_OPERATOR ?? userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** The kill switch: the scan enqueues nothing and the transfer Lambda starts no new payout. */
export async function pauseCommand(deps: CliDeps, options: { reason: string }): Promise<number> {
  const controls = await setPaused(deps.db, {
    paused: true,
    reason: options.reason,
    changedBy: operator(),
    now: deps.clock.now(),
  });
  deps.out.log(
    `Payouts PAUSED by ${controls.changed_by} at ${controls.changed_at.toISOString()}: ${controls.reason}`,
  );
  deps.out.log(
    'Payouts already handed to Stripe finish; nothing new starts. Resume with: payouts resume',
  );
  return 0;
}

export async function resumeCommand(deps: CliDeps): Promise<number> {
  const controls = await setPaused(deps.db, {
    paused: false,
    reason: null,
    changedBy: operator(),
    now: deps.clock.now(),
  });
  deps.out.log(
    `Payouts resumed by ${controls.changed_by} at ${controls.changed_at.toISOString()}.`,
  );
  deps.out.log(
    'Sessions held while paused are enqueued by the next scan (or invoke the scan Lambda now).',
  );
  return 0;
}

async function depth(deps: CliDeps, queueUrl: string | undefined) {
  if (!queueUrl) return null;
  const { Attributes = {} } = await deps.sqs().send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

export async function statusCommand(deps: CliDeps, options: { json: boolean }): Promise<number> {
  const [controls, scan, queue, dlq] = await Promise.all([
    readPayoutControls(deps.db),
    lastScanRun(deps.db),
    depth(deps, deps.config.queueUrl),
    depth(deps, deps.config.dlqUrl),
  ]);
  const status = {
    paused: controls.paused,
    pausedReason: controls.reason,
    changedBy: controls.changed_by,
    changedAt: controls.changed_at.toISOString(),
    queue,
    dlq,
    lastScan: scan
      ? {
          startedAt: scan.started_at.toISOString(),
          finishedAt: scan.finished_at?.toISOString() ?? null,
          paused: scan.paused,
          enqueued: scan.enqueued,
          failed: scan.failed,
          pages: scan.pages,
          error: scan.error,
        }
      : null,
  };
  if (options.json) {
    printJson(deps.out, status);
    return 0;
  }
  deps.out.log(
    controls.paused
      ? `Payouts: PAUSED by ${controls.changed_by} at ${status.changedAt} (${controls.reason ?? 'no reason given'})`
      : 'Payouts: running',
  );
  deps.out.log(
    `Payout queue: ${queue ? `${queue.visible} waiting, ${queue.inFlight} in flight` : 'unknown (PAYOUT_QUEUE_URL not set)'}`,
  );
  deps.out.log(
    `Dead-letter queue: ${dlq ? `${dlq.visible + dlq.inFlight} message(s)` : 'unknown (PAYOUT_DLQ_URL not set)'}`,
  );
  const last = status.lastScan;
  deps.out.log(
    last
      ? `Last scan: started ${last.startedAt}, ${last.finishedAt ? `finished ${last.finishedAt}` : 'NOT FINISHED'}; ${last.paused ? 'paused, ' : ''}enqueued ${last.enqueued} in ${last.pages} page(s)${last.error ? `; error: ${last.error}` : ''}`
      : 'Last scan: none recorded',
  );
  return 0;
}
