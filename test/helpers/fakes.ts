import type { Clock } from '../../shared/clock.ts';
import type { Log } from '../../shared/logger.ts';

export interface RecordedLog {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data: Record<string, unknown>;
}

/** A Log that remembers what it was told, for use-case tests. */
export function recordingLog(): Log & { entries: RecordedLog[] } {
  const entries: RecordedLog[] = [];
  const at =
    (level: RecordedLog['level']) =>
    (message: string, ...rest: unknown[]) => {
      entries.push({ level, message, data: Object.assign({}, ...(rest as object[])) });
    };
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  } as Log & { entries: RecordedLog[] };
}

export function fixedClock(now: Date): Clock & { set(next: Date): void } {
  let current = now;
  return {
    now: () => current,
    set(next) {
      current = next;
    },
  };
}
