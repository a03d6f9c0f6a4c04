import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { decodeForm, type FormParams, fingerprint } from './form-body.ts';

/**
 * A local server that speaks the part of Stripe's API payouts uses, to the real `stripe` SDK:
 * POST/GET /v1/transfers, GET /v1/transfers/:id, GET /v1/accounts/:id; Stripe's error shapes,
 * idempotency as Stripe documents it (replay, parameter mismatch, 409 while in flight, stored 5xx,
 * unstored validation errors and 429s, keys forgotten after a TTL) and fault injection for tests.
 */

export type AccountState = 'active' | 'restricted';

export interface StandInTransfer {
  id: string;
  object: 'transfer';
  amount: number;
  currency: string;
  destination: string;
  transfer_group: string | null;
  source_transaction: string | null;
  metadata: Record<string, string>;
  description: string | null;
  created: number;
  livemode: false;
  amount_reversed: 0;
  reversed: false;
  reversals: { object: 'list'; data: []; has_more: false; url: string };
}

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  params: FormParams;
  /** What was answered; 0 when the connection was dropped without an answer. */
  status: number;
  replayed: boolean;
}

export interface StripeStandIn {
  readonly url: string;
  readonly port: number;
  setAccount(id: string, state: AccountState): void;
  transfers(): StandInTransfer[];
  requests(): RecordedRequest[];
  setLatency(ms: number): void;
  /** The next n POST /v1/transfers fail with this status before anything is validated or created. */
  failNext(n: number, status: 500 | 429): void;
  /** The next n POST /v1/transfers are processed (created, or replayed), then the socket is destroyed unanswered. */
  dropNextAfterCreate(n?: number): void;
  /** Idempotency keys older than this are forgotten, as Stripe prunes them after 24 h; null keeps them. */
  setIdempotencyKeyTtl(ms: number | null): void;
  /** Forgets every stored idempotency key now, as Stripe may once a key is older than 24 h. */
  forgetIdempotencyKeys(): void;
  /** Stops injected faults and latency; transfers, accounts and keys stay. */
  clearFaults(): void;
  reset(): void;
  close(): Promise<void>;
}

interface ErrorBody {
  type: string;
  message: string;
  code?: string;
  param?: string;
}

interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** Kept under the idempotency key and replayed for the same key. */
  store: boolean;
}

interface IdempotencyEntry {
  fingerprint: string;
  createdAt: number;
  answer: Answer | undefined;
}

const TRANSFER_PARAMS = new Set([
  'amount',
  'currency',
  'destination',
  'metadata',
  'transfer_group',
  'source_transaction',
  'description',
  'expand',
]);

const RESTRICTED_MESSAGE =
  'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments';

export async function startStripeStandIn(
  options: { port?: number; host?: string; latencyMs?: number } = {},
): Promise<StripeStandIn> {
  const host = options.host ?? '127.0.0.1';
  const accounts = new Map<string, AccountState>();
  const transfers: StandInTransfer[] = [];
  const requests: RecordedRequest[] = [];
  const keys = new Map<string, IdempotencyEntry>();
  let latencyMs = options.latencyMs ?? 0;
  let failures: { remaining: number; status: 500 | 429 } = { remaining: 0, status: 500 };
  let drops = 0;
  let keyTtlMs: number | null = null;

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        send(res, {
          status: 500,
          store: false,
          body: errorBody({ type: 'api_error', message: `Stand-in failure: ${String(error)}` }),
        });
      }
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const key = header(req, 'idempotency-key');
    const params = method === 'POST' ? decodeForm(raw) : decodeForm(url.searchParams.toString());
    const record: RecordedRequest = {
      method,
      path,
      idempotencyKey: key,
      params,
      status: 0,
      replayed: false,
    };
    requests.push(record);

    const apiKey = (header(req, 'authorization') ?? '').replace(/^Bearer\s+/i, '');
    if (!/^(sk|rk)_\w+$/.test(apiKey)) {
      const masked = apiKey.length > 8 ? `${apiKey.slice(0, 8)}****${apiKey.slice(-3)}` : '****';
      return answer(res, record, {
        status: 401,
        store: false,
        body: errorBody({
          type: 'invalid_request_error',
          message: `Invalid API Key provided: ${masked}`,
        }),
      });
    }

    if (method === 'POST' && path === '/v1/transfers') {
      return createTransfer(
        res,
        record,
        `${apiKey} ${key ?? ''}`,
        key,
        fingerprint(method, path, raw),
      );
    }
    await sleep(latencyMs);
    answer(res, record, route(method, path, url.searchParams));
  }

  async function createTransfer(
    res: ServerResponse,
    record: RecordedRequest,
    scope: string,
    key: string | undefined,
    print: string,
  ): Promise<void> {
    const drop = drops > 0;
    if (drop) drops -= 1;
    const entry = key ? liveEntry(scope) : undefined;
    if (entry && entry.fingerprint !== print) {
      await sleep(latencyMs);
      return answer(res, record, {
        status: 400,
        store: false,
        headers: { 'Stripe-Should-Retry': 'false' },
        body: errorBody({
          type: 'idempotency_error',
          message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        }),
      });
    }
    if (entry && !entry.answer) {
      return answer(res, record, {
        status: 409,
        store: false,
        headers: { 'Stripe-Should-Retry': 'true' },
        body: errorBody({
          type: 'idempotency_error',
          code: 'idempotency_key_in_use',
          message:
            'There is currently another in-progress request using this Stripe-Idempotency-Key. Please try again later.',
        }),
      });
    }
    if (entry?.answer) {
      await sleep(latencyMs);
      record.replayed = true;
      const replayHeaders: Record<string, string> = { 'Idempotent-Replayed': 'true' };
      if (entry.answer.status >= 400) replayHeaders['Stripe-Should-Retry'] = 'false';
      return answer(res, record, { ...entry.answer, headers: replayHeaders }, drop);
    }

    const pending: IdempotencyEntry = {
      fingerprint: print,
      createdAt: Date.now(),
      answer: undefined,
    };
    if (key) keys.set(scope, pending);
    await sleep(latencyMs);
    const result = executeTransfer(record.params);
    if (key) {
      if (result.store) pending.answer = result;
      else keys.delete(scope);
    }
    answer(res, record, result, drop);
  }

  function executeTransfer(params: FormParams): Answer {
    if (failures.remaining > 0) {
      failures.remaining -= 1;
      return failures.status === 429
        ? {
            status: 429,
            store: false,
            body: errorBody({
              type: 'invalid_request_error',
              code: 'rate_limit',
              message:
                'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.',
            }),
          }
        : {
            status: 500,
            store: true,
            body: errorBody({ type: 'api_error', message: 'An unknown error occurred' }),
          };
    }
    const invalid = validateTransfer(params);
    if (invalid) return { status: 400, store: false, body: errorBody(invalid) };
    const destination = String(params.destination);
    const state = accounts.get(destination);
    if (!state) {
      return {
        status: 400,
        store: true,
        body: errorBody({
          type: 'invalid_request_error',
          code: 'resource_missing',
          param: 'destination',
          message: `No such destination: '${destination}'`,
        }),
      };
    }
    if (state === 'restricted') {
      return {
        status: 400,
        store: true,
        body: errorBody({
          type: 'invalid_request_error',
          code: 'insufficient_capabilities_for_transfer',
          message: RESTRICTED_MESSAGE,
        }),
      };
    }
    const transfer: StandInTransfer = {
      id: `tr_${randomId(24)}`,
      object: 'transfer',
      amount: Number(params.amount),
      currency: String(params.currency),
      destination,
      transfer_group: typeof params.transfer_group === 'string' ? params.transfer_group : null,
      source_transaction:
        typeof params.source_transaction === 'string' ? params.source_transaction : null,
      metadata: (params.metadata as Record<string, string> | undefined) ?? {},
      description: typeof params.description === 'string' ? params.description : null,
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      amount_reversed: 0,
      reversed: false,
      reversals: { object: 'list', data: [], has_more: false, url: '' },
    };
    transfer.reversals.url = `/v1/transfers/${transfer.id}/reversals`;
    transfers.push(transfer);
    return { status: 200, store: true, body: transfer };
  }

  function route(method: string, path: string, query: URLSearchParams): Answer {
    if (method === 'GET' && path === '/v1/transfers') return listTransfers(query);
    const transferMatch = /^\/v1\/transfers\/([^/]+)$/.exec(path);
    if (method === 'GET' && transferMatch) {
      const transfer = transfers.find((candidate) => candidate.id === transferMatch[1]);
      return transfer
        ? { status: 200, store: false, body: transfer }
        : notFound('id', `No such transfer: '${transferMatch[1]}'`);
    }
    const accountMatch = /^\/v1\/accounts\/([^/]+)$/.exec(path);
    if (method === 'GET' && accountMatch) {
      const id = accountMatch[1] ?? '';
      const state = accounts.get(id);
      return state
        ? { status: 200, store: false, body: accountObject(id, state) }
        : notFound('account', `No such account: '${id}'`);
    }
    return {
      status: 404,
      store: false,
      body: errorBody({
        type: 'invalid_request_error',
        message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      }),
    };
  }

  function listTransfers(query: URLSearchParams): Answer {
    const limit = Math.min(Math.max(Number(query.get('limit') ?? 10) || 10, 1), 100);
    const group = query.get('transfer_group');
    let newestFirst = [...transfers].reverse();
    if (group) newestFirst = newestFirst.filter((transfer) => transfer.transfer_group === group);
    const createdFrom = Number(query.get('created[gte]') ?? Number.NEGATIVE_INFINITY);
    const createdTo = Number(query.get('created[lte]') ?? Number.POSITIVE_INFINITY);
    newestFirst = newestFirst.filter(
      (transfer) => transfer.created >= createdFrom && transfer.created <= createdTo,
    );
    const after = query.get('starting_after');
    if (after) {
      const index = newestFirst.findIndex((transfer) => transfer.id === after);
      newestFirst = index >= 0 ? newestFirst.slice(index + 1) : [];
    }
    return {
      status: 200,
      store: false,
      body: {
        object: 'list',
        url: '/v1/transfers',
        has_more: newestFirst.length > limit,
        data: newestFirst.slice(0, limit),
      },
    };
  }

  function liveEntry(scope: string): IdempotencyEntry | undefined {
    const entry = keys.get(scope);
    if (entry && keyTtlMs !== null && Date.now() - entry.createdAt > keyTtlMs) {
      keys.delete(scope);
      return undefined;
    }
    return entry;
  }

  function answer(
    res: ServerResponse,
    record: RecordedRequest,
    result: Answer,
    drop = false,
  ): void {
    if (drop) {
      res.socket?.destroy();
      return;
    }
    record.status = result.status;
    send(res, result, record.idempotencyKey);
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host}:${port}`,
    port,
    setAccount: (id, state) => accounts.set(id, state),
    transfers: () => [...transfers],
    requests: () => [...requests],
    setLatency: (ms) => {
      latencyMs = ms;
    },
    failNext: (n, status) => {
      failures = { remaining: n, status };
    },
    dropNextAfterCreate: (n = 1) => {
      drops = n;
    },
    setIdempotencyKeyTtl: (ms) => {
      keyTtlMs = ms;
    },
    forgetIdempotencyKeys: () => keys.clear(),
    clearFaults() {
      latencyMs = options.latencyMs ?? 0;
      failures = { remaining: 0, status: 500 };
      drops = 0;
    },
    reset() {
      accounts.clear();
      transfers.length = 0;
      requests.length = 0;
      keys.clear();
      latencyMs = options.latencyMs ?? 0;
      failures = { remaining: 0, status: 500 };
      drops = 0;
      keyTtlMs = null;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function validateTransfer(params: FormParams): ErrorBody | undefined {
  for (const name of Object.keys(params)) {
    if (!TRANSFER_PARAMS.has(name)) {
      return {
        type: 'invalid_request_error',
        code: 'parameter_unknown',
        param: name,
        message: `Received unknown parameter: ${name}`,
      };
    }
  }
  for (const name of ['amount', 'currency', 'destination']) {
    if (params[name] === undefined || params[name] === '') {
      return {
        type: 'invalid_request_error',
        code: 'parameter_missing',
        param: name,
        message: `Missing required param: ${name}.`,
      };
    }
  }
  if (typeof params.amount !== 'string' || !/^[1-9]\d*$/.test(params.amount)) {
    return {
      type: 'invalid_request_error',
      code: 'parameter_invalid_integer',
      param: 'amount',
      message: 'Invalid positive integer',
    };
  }
  if (typeof params.currency !== 'string' || !/^[a-z]{3}$/.test(params.currency)) {
    return {
      type: 'invalid_request_error',
      code: 'parameter_invalid_string',
      param: 'currency',
      message: `Invalid currency: ${String(params.currency)}.`,
    };
  }
  return undefined;
}

function accountObject(id: string, state: AccountState) {
  const active = state === 'active';
  return {
    id,
    object: 'account',
    type: 'express',
    charges_enabled: active,
    payouts_enabled: active,
    capabilities: { transfers: active ? 'active' : 'inactive' },
    requirements: {
      disabled_reason: active ? null : 'requirements.past_due',
      currently_due: active ? [] : ['individual.verification.document'],
    },
  };
}

function notFound(param: string, message: string): Answer {
  return {
    status: 404,
    store: false,
    body: errorBody({ type: 'invalid_request_error', code: 'resource_missing', param, message }),
  };
}

function errorBody(error: ErrorBody) {
  return { error };
}

function send(res: ServerResponse, result: Answer, idempotencyKey?: string): void {
  const payload = JSON.stringify(result.body);
  res.writeHead(result.status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    'Request-Id': `req_${randomId(14)}`,
    ...(idempotencyKey && { 'Idempotency-Key': idempotencyKey }),
    ...result.headers,
  });
  res.end(payload);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function randomId(length: number): string {
  return [...randomBytes(length)].map((byte) => BASE62[byte % 62]).join('');
}

// `npx tsx local/stripe-stand-in/stripe-stand-in.ts`: a stand-in to point a local run at.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const standIn = await startStripeStandIn({
    port: Number(process.env.STRIPE_STAND_IN_PORT ?? 12111),
  });
  console.log(`Stripe stand-in listening on ${standIn.url} (no accounts configured)`);
}
