/**
 * Collects the structured JSON lines the Powertools Logger writes to stdout/stderr, and keeps
 * them out of the test output.
 */
export interface LogLine {
  level: string;
  message: string;
  [key: string]: unknown;
}

export interface LogCapture {
  lines: LogLine[];
  find(level: string, message: string): LogLine[];
  stop(): void;
}

export function captureLogs(): LogCapture {
  const lines: LogLine[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write.bind(stream));
  streams.forEach((stream, index) => {
    const original = originals[index] as typeof stream.write;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString();
      const parsed = parseLogLines(text);
      if (parsed.length === 0) return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
      lines.push(...parsed);
      return true;
    }) as typeof stream.write;
  });
  return {
    lines,
    find: (level, message) =>
      lines.filter((line) => line.level === level && line.message === message),
    stop() {
      streams.forEach((stream, index) => {
        stream.write = originals[index] as typeof stream.write;
      });
    },
  };
}

function parseLogLines(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    if (!raw.startsWith('{')) continue;
    try {
      const value = JSON.parse(raw) as Record<string, unknown>;
      if (typeof value.level === 'string' && typeof value.message === 'string') {
        lines.push(value as LogLine);
      }
    } catch {
      // not a log line
    }
  }
  return lines;
}
