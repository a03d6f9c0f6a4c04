import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.ts';

/** moto_server (the machine image's AWS emulator) on a free loopback port, for tests and rehearsals. */
export interface LocalMoto {
  /** `localhost`, not 127.0.0.1: moto reads an IP host as an S3 bucket name. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startLocalMoto(): Promise<LocalMoto> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error) =>
      reject(new Error(`moto_server could not start (${error.message}): is moto installed?`)),
    );
    child.once('exit', (code) =>
      reject(new Error(`moto_server exited with ${code} before it was ready: ${stderr}`)),
    );
  });
  const endpoint = `http://localhost:${port}`;
  await Promise.race([waitUntilServing(endpoint), exited]);
  return { endpoint, stop: () => stopChild(child) };
}

async function waitUntilServing(endpoint: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`moto_server did not answer on ${endpoint}`);
    await sleep(100);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5_000).then(() => child.kill('SIGKILL'))]);
}
