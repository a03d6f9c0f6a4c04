import { InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { HOUR_MS } from '../shared/runtime-limits.ts';

/**
 * The CLI's argument parsers: each turns one typed word into a value or a usage error (exit 2)
 * that names what was expected. Relative times always count back from now.
 */

const DURATION = /^(\d+)([hdw])$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?$/;
const WHEN_EXPECTED =
  'expected a date (2026-11-01, UTC), a timestamp (2026-11-01T06:00Z), or a time back from now (36h, 7d, 2w)';

/** `36h`, `7d`, `2w` back from `now`; a calendar date (midnight UTC); or an ISO timestamp. */
export function parseWhen(value: string, now: Date = new Date()): Date {
  const relative = DURATION.exec(value);
  if (relative) {
    const hours = Number(relative[1]) * { h: 1, d: 24, w: 24 * 7 }[relative[2] as 'h' | 'd' | 'w'];
    return new Date(now.getTime() - hours * HOUR_MS);
  }
  const parts = DATE.exec(value) ?? TIMESTAMP.exec(value);
  const date = new Date(value);
  // Date() rolls 2026-02-30 over to March 2: the calendar date must survive the round trip.
  if (!parts || Number.isNaN(date.getTime()) || !isCalendarDate(parts)) {
    throw new InvalidArgumentError(WHEN_EXPECTED);
  }
  return date;
}

function isCalendarDate(parts: RegExpExecArray): boolean {
  const [year, month, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const utc = new Date(Date.UTC(year, month - 1, day));
  return (
    utc.getUTCFullYear() === year && utc.getUTCMonth() === month - 1 && utc.getUTCDate() === day
  );
}

/** For commander: its second argument is the previous value, never "now". */
export const whenArgument = (value: string) => parseWhen(value);

export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('expected a whole number of at least 1');
  return Number(value);
}

/** Session and mentor ids are uuids; anything else is a typo, not a database error. */
export function uuidArgument(value: string): string {
  if (!z.guid().safeParse(value).success)
    throw new InvalidArgumentError('expected an id like 0b6f4a52-8d3e-4c1a-9f2e-6a7d1c3b5e90');
  return value.toLowerCase();
}

/** Error codes are Stripe's or ours: lower-case words joined by underscores. */
export function codeArgument(value: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(value))
    throw new InvalidArgumentError('expected an error code like account_invalid');
  return value;
}

/** A reason recorded for people to read later: some words, not an empty string. */
export function reasonArgument(value: string): string {
  const reason = value.trim();
  if (reason.length === 0)
    throw new InvalidArgumentError('expected a reason, e.g. "fraud review FR-7"');
  return reason;
}
