import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { SingleBar } from 'cli-progress';
import { parsePayoutMessage } from '../../lambdas/transfer/payout-message.ts';
import { findLatestAttempts } from '../../shared/db/payout-attempts.repository.ts';
import { findPayoutStatuses } from '../../shared/db/sessions.repository.ts';
import type { CliDeps } from '../cli-deps.ts';
import { isSettled, planForSession } from '../session-plan.ts';
import { formatWhen, paint, printJson, printTable } from './format.ts';

export interface DlqEntry {
  messageId: string;
  sessionId: string | null;
  body: string;
  receiveCount: number;
  sentAt: string | null;
  firstReceivedAt: string | null;
  payoutStatus: string | null;
  lastAttempt: string | null;
}

/** Long enough that a message this run has set aside is not received again by the same run. */
const HOLD_SECONDS = 300;

function sessionIdOf(message: Message): string | null {
  try {
    return parsePayoutMessage(message.Body ?? '').sessionId;
  } catch {
    return null;
  }
}

async function receive(deps: CliDeps, max: number): Promise<Message[]> {
  const { Messages = [] } = await deps.sqs().send(
    new ReceiveMessageCommand({
      QueueUrl: deps.dlqUrl(),
      MaxNumberOfMessages: Math.min(10, max),
      VisibilityTimeout: HOLD_SECONDS,
      WaitTimeSeconds: 0,
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return Messages;
}

/** Makes messages visible again at once, for the next reader or redrive. */
async function release(deps: CliDeps, messages: Message[]): Promise<void> {
  for (let index = 0; index < messages.length; index += 10) {
    const batch = messages.slice(index, index + 10);
    await deps.sqs().send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: deps.dlqUrl(),
        Entries: batch.map((message, position) => ({
          Id: String(position),
          ReceiptHandle: message.ReceiptHandle ?? '',
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}

async function sessionStates(deps: CliDeps, sessionIds: string[]) {
  const [statuses, attempts] = await Promise.all([
    findPayoutStatuses(deps.db, sessionIds),
    findLatestAttempts(deps.db, sessionIds),
  ]);
  const last = new Map(
    attempts.map((a) => [a.sessionId, `${a.outcome}${a.errorCode ? ` (${a.errorCode})` : ''}`]),
  );
  return new Map(
    statuses.map((s) => [s.id, { status: s.payoutStatus, lastAttempt: last.get(s.id) ?? null }]),
  );
}

const timestamp = (value: string | undefined) =>
  value ? new Date(Number(value)).toISOString() : null;

/** Reads up to `max` dead letters without consuming them: each is released right after reading. */
async function listDlq(deps: CliDeps, options: { max: number }): Promise<DlqEntry[]> {
  const messages: Message[] = [];
  try {
    while (messages.length < options.max) {
      const batch = await receive(deps, options.max - messages.length);
      if (batch.length === 0) break;
      messages.push(...batch);
    }
  } finally {
    await release(deps, messages);
  }
  const ids = messages.map(sessionIdOf).filter((id): id is string => id !== null);
  const states = await sessionStates(deps, ids);
  return messages.map((message) => {
    const sessionId = sessionIdOf(message);
    const state = sessionId ? states.get(sessionId) : undefined;
    return {
      messageId: message.MessageId ?? '',
      sessionId,
      body: message.Body ?? '',
      receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
      sentAt: timestamp(message.Attributes?.SentTimestamp),
      firstReceivedAt: timestamp(message.Attributes?.ApproximateFirstReceiveTimestamp),
      payoutStatus: state?.status ?? (sessionId ? 'no such session' : null),
      lastAttempt: state?.lastAttempt ?? null,
    };
  });
}

export async function dlqListCommand(
  deps: CliDeps,
  options: { max: number; json: boolean },
): Promise<number> {
  const before = await dlqDepth(deps);
  const entries = await listDlq(deps, options);
  // Counted before reading: what this read holds for a moment is not someone else's.
  const held = before.inFlight;
  const inAll = Math.max(before.visible + held, entries.length);
  if (options.json) {
    printJson(deps.out, {
      total: inAll,
      heldElsewhere: held,
      shown: entries.length,
      messages: entries,
    });
    return 0;
  }
  deps.out.log(
    `${entries.length < inAll ? `${entries.length} of ` : ''}${inAll} dead-lettered message(s)${held > 0 ? `; ${held} held by another reader (a redrive?) are not shown` : ''}:`,
  );
  const now = deps.clock.now();
  printTable(
    deps.out,
    [
      { header: 'message' },
      { header: 'session', wrap: true },
      { header: 'receives' },
      { header: 'dead-lettered', wrap: true },
      { header: 'status' },
      { header: 'last attempt', wrap: true },
    ],
    entries.map((entry) => [
      entry.messageId,
      entry.sessionId ?? paint(deps.out.colour, 'warning', `malformed: ${entry.body.slice(0, 40)}`),
      String(entry.receiveCount),
      entry.sentAt ? formatWhen(new Date(entry.sentAt), now) : '',
      entry.payoutStatus ?? '',
      entry.lastAttempt ?? '',
    ]),
  );
  if (entries.some((entry) => entry.sessionId === null)) {
    deps.out.log('Malformed bodies are never redriven: npx payouts dlq remove --malformed');
  }
  return 0;
}

export interface RedriveReport {
  dryRun: boolean;
  redriven: number;
  alreadySettled: number;
  malformedLeft: number;
  /** Stopped by Ctrl-C: what it held was released at once, the rest left in the DLQ. */
  interrupted: boolean;
}

export interface RedriveFaults {
  /** Test hook: runs after a message was sent to the payout queue, before it leaves the DLQ. */
  afterSend?(message: Message): Promise<void> | void;
}

/**
 * Moves dead letters back to the payout queue: send first, delete only once the send succeeded,
 * so an interrupted redrive loses nothing (a message may then exist twice; the transfer Lambda
 * pays a session once however often it is delivered). A message is dropped only when the Lambda's
 * own planPayout says its session is settled (paid out or not payable, no unfinished generation);
 * malformed bodies stay there for a human.
 */
export async function redriveDlq(
  deps: CliDeps,
  options: { dryRun: boolean; max: number; rate: number },
  faults: RedriveFaults = {},
): Promise<RedriveReport> {
  const report: RedriveReport = {
    dryRun: options.dryRun,
    redriven: 0,
    alreadySettled: 0,
    malformedLeft: 0,
    interrupted: false,
  };
  // Received and not yet deleted: released at the end, or at once if the redrive is interrupted.
  const held: Message[] = [];
  const bar = deps.out.isTTY
    ? new SingleBar({ format: 'redrive [{bar}] {value}/{total} messages' })
    : undefined;
  bar?.start(Math.min(options.max, (await dlqDepth(deps)).visible), 0);
  const done = async (message: Message) => {
    await deleteFromDlq(deps, message);
    held.splice(held.indexOf(message), 1);
  };
  try {
    let processed = 0;
    while (processed < options.max && !deps.signal.aborted) {
      const batch = await receive(deps, options.max - processed);
      if (batch.length === 0) break;
      held.push(...batch);
      for (const message of batch) {
        if (deps.signal.aborted) break;
        processed += 1;
        bar?.increment();
        const sessionId = sessionIdOf(message);
        if (!sessionId) {
          report.malformedLeft += 1;
        } else if (isSettled((await planForSession(deps, sessionId)).plan)) {
          report.alreadySettled += 1;
          if (!options.dryRun) await done(message);
        } else {
          report.redriven += 1;
          if (options.dryRun) continue;
          await deps.sqs().send(
            new SendMessageCommand({
              QueueUrl: deps.queueUrl(),
              MessageBody: message.Body ?? '',
            }),
          );
          await faults.afterSend?.(message);
          await done(message);
          if (options.rate > 0) await pause(1000 / options.rate, deps.signal);
        }
      }
    }
  } finally {
    bar?.stop();
    report.interrupted = deps.signal.aborted;
    await release(deps, held);
  }
  return report;
}

/** Waits, or less when interrupted. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}

async function deleteFromDlq(deps: CliDeps, message: Message): Promise<void> {
  await deps.sqs().send(
    new DeleteMessageCommand({
      QueueUrl: deps.dlqUrl(),
      ReceiptHandle: message.ReceiptHandle ?? '',
    }),
  );
}

async function dlqDepth(deps: CliDeps): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await deps.sqs().send(
    new GetQueueAttributesCommand({
      QueueUrl: deps.dlqUrl(),
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

export async function dlqRedriveCommand(
  deps: CliDeps,
  options: { dryRun: boolean; max: number; rate: number; json: boolean },
): Promise<number> {
  const report = await redriveDlq(deps, options);
  if (options.json) {
    printJson(deps.out, report);
    return 0;
  }
  const verb = options.dryRun ? 'Would redrive' : 'Redrove';
  if (report.interrupted) {
    deps.out.error(
      paint(
        deps.out.errorColour,
        'warning',
        'Interrupted: the rest stays in the DLQ, visible again now; run it again to go on.',
      ),
    );
  }
  deps.out.log(
    `${verb} ${report.redriven} message(s) to the payout queue; ${report.alreadySettled} already settled ${options.dryRun ? 'would be' : 'were'} removed; ${report.malformedLeft} malformed left in the DLQ.`,
  );
  return report.interrupted ? 130 : 0;
}

export interface RemoveReport {
  file: string;
  removed: { messageId: string; body: string }[];
  /** Asked for by id but not in the DLQ (removed already, or a typo). */
  notFound: string[];
  interrupted: boolean;
}

/**
 * Deletes dead letters for good: the named ones, or every malformed body (which redrive never
 * moves, so they would keep the DLQ alarms firing). Each is first appended to `file` and the file
 * flushed to disk, so nothing is lost that a person may want back.
 */
export async function removeFromDlq(
  deps: CliDeps,
  options: { messageIds: string[]; malformed: boolean; file: string },
): Promise<RemoveReport> {
  const wanted = new Set(options.messageIds);
  const report: RemoveReport = {
    file: options.file,
    removed: [],
    notFound: [],
    interrupted: false,
  };
  const held: Message[] = [];
  const file = await open(options.file, 'a');
  try {
    for (;;) {
      if (deps.signal.aborted) break;
      const batch = await receive(deps, 10);
      if (batch.length === 0) break;
      held.push(...batch);
      for (const message of batch) {
        const chosen =
          wanted.has(message.MessageId ?? '') || (options.malformed && !sessionIdOf(message));
        if (!chosen || deps.signal.aborted) continue;
        await file.appendFile(
          `${JSON.stringify({
            messageId: message.MessageId,
            body: message.Body,
            attributes: message.Attributes,
            removedAt: deps.clock.now().toISOString(),
          })}\n`,
        );
        await file.sync();
        await deleteFromDlq(deps, message);
        held.splice(held.indexOf(message), 1);
        wanted.delete(message.MessageId ?? '');
        report.removed.push({ messageId: message.MessageId ?? '', body: message.Body ?? '' });
      }
    }
  } finally {
    report.interrupted = deps.signal.aborted;
    await file.close();
    await release(deps, held);
  }
  report.notFound = [...wanted];
  return report;
}

export async function dlqRemoveCommand(
  deps: CliDeps,
  options: { messageIds: string[]; malformed: boolean; to?: string; json: boolean },
): Promise<number> {
  if (options.messageIds.length === 0 && !options.malformed) {
    deps.out.error('error: dlq remove needs message ids or --malformed (see --help)');
    return 2;
  }
  const stamp = deps.clock
    .now()
    .toISOString()
    .replaceAll(':', '')
    .replace(/\.\d+Z$/, 'Z');
  const file = resolve(options.to ?? `payouts-dlq-removed-${stamp}.jsonl`);
  const report = await removeFromDlq(deps, { ...options, file });
  if (options.json) {
    printJson(deps.out, report);
  } else {
    deps.out.log(
      report.removed.length > 0
        ? `Removed ${report.removed.length} message(s) from the DLQ; each was saved first to ${report.file}`
        : 'Removed nothing.',
    );
  }
  // On stderr with --json too: what was asked and not done.
  if (report.notFound.length > 0) {
    deps.out.error(
      paint(deps.out.errorColour, 'warning', `Not in the DLQ: ${report.notFound.join(', ')}`),
    );
  }
  return report.interrupted ? 130 : report.notFound.length > 0 ? 1 : 0;
}
