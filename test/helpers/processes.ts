import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import * as pty from 'node-pty';

/** The repository's root: `npx payouts` and `npm start` run from it or a folder below it. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** PATH and HOME to find npm and node; nothing of this process's own database or AWS settings. */
export function cleanEnv(variables: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...variables,
  };
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A process with its output collected; `done` resolves when it exits. */
export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  done: Promise<Finished>;
  /** Resolves once stdout holds `text` (rejects when the process exits first or after `ms`). */
  waitFor(text: string, ms?: number): Promise<void>;
}

export function start(
  command: string,
  args: string[],
  options: { cwd?: string; env: Record<string, string>; group?: boolean },
): Running {
  // In its own process group when asked: a terminal's Ctrl-C reaches every process of the job.
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env,
    detached: options.group ?? false,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const done = new Promise<Finished>((resolveDone) => {
    child.on('close', (code, signal) => resolveDone({ code, signal, stdout, stderr }));
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    done,
    async waitFor(text, ms = 90_000) {
      const deadline = Date.now() + ms;
      let exited = false;
      done.then(() => {
        exited = true;
      });
      while (!stdout.includes(text)) {
        if (exited) throw new Error(`exited before printing "${text}":\n${stdout}\n${stderr}`);
        if (Date.now() > deadline)
          throw new Error(`no "${text}" within ${ms} ms:\n${stdout}\n${stderr}`);
        await new Promise((wait) => setTimeout(wait, 100));
      }
    },
  };
}

export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env: Record<string, string> },
): Promise<Finished> {
  return start(command, args, options).done;
}

/** What a person sees in a terminal of `columns` × 60: output with colour codes, and its exit code. */
export function runInTerminal(
  command: string,
  args: string[],
  options: { cwd?: string; env: Record<string, string>; columns: number },
): Promise<{ code: number; output: string }> {
  return new Promise((resolveRun) => {
    const terminal = pty.spawn(command, args, {
      name: 'xterm-256color',
      cols: options.columns,
      rows: 60,
      cwd: options.cwd ?? ROOT,
      env: { TERM: 'xterm-256color', ...options.env },
    });
    let output = '';
    terminal.onData((data) => {
      output += data;
    });
    terminal.onExit(({ exitCode }) => resolveRun({ code: exitCode, output }));
  });
}

/** The lines as displayed: colour codes gone; text a carriage return went back over is overwritten. */
export function visibleLines(output: string): string[] {
  // npm's spinner goes back with "cursor to column 1", as a carriage return does.
  return stripVTControlCharacters(output.replaceAll('\u001b[1G', '\r'))
    .split('\n')
    .map(
      (line) =>
        line
          .split('\r')
          .filter((part) => part.length > 0)
          .at(-1) ?? '',
    );
}

/** `npm start -- --keep` as a person starts it, writing its environment to `envFile`. */
export async function startKeptPipeline(envFile: string): Promise<Running> {
  const pipeline = start('npm', ['start', '--', '--keep'], {
    env: cleanEnv({ PAYOUTS_LOCAL_ENV_FILE: envFile }),
    group: true,
  });
  await pipeline.waitFor('Kept running');
  return pipeline;
}

/** Ctrl-C to a job still running (SIGINT to its process group), then its end. */
export async function interrupt(job: Running | undefined): Promise<Finished | undefined> {
  if (job?.child.exitCode === null && job.child.signalCode === null && job.child.pid) {
    process.kill(-job.child.pid, 'SIGINT');
  }
  return job?.done;
}
