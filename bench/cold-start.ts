import { execFileSync } from 'node:child_process';
import type { LambdaBundle } from './lambda-bundles.ts';

/**
 * A bundle's import to ready, in a fresh Node process each time: from the start of `require` to a
 * loaded module exporting `handler` (the Lambdas start no I/O at import). The variables are what
 * the handlers parse at their first invocation, so the import cannot depend on them.
 */
const IMPORT_TO_READY = `
const start = performance.now();
const bundle = require(process.argv[1]);
if (typeof bundle.handler !== 'function') throw new Error('no handler exported');
process.stdout.write(String(performance.now() - start));
`;

export function importToReadyMs(bundle: LambdaBundle, env: NodeJS.ProcessEnv): number {
  const output = execFileSync(process.execPath, ['-e', IMPORT_TO_READY, bundle.file], {
    env,
    encoding: 'utf8',
  });
  return Number(output);
}

/**
 * Each measurement `repetitions` times, in rounds that take each in turn, so that a busy moment of
 * a shared machine falls on all of them alike; the median of each.
 */
export function medianOfRounds(
  measurements: Map<string, () => number>,
  repetitions: number,
): Map<string, number> {
  const times = new Map<string, number[]>([...measurements.keys()].map((key) => [key, []]));
  for (let round = 0; round < repetitions; round += 1) {
    for (const [key, measure] of measurements) times.get(key)?.push(measure());
  }
  return new Map([...times].map(([key, values]) => [key, median(values)]));
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? 0)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** The AWS SDK clients a bundle leaves to the runtime (its `require("@aws-sdk/…")`). */
export function awsSdkClientsOf(bundleCode: string): string[] {
  return [
    ...new Set([...bundleCode.matchAll(/require\("(@aws-sdk\/[^"]+)"\)/g)].map((m) => m[1] ?? '')),
  ].sort();
}

const REQUIRE_ONLY = `
const start = performance.now();
for (const name of process.argv.slice(1)) require(name);
process.stdout.write(String(performance.now() - start));
`;

/** Requiring just these modules in a fresh process: the part of an import no bundling can shrink. */
export function requireOnlyMs(modules: string[], cwd: string, env: NodeJS.ProcessEnv): number {
  if (modules.length === 0) return 0;
  const output = execFileSync(process.execPath, ['-e', REQUIRE_ONLY, ...modules], {
    cwd,
    env,
    encoding: 'utf8',
  });
  return Number(output);
}
