/**
 * Collects the structured JSON lines the Powertools Logger writes to stdout/stderr, and keeps
 * them out of the test output.
 */
export interface LogLine {
  level: string;
  message: string;
  [key: string]: unknown;
}

/** An Embedded Metric Format line: the metric values sit at the top level beside `_aws`. */
export interface MetricLine {
  _aws: {
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
  };
  [key: string]: unknown;
}

export interface LogCapture {
  /** Everything written to stdout and stderr while capturing, log line or not. */
  raw: string[];
  lines: LogLine[];
  metrics: MetricLine[];
  /** Every value of one metric, with the dimension values it was emitted with. */
  metric(name: string): { value: unknown; dimensions: Record<string, unknown> }[];
  find(level: string, message: string): LogLine[];
  stop(): void;
}

export function captureLogs(): LogCapture {
  const lines: LogLine[] = [];
  const metrics: MetricLine[] = [];
  const raw: string[] = [];
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write.bind(stream));
  streams.forEach((stream, index) => {
    const original = originals[index] as typeof stream.write;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString();
      raw.push(text);
      const parsed = parseJsonLines(text);
      if (parsed.length === 0) return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
      for (const value of parsed) {
        if ('_aws' in value) metrics.push(value as MetricLine);
        else lines.push(value as LogLine);
      }
      return true;
    }) as typeof stream.write;
  });
  return {
    raw,
    lines,
    metrics,
    metric: (name) =>
      metrics.flatMap((line) =>
        line._aws.CloudWatchMetrics.flatMap((directive) => {
          if (!directive.Metrics.some((metric) => metric.Name === name)) return [];
          const dimensions = Object.fromEntries(
            (directive.Dimensions[0] ?? []).map((dimension) => [dimension, line[dimension]]),
          );
          // Several values of one metric in one flush are stored as an array.
          const values = Array.isArray(line[name]) ? (line[name] as unknown[]) : [line[name]];
          return values.map((value) => ({ value, dimensions }));
        }),
      ),
    find: (level, message) =>
      lines.filter((line) => line.level === level && line.message === message),
    stop() {
      streams.forEach((stream, index) => {
        stream.write = originals[index] as typeof stream.write;
      });
    },
  };
}

function parseJsonLines(text: string): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const raw of text.split('\n')) {
    if (!raw.startsWith('{')) continue;
    try {
      const value = JSON.parse(raw) as Record<string, unknown>;
      const isLog = typeof value.level === 'string' && typeof value.message === 'string';
      if (isLog || '_aws' in value) lines.push(value);
    } catch {
      // not a log line
    }
  }
  return lines;
}
