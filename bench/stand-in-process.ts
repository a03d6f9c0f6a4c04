import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { startStripeStandIn } from '../local/stripe-stand-in/stripe-stand-in.ts';

/**
 * The Stripe stand-in in a process of its own, for the benchmark: Stripe is remote, and when it
 * shared the event loop of the Lambdas it stamped requests that arrived during a pause of that
 * loop with one time, as a burst Stripe would not have seen. Steered over a small control API.
 */
export interface StandInProcess {
  url: string;
  setLatency(ms: number): Promise<void>;
  activateAccounts(ids: string[]): Promise<void>;
  /** Stripe's per-endpoint rate limit (429 above it); null lifts it. */
  limitRate(perSecond: number | null): Promise<void>;
  /** Arrival times of every POST /v1/transfers, the session of every transfer, the 429s so far. */
  observed(): Promise<{ posts: number[]; sessionIds: string[]; rateLimited: number }>;
  stop(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
}

/** The child's side: the stand-in and its control API; prints both addresses. */
async function serve(): Promise<void> {
  const standIn = await startStripeStandIn();
  const control = createServer(async (req, res) => {
    const body = await readJson(req);
    let answer: unknown = null;
    if (req.url === '/latency') standIn.setLatency(Number(body.ms));
    else if (req.url === '/accounts') {
      for (const id of body.ids as string[]) standIn.setAccount(id, 'active');
    } else if (req.url === '/limit') standIn.limitRate(body.perSecond as number | null);
    else if (req.url === '/observed') {
      answer = {
        posts: standIn
          .requests()
          .filter((request) => request.method === 'POST' && request.path === '/v1/transfers')
          .map((request) => request.at),
        sessionIds: standIn.transfers().map((transfer) => transfer.metadata.session_id),
        rateLimited: standIn.rateLimited(),
      };
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(answer));
  });
  // The bench's fetch keeps its connection between calls minutes apart: never closed under it.
  control.keepAliveTimeout = 0;
  control.listen(0, '127.0.0.1', () => {
    const address = control.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    console.log(JSON.stringify({ url: standIn.url, control: `http://127.0.0.1:${port}` }));
  });
}

export async function startStandInProcess(): Promise<StandInProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'stand-in-process.ts'), '--serve'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  // Stripe's servers do not wait for this machine's CPU: the stand-in, which stamps arrivals, runs
  // ahead of the bench's other processes where the system lets it (root), as it is otherwise
  // scheduled behind them on a busy host and stamps a delayed request with a later time.
  try {
    if (child.pid !== undefined) setPriority(child.pid, -5);
  } catch {
    // Not permitted: the stand-in runs at the bench's priority.
  }
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await once(lines, 'line')) as [string];
  const { url, control } = JSON.parse(line) as { url: string; control: string };
  const call = async (path: string, body: unknown = {}) => {
    const response = await fetch(`${control}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
    });
    return response.json();
  };
  return {
    url,
    setLatency: async (ms) => void (await call('/latency', { ms })),
    activateAccounts: async (ids) => void (await call('/accounts', { ids })),
    limitRate: async (perSecond) => void (await call('/limit', { perSecond })),
    observed: async () =>
      (await call('/observed')) as { posts: number[]; sessionIds: string[]; rateLimited: number },
    async stop() {
      child.kill();
      await once(child, 'exit');
    },
  };
}

if (
  process.argv.includes('--serve') &&
  import.meta.url === pathToFileURL(process.argv[1] ?? '').href
) {
  await serve();
}
