import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.ts';
import { requireTool } from './require-tool.ts';

/** moto_server on loopback: CloudFormation, S3, IAM, STS, SQS, Lambda (no invoke), Secrets Manager… */
export interface MotoServer {
  /** `http://localhost:<port>`: moto reads a `127.0.0.1` host as an S3 bucket name. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Moto's fixed account: STS answers every caller with it. */
export const MOTO_ACCOUNT = '123456789012';

export async function startMotoServer(): Promise<MotoServer> {
  requireTool('moto_server', {
    why: 'the deploy rehearsal and the Secrets Manager tests run against moto',
    installHint: "pip install 'moto[server]'",
  });
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // moto logs every request to stderr; the tail is what explains a failure to start.
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const endpoint = `http://localhost:${port}`;
  try {
    await waitUntilListening(child, `${endpoint}/moto-api/`, () => tail);
  } catch (error) {
    child.kill('SIGKILL');
    process.off('exit', killOnExit);
    throw error;
  }
  return {
    endpoint,
    async stop() {
      process.off('exit', killOnExit);
      await stopChild(child);
    },
  };
}

async function waitUntilListening(
  child: ChildProcess,
  url: string,
  tail: () => string,
): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`moto_server exited with code ${child.exitCode} at start:\n${tail()}`);
    }
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`moto_server did not answer at ${url} within 30 s:\n${tail()}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const forced = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(forced);
}
