import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { decodeForm, type FormParams, type FormValue, fingerprint } from './form-body.ts';

/**
 * A local server that speaks the part of Stripe's API payouts uses, to the real `stripe` SDK, and
 * can produce every behaviour of real Stripe that could break money safety:
 *
 * - Routes: POST /v1/transfers, GET /v1/transfers (filters `destination`, `transfer_group`,
 *   `created` exact or `created[gt|gte|lt|lte]`; `limit` 1–100; `starting_after`/`ending_before`;
 *   `expand[]`; unknown parameters refused; newest first, ties by creation order),
 *   GET /v1/transfers/:id, POST /v1/transfers/:id/reversals (no idempotency keys kept: only tests
 *   reverse), GET /v1/accounts/:id (the state `setAccount` gave: capabilities.transfers,
 *   payouts_enabled, requirements.disabled_reason; 404 `resource_missing` for any other id);
 *   Stripe's error shapes; 401 for a bad API key.
 * - Events, as Stripe documents them (`events()`): `account.updated` from the connected account when
 *   `setAccount` changes its state, `transfer.reversed` from the platform for each reversal. Tests
 *   deliver them, in the EventBridge envelope, in any order and as often as they like; `onEvent`
 *   hears each as it is emitted (what `npm start` forwards, as an event destination would).
 * - One route that is not Stripe's: `POST /_stand_in/accounts/:id` with `state=active|restricted`
 *   does what `setAccount` does, for a process that does not hold the stand-in (the runbook
 *   rehearsal: a mentor finishing onboarding at Stripe). It is not recorded in `requests()`.
 * - Idempotency as Stripe documents it: the first executed answer is stored under the key (2xx,
 *   4xx refusals such as `balance_insufficient`, 500s) and replayed with `Idempotent-Replayed:
 *   true`; same key with other parameters → 400 `idempotency_error`; a key whose execution is still
 *   running → 409 `idempotency_key_in_use`; validation errors, 409s, 429s and 503s are not stored;
 *   keys can be forgotten after a TTL or on demand.
 * - A clock (`now` option) for transfer `created`, key ages and the `at` of recorded requests.
 * - Money: a platform balance per currency (`setBalance`, unlimited unless set); charges for
 *   `source_transaction` (`setCharge`: currency and remaining amount are checked; unknown charges
 *   are accepted unless `chargesMustExist`), and optionally filing such transfers under the
 *   charge's transfer group (`fileUnderChargeGroup`), as Stripe may.
 * - Faults on create: latency, slow executions that outlive the client (`slowNext`, `inFlight`,
 *   `whenIdle`), 500/503/429 before execution (`failNext`), a stored 500 after the transfer was
 *   created (`failNextAfterCreate`), a dropped connection after processing (`dropNextAfterCreate`).
 *   Faults on listing: an error status (`failNextList`) or a dropped connection (`dropNextList`).
 *   Faults on reading an account: an error status (`failNextAccountRead`) or a dropped connection.
 * - `clearFaults()` stops faults only; `reset()` returns everything to the startup state.
 * - Bookkeeping for tests: `creatorKey` names the idempotency key whose execution created a transfer.
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
  amount_reversed: number;
  reversed: boolean;
  /** The 10 newest reversals, newest first, as Stripe embeds them in the transfer. */
  reversals: { object: 'list'; data: StandInReversal[]; has_more: boolean; url: string };
}

export interface StandInReversal {
  id: string;
  object: 'transfer_reversal';
  amount: number;
  balance_transaction: string;
  created: number;
  currency: string;
  destination_payment_refund: null;
  metadata: Record<string, string>;
  source_refund: null;
  transfer: string;
}

/** A Stripe event (`/v1/events` shape): what Stripe hands an event destination. */
export interface StandInEvent {
  id: string;
  object: 'event';
  /** The connected account the event comes from; absent for the platform's own events. */
  account?: string;
  api_version: string;
  created: number;
  data: { object: unknown; previous_attributes?: Record<string, unknown> };
  livemode: false;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

export interface StandInCharge {
  amount: number;
  currency: string;
  /** The charge's transfer group; `fileUnderChargeGroup` falls back to `group_<chargeId>`. */
  transferGroup?: string | null;
}

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  /** The decoded form body of a POST; the decoded query of any other request. */
  params: FormParams;
  /** The decoded query string (`{}` when there is none). */
  query: FormParams;
  /** When the request arrived, in epoch ms of the stand-in's clock. */
  at: number;
  /**
   * What was answered; 0 when the connection was dropped without an answer. A client that gave
   * up before the answer was ready is recorded with the answer it would have got.
   */
  status: number;
  replayed: boolean;
  /** The last four characters of the API key used, as Stripe's dashboard shows it. */
  apiKeyLast4: string;
  /** The names of the request's headers, lower-case (what reached Stripe, not their values). */
  headerNames: string[];
}

export interface StripeStandInOptions {
  port?: number;
  host?: string;
  latencyMs?: number;
  /** Epoch ms; Date.now by default. Transfer `created`, key ages and `RecordedRequest.at` use it. */
  now?: () => number;
  /** When true, a source_transaction must name a charge given to `setCharge`. Default false. */
  chargesMustExist?: boolean;
}

export interface StripeStandIn {
  readonly url: string;
  readonly port: number;
  /**
   * A connected account Stripe knows, in this state; changing the state of a known account emits
   * `account.updated`, as Stripe does when the account's capabilities change.
   */
  setAccount(id: string, state: AccountState): void;
  /** The account as GET /v1/accounts/:id answers it; undefined for an account Stripe does not know. */
  account(id: string): unknown;
  transfers(): StandInTransfer[];
  /** Every event emitted so far, oldest first. */
  events(): StandInEvent[];
  /** Calls `listener` with each event as it is emitted; returns what stops it. */
  onEvent(listener: (event: StandInEvent) => void): () => void;
  /**
   * The Idempotency-Key of the request whose execution created the transfer (undefined for a
   * transfer created without a key, or unknown). Test bookkeeping only: never part of an answer.
   */
  creatorKey(transferId: string): string | undefined;
  requests(): RecordedRequest[];
  setLatency(ms: number): void;
  /**
   * The next n POST /v1/transfers that would execute (not replays, not 409s) fail with this status
   * before anything is validated or created. 500 is stored under the key; 503 (an edge failure)
   * and 429 are not.
   */
  failNext(n: number, status: 500 | 503 | 429): void;
  /**
   * The next n POST /v1/transfers executions that create a transfer then answer 500 `api_error`,
   * stored under the key (so the work is done but the client is told it failed). Executions that
   * refuse do not count.
   */
  failNextAfterCreate(n: number): void;
  /** The next n POST /v1/transfers are processed (created, or replayed), then the socket is destroyed unanswered. */
  dropNextAfterCreate(n?: number): void;
  /**
   * The next n POST /v1/transfers executions that pass validation (not replays, not 409s) take
   * `ms` before they create or refuse, and finish even if the client has gone away. Meanwhile the
   * key answers 409 `idempotency_key_in_use`.
   */
  slowNext(n: number, ms: number): void;
  /** Transfer creations still executing (including ones whose client gave up). */
  inFlight(): number;
  /** Resolves once no transfer creation is executing. */
  whenIdle(): Promise<void>;
  /**
   * Enforces Stripe's per-endpoint rate limit, as Stripe does: more than `perSecond` requests to
   * POST /v1/transfers (or to GET /v1/transfers, counted apart) within any second answer 429
   * `endpoint-rate`. null (the default) lifts it.
   */
  limitRate(perSecond: number | null): void;
  /** How many requests limitRate answered 429. */
  rateLimited(): number;
  /** A rolled (expired) API key: every request made with it answers 401, as Stripe does. */
  revokeApiKey(apiKey: string): void;
  /** The platform's available balance in a currency (minor units); null means unlimited. */
  setBalance(currency: string, amount: number | null): void;
  balance(currency: string): number | null;
  /** A charge that transfers can name as `source_transaction`. */
  setCharge(id: string, charge: StandInCharge): void;
  /** When on, an unknown source_transaction is refused; when off, it is an unlimited charge. */
  setChargesMustExist(on: boolean): void;
  /** When on, a transfer with source_transaction takes the charge's transfer group, as Stripe may. */
  fileUnderChargeGroup(on: boolean): void;
  /** The next n GET /v1/transfers answer this status with a Stripe-shaped error (nothing cached). */
  failNextList(n: number, status: 500 | 400 | 404 | 429): void;
  /** The next n GET /v1/transfers have their socket destroyed without an answer. */
  dropNextList(n: number): void;
  /**
   * The next n GET /v1/accounts/:id answer this status with a Stripe-shaped error (404: the
   * unrecognized-URL answer without Stripe's code), or, for `drop`, lose the connection.
   */
  failNextAccountRead(n: number, status: 500 | 404 | 429 | 'drop'): void;
  /**
   * Idempotency keys older than this (by the clock) are forgotten, as Stripe prunes them after
   * 24 h; null keeps them. A key whose request is still executing is never pruned.
   */
  setIdempotencyKeyTtl(ms: number | null): void;
  /**
   * Forgets every stored idempotency key now, as Stripe may once a key is older than 24 h. Keys
   * whose request is still executing stay (they have stored nothing yet).
   */
  forgetIdempotencyKeys(): void;
  /**
   * Stops injected faults (create and list faults, slow executions not yet started, latency);
   * balances, charges, accounts, transfers, keys and modes stay.
   */
  clearFaults(): void;
  /** Everything back to the startup state. Executions still running are discarded when they end. */
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

interface Counted<T> {
  remaining: number;
  value: T;
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

const LIST_PARAMS = new Set([
  'created',
  'destination',
  'transfer_group',
  'limit',
  'starting_after',
  'ending_before',
  'expand',
]);

const CREATED_BOUNDS = new Set(['gt', 'gte', 'lt', 'lte']);

const REVERSAL_PARAMS = new Set([
  'amount',
  'description',
  'metadata',
  'refund_application_fee',
  'expand',
]);

/** A transfer embeds its newest reversals, this many; `has_more` says there are others. */
const EMBEDDED_REVERSALS = 10;

/** The API version events are rendered in: the one this repository's stripe SDK pins. */
const API_VERSION = '2026-10-28.endive';

const RESTRICTED_MESSAGE =
  'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments';

const BALANCE_INSUFFICIENT_MESSAGE =
  'You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance by creating Top-ups.';

const RATE_LIMITED: Answer = {
  status: 429,
  store: false,
  headers: { 'Stripe-Rate-Limited-Reason': 'endpoint-rate' },
  body: errorBody({
    type: 'invalid_request_error',
    code: 'rate_limit',
    message:
      'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.',
  }),
};

export async function startStripeStandIn(
  options: StripeStandInOptions = {},
): Promise<StripeStandIn> {
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? Date.now;
  const accounts = new Map<string, { state: AccountState; created: number }>();
  const transfers: StandInTransfer[] = [];
  const events: StandInEvent[] = [];
  const eventListeners = new Set<(event: StandInEvent) => void>();
  const creatorKeys = new Map<string, string>();
  /** Every reversal of each transfer, newest first (the transfer embeds the 10 newest). */
  const reversalsOf = new Map<string, StandInReversal[]>();
  const requests: RecordedRequest[] = [];
  const keys = new Map<string, IdempotencyEntry>();
  const balances = new Map<string, number>();
  const charges = new Map<string, StandInCharge>();
  const revokedApiKeys = new Set<string>();
  let endpointRate: number | null = null;
  let rateLimitedCount = 0;
  const recentByEndpoint = new Map<string, number[]>();
  const endpointLimit = (method: string, path: string) => {
    const endpoint = /^\/v1\/accounts\/[^/]+$/.test(path) ? '/v1/accounts/:id' : path;
    if (
      endpointRate === null ||
      (endpoint !== '/v1/transfers' && endpoint !== '/v1/accounts/:id')
    ) {
      return undefined;
    }
    const scope = `${method} ${endpoint}`;
    const recent = recentByEndpoint.get(scope) ?? [];
    recentByEndpoint.set(scope, recent);
    return { perSecond: endpointRate, recent };
  };
  const idleWaiters: Array<() => void> = [];
  let latencyMs = options.latencyMs ?? 0;
  let failures: Counted<500 | 503 | 429> = { remaining: 0, value: 500 };
  let failuresAfterCreate = 0;
  let drops = 0;
  let slow: Counted<number> = { remaining: 0, value: 0 };
  let listFailures: Counted<500 | 400 | 404 | 429> = { remaining: 0, value: 500 };
  let listDrops = 0;
  let accountReadFailures: Counted<500 | 404 | 429 | 'drop'> = { remaining: 0, value: 500 };
  let keyTtlMs: number | null = null;
  let chargesMustExist = options.chargesMustExist ?? false;
  let chargeGroupFiling = false;
  let running = 0;
  /** Bumped by reset(): executions begun before it end without touching the new state. */
  let generation = 0;

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
    // Arrival is when the request's head came in, as Stripe's edge would stamp it, not after the
    // body was read on this process's turn.
    const arrivedAt = now();
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const control = /^\/_stand_in\/accounts\/([^/]+)$/.exec(path);
    if (control) return controlAccount(res, method, control[1] ?? '', decodeForm(raw));
    const key = header(req, 'idempotency-key');
    const query = decodeForm(url.searchParams.toString());
    const apiKey = (header(req, 'authorization') ?? '').replace(/^Bearer\s+/i, '');
    const record: RecordedRequest = {
      method,
      path,
      idempotencyKey: key,
      params: method === 'POST' ? decodeForm(raw) : query,
      query,
      at: arrivedAt,
      status: 0,
      replayed: false,
      apiKeyLast4: apiKey.slice(-4),
      headerNames: Object.keys(req.headers),
    };
    requests.push(record);

    const revoked = revokedApiKeys.has(apiKey);
    if (revoked || !/^(sk|rk)_\w+$/.test(apiKey)) {
      const masked = apiKey.length > 8 ? `${apiKey.slice(0, 8)}****${apiKey.slice(-3)}` : '****';
      return answer(res, record, {
        status: 401,
        store: false,
        body: errorBody({
          type: 'invalid_request_error',
          message: `${revoked ? 'Expired' : 'Invalid'} API Key provided: ${masked}`,
        }),
      });
    }

    const limited = endpointLimit(method, path);
    if (limited) {
      const second = now() - 1000;
      while (limited.recent.length > 0 && (limited.recent[0] as number) <= second) {
        limited.recent.shift();
      }
      if (limited.recent.length >= limited.perSecond) {
        rateLimitedCount += 1;
        return answer(res, record, RATE_LIMITED);
      }
      limited.recent.push(now());
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
    if (method === 'GET' && path === '/v1/transfers') {
      if (listDrops > 0) {
        listDrops -= 1;
        res.socket?.destroy();
        return;
      }
      if (listFailures.remaining > 0) {
        listFailures.remaining -= 1;
        return answer(res, record, listFault(listFailures.value));
      }
    }
    if (method === 'GET' && path.startsWith('/v1/accounts/') && accountReadFailures.remaining > 0) {
      accountReadFailures.remaining -= 1;
      if (accountReadFailures.value === 'drop') {
        res.socket?.destroy();
        return;
      }
      return answer(res, record, listFault(accountReadFailures.value, method, path));
    }
    answer(res, record, route(method, path, record.params));
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

    const pending: IdempotencyEntry = { fingerprint: print, createdAt: now(), answer: undefined };
    if (key) keys.set(scope, pending);
    const started = generation;
    running += 1;
    let result: Answer;
    try {
      // Runs to the end whether or not the client is still there, as Stripe's execution does.
      result = await executeTransfer(record.params, started, key);
    } finally {
      running -= 1;
      if (running === 0) for (const wake of idleWaiters.splice(0)) wake();
    }
    if (started !== generation) return answer(res, record, result);
    if (key && keys.get(scope) === pending) {
      if (result.store) pending.answer = result;
      else keys.delete(scope);
    }
    answer(res, record, result, drop);
  }

  async function executeTransfer(
    params: FormParams,
    started: number,
    key: string | undefined,
  ): Promise<Answer> {
    await sleep(latencyMs);
    if (failures.remaining > 0) {
      failures.remaining -= 1;
      if (failures.value === 429) return RATE_LIMITED;
      if (failures.value === 503) {
        return {
          status: 503,
          store: false,
          body: errorBody({
            type: 'api_error',
            message: 'The service is temporarily unavailable. Please try again later.',
          }),
        };
      }
      return {
        status: 500,
        store: true,
        body: errorBody({ type: 'api_error', message: 'An unknown error occurred' }),
      };
    }
    const invalid = validateTransfer(params);
    if (invalid) return { status: 400, store: false, body: errorBody(invalid) };
    if (slow.remaining > 0) {
      slow.remaining -= 1;
      await sleep(slow.value);
    }
    if (started !== generation) {
      return {
        status: 500,
        store: false,
        body: errorBody({
          type: 'api_error',
          message: 'The stand-in was reset during this request',
        }),
      };
    }
    return decideTransfer(params, key);
  }

  /** Everything after validation: destination, charge and balance checks, then the transfer. */
  function decideTransfer(params: FormParams, key: string | undefined): Answer {
    const destination = String(params.destination);
    const amount = Number(params.amount);
    const currency = String(params.currency);
    const state = accounts.get(destination)?.state;
    if (!state) {
      return refusal({
        type: 'invalid_request_error',
        code: 'resource_missing',
        param: 'destination',
        message: `No such destination: '${destination}'`,
      });
    }
    if (state === 'restricted') {
      return refusal({
        type: 'invalid_request_error',
        code: 'insufficient_capabilities_for_transfer',
        message: RESTRICTED_MESSAGE,
      });
    }
    const chargeId =
      typeof params.source_transaction === 'string' && params.source_transaction !== ''
        ? params.source_transaction
        : undefined;
    let transferGroup = typeof params.transfer_group === 'string' ? params.transfer_group : null;
    if (chargeId) {
      const charge = charges.get(chargeId);
      if (!charge && chargesMustExist) {
        return refusal({
          type: 'invalid_request_error',
          code: 'resource_missing',
          param: 'source_transaction',
          message: `No such charge: '${chargeId}'`,
        });
      }
      if (charge) {
        if (charge.currency !== currency) {
          return refusal({
            type: 'invalid_request_error',
            param: 'currency',
            message: `The currency of source_transaction's balance transaction (${charge.currency}) must be the same as the transfer currency (${currency})`,
          });
        }
        const remaining = charge.amount - transferredFrom(chargeId);
        if (amount > remaining) {
          return refusal({
            type: 'invalid_request_error',
            param: 'amount',
            message: `Insufficient funds in source_transaction '${chargeId}': the transfer amount (${amount} ${currency}) exceeds what remains of the charge (${remaining} ${currency}).`,
          });
        }
      }
      if (chargeGroupFiling) transferGroup = charge?.transferGroup || `group_${chargeId}`;
    } else {
      const available = balances.get(currency);
      if (available !== undefined && amount > available) {
        return refusal({
          type: 'invalid_request_error',
          code: 'balance_insufficient',
          message: BALANCE_INSUFFICIENT_MESSAGE,
        });
      }
      if (available !== undefined) balances.set(currency, available - amount);
    }
    const transfer: StandInTransfer = {
      id: `tr_${randomId(24)}`,
      object: 'transfer',
      amount,
      currency,
      destination,
      transfer_group: transferGroup,
      source_transaction: chargeId ?? null,
      metadata: (params.metadata as Record<string, string> | undefined) ?? {},
      description: typeof params.description === 'string' ? params.description : null,
      created: Math.floor(now() / 1000),
      livemode: false,
      amount_reversed: 0,
      reversed: false,
      reversals: { object: 'list', data: [], has_more: false, url: '' },
    };
    transfer.reversals.url = `/v1/transfers/${transfer.id}/reversals`;
    transfers.push(transfer);
    if (key !== undefined) creatorKeys.set(transfer.id, key);
    if (failuresAfterCreate > 0) {
      failuresAfterCreate -= 1;
      return {
        status: 500,
        store: true,
        body: errorBody({ type: 'api_error', message: 'An unknown error occurred' }),
      };
    }
    return { status: 200, store: true, body: transfer };
  }

  function transferredFrom(chargeId: string): number {
    return transfers
      .filter((transfer) => transfer.source_transaction === chargeId)
      .reduce((sum, transfer) => sum + transfer.amount, 0);
  }

  /** `params`: the query of a GET, the form body of a POST. */
  function route(method: string, path: string, params: FormParams): Answer {
    if (method === 'GET' && path === '/v1/transfers') return listTransfers(params);
    const transferMatch = /^\/v1\/transfers\/([^/]+)$/.exec(path);
    if (method === 'GET' && transferMatch) {
      const transfer = transfers.find((candidate) => candidate.id === transferMatch[1]);
      return transfer
        ? { status: 200, store: false, body: transfer }
        : notFound('id', `No such transfer: '${transferMatch[1]}'`);
    }
    const reversalsMatch = /^\/v1\/transfers\/([^/]+)\/reversals$/.exec(path);
    if (method === 'POST' && reversalsMatch)
      return reverseTransfer(reversalsMatch[1] ?? '', params);
    const accountMatch = /^\/v1\/accounts\/([^/]+)$/.exec(path);
    if (method === 'GET' && accountMatch) {
      const id = accountMatch[1] ?? '';
      const known = accountObject(id);
      return known
        ? { status: 200, store: false, body: known }
        : notFound('account', `No such account: '${id}'`);
    }
    return unrecognizedUrl(method, path);
  }

  function accountObject(id: string) {
    const known = accounts.get(id);
    return known && connectedAccount(id, known.state, known.created);
  }

  function setAccount(id: string, state: AccountState): void {
    const before = accounts.get(id);
    accounts.set(id, { state, created: before?.created ?? Math.floor(now() / 1000) });
    if (!before || before.state === state) return;
    const previous = connectedAccount(id, before.state, before.created);
    emit('account.updated', connectedAccount(id, state, before.created), {
      account: id,
      previousAttributes: {
        capabilities: previous.capabilities,
        charges_enabled: previous.charges_enabled,
        payouts_enabled: previous.payouts_enabled,
        requirements: previous.requirements,
      },
    });
  }

  /** A reversal of (part of) a transfer, as Stripe makes one; the transfer shows it at once. */
  function reverseTransfer(transferId: string, params: FormParams): Answer {
    const transfer = transfers.find((candidate) => candidate.id === transferId);
    if (!transfer) return notFound('id', `No such transfer: '${transferId}'`);
    for (const name of Object.keys(params)) {
      if (!REVERSAL_PARAMS.has(name)) {
        return refusal({
          type: 'invalid_request_error',
          code: 'parameter_unknown',
          param: name,
          message: `Received unknown parameter: ${name}`,
        });
      }
    }
    const remaining = transfer.amount - transfer.amount_reversed;
    let amount = remaining;
    if (params.amount !== undefined) {
      const parsed = integer(params.amount, 'amount');
      if (typeof parsed !== 'number') return refusal(parsed.error);
      amount = parsed;
    }
    if (amount <= 0 || amount > remaining) {
      return refusal({
        type: 'invalid_request_error',
        param: 'amount',
        message: `You cannot reverse ${amount} ${transfer.currency}: ${remaining} of the transfer remain to be reversed.`,
      });
    }
    const reversal: StandInReversal = {
      id: `trr_${randomId(24)}`,
      object: 'transfer_reversal',
      amount,
      balance_transaction: `txn_${randomId(24)}`,
      created: Math.floor(now() / 1000),
      currency: transfer.currency,
      destination_payment_refund: null,
      metadata: (params.metadata as Record<string, string> | undefined) ?? {},
      source_refund: null,
      transfer: transfer.id,
    };
    const reversals = reversalsOf.get(transfer.id) ?? [];
    reversals.unshift(reversal);
    reversalsOf.set(transfer.id, reversals);
    transfer.amount_reversed += amount;
    transfer.reversed = transfer.amount_reversed === transfer.amount;
    transfer.reversals = {
      ...transfer.reversals,
      data: reversals.slice(0, EMBEDDED_REVERSALS),
      has_more: reversals.length > EMBEDDED_REVERSALS,
    };
    emit('transfer.reversed', structuredClone(transfer));
    return { status: 200, store: false, body: reversal };
  }

  function emit(
    type: string,
    object: unknown,
    from: { account?: string; previousAttributes?: Record<string, unknown> } = {},
  ): void {
    const event: StandInEvent = {
      id: `evt_${randomId(24)}`,
      object: 'event',
      ...(from.account && { account: from.account }),
      api_version: API_VERSION,
      created: Math.floor(now() / 1000),
      data: {
        object: structuredClone(object),
        ...(from.previousAttributes && { previous_attributes: from.previousAttributes }),
      },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
    events.push(event);
    for (const listener of eventListeners) listener(structuredClone(event));
  }

  /** `POST /_stand_in/accounts/:id` (`state=…`): setAccount from another process. */
  function controlAccount(
    res: ServerResponse,
    method: string,
    id: string,
    params: FormParams,
  ): void {
    const state = params.state;
    if (method !== 'POST' || (state !== 'active' && state !== 'restricted')) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('POST /_stand_in/accounts/:id takes state=active or state=restricted\n');
      return;
    }
    setAccount(id, state);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(accountObject(id)));
  }

  function listTransfers(query: FormParams): Answer {
    const parsed = parseListQuery(query);
    if ('error' in parsed) return refusal(parsed.error);
    const { limit, created, startingAfter, endingBefore } = parsed;
    // Newest first; transfers created in the same second stay in reverse creation order.
    const ordered = transfers
      .map((transfer, index) => ({ transfer, index }))
      .sort((a, b) => b.transfer.created - a.transfer.created || b.index - a.index)
      .map(({ transfer }) => transfer);
    const position = (id: string) => ordered.findIndex((transfer) => transfer.id === id);
    const cursorParam = startingAfter !== undefined ? 'starting_after' : 'ending_before';
    const cursorId = startingAfter ?? endingBefore;
    const cursor = cursorId === undefined ? -1 : position(cursorId);
    if (cursorId !== undefined && cursor < 0) {
      return refusal({
        type: 'invalid_request_error',
        code: 'resource_missing',
        param: cursorParam,
        message: `No such transfer: '${cursorId}'`,
      });
    }
    const matching = ordered
      .map((transfer, index) => ({ transfer, index }))
      .filter(
        ({ transfer }) =>
          (!parsed.destination || transfer.destination === parsed.destination) &&
          (!parsed.transferGroup || transfer.transfer_group === parsed.transferGroup) &&
          created(transfer.created),
      );
    let candidates: StandInTransfer[];
    let data: StandInTransfer[];
    if (endingBefore !== undefined) {
      candidates = matching.filter(({ index }) => index < cursor).map(({ transfer }) => transfer);
      // The page nearest the cursor, still newest first.
      data = candidates.slice(Math.max(candidates.length - limit, 0));
    } else {
      candidates = matching.filter(({ index }) => index > cursor).map(({ transfer }) => transfer);
      data = candidates.slice(0, limit);
    }
    return {
      status: 200,
      store: false,
      body: { object: 'list', url: '/v1/transfers', has_more: candidates.length > limit, data },
    };
  }

  function listFault(
    status: 500 | 400 | 404 | 429,
    method = 'GET',
    path = '/v1/transfers',
  ): Answer {
    if (status === 404) return unrecognizedUrl(method, path);
    if (status === 429) return RATE_LIMITED;
    if (status === 400) {
      return refusal({
        type: 'invalid_request_error',
        message: 'The request could not be processed (fault injected by the Stripe stand-in).',
      });
    }
    return {
      status: 500,
      store: false,
      body: errorBody({ type: 'api_error', message: 'An unknown error occurred' }),
    };
  }

  function liveEntry(scope: string): IdempotencyEntry | undefined {
    const entry = keys.get(scope);
    // A key is never pruned while its request is still executing.
    if (entry?.answer && keyTtlMs !== null && now() - entry.createdAt > keyTtlMs) {
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
    // The client may have given up (timeout, closed socket) while Stripe kept working.
    if (res.destroyed || !res.socket || res.socket.destroyed) return;
    send(res, result, record.idempotencyKey);
  }

  function clearFaults(): void {
    latencyMs = options.latencyMs ?? 0;
    failures = { remaining: 0, value: 500 };
    failuresAfterCreate = 0;
    drops = 0;
    slow = { remaining: 0, value: 0 };
    listFailures = { remaining: 0, value: 500 };
    listDrops = 0;
    accountReadFailures = { remaining: 0, value: 500 };
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host}:${port}`,
    port,
    setAccount,
    account: accountObject,
    transfers: () => [...transfers],
    events: () => [...events],
    onEvent(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },
    creatorKey: (transferId) => creatorKeys.get(transferId),
    requests: () => [...requests],
    setLatency: (ms) => {
      latencyMs = ms;
    },
    failNext: (n, status) => {
      failures = { remaining: n, value: status };
    },
    failNextAfterCreate: (n) => {
      failuresAfterCreate = n;
    },
    dropNextAfterCreate: (n = 1) => {
      drops = n;
    },
    slowNext: (n, ms) => {
      slow = { remaining: n, value: ms };
    },
    inFlight: () => running,
    whenIdle: () =>
      running === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve)),
    limitRate: (perSecond) => {
      endpointRate = perSecond;
      recentByEndpoint.clear();
    },
    rateLimited: () => rateLimitedCount,
    revokeApiKey: (apiKey) => {
      revokedApiKeys.add(apiKey);
    },
    setBalance: (currency, amount) => {
      if (amount === null) balances.delete(currency.toLowerCase());
      else balances.set(currency.toLowerCase(), amount);
    },
    balance: (currency) => balances.get(currency.toLowerCase()) ?? null,
    setCharge: (id, charge) => {
      charges.set(id, { ...charge, currency: charge.currency.toLowerCase() });
    },
    setChargesMustExist: (on) => {
      chargesMustExist = on;
    },
    fileUnderChargeGroup: (on) => {
      chargeGroupFiling = on;
    },
    failNextList: (n, status) => {
      listFailures = { remaining: n, value: status };
    },
    dropNextList: (n) => {
      listDrops = n;
    },
    failNextAccountRead: (n, status) => {
      accountReadFailures = { remaining: n, value: status };
    },
    setIdempotencyKeyTtl: (ms) => {
      keyTtlMs = ms;
    },
    forgetIdempotencyKeys: () => {
      // A key whose request is still executing is not stored yet, so there is nothing to forget.
      for (const [scope, entry] of keys) if (entry.answer) keys.delete(scope);
    },
    clearFaults,
    reset() {
      generation += 1;
      clearFaults();
      accounts.clear();
      transfers.length = 0;
      reversalsOf.clear();
      events.length = 0;
      creatorKeys.clear();
      requests.length = 0;
      keys.clear();
      balances.clear();
      charges.clear();
      revokedApiKeys.clear();
      endpointRate = null;
      rateLimitedCount = 0;
      recentByEndpoint.clear();
      keyTtlMs = null;
      chargesMustExist = options.chargesMustExist ?? false;
      chargeGroupFiling = false;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

interface ListQuery {
  limit: number;
  destination: string | undefined;
  transferGroup: string | undefined;
  created: (created: number) => boolean;
  startingAfter: string | undefined;
  endingBefore: string | undefined;
}

function parseListQuery(query: FormParams): ListQuery | { error: ErrorBody } {
  for (const name of Object.keys(query)) {
    if (!LIST_PARAMS.has(name)) {
      return {
        error: {
          type: 'invalid_request_error',
          code: 'parameter_unknown',
          param: name,
          message: `Received unknown parameter: ${name}`,
        },
      };
    }
  }
  const strings: Record<string, string | undefined> = {};
  for (const name of ['destination', 'transfer_group', 'starting_after', 'ending_before']) {
    const value = query[name];
    if (value !== undefined && typeof value !== 'string') {
      return {
        error: {
          type: 'invalid_request_error',
          code: 'parameter_invalid_string',
          param: name,
          message: `Invalid string: ${JSON.stringify(value)}`,
        },
      };
    }
    strings[name] = value === '' ? undefined : value;
  }
  if (strings.starting_after !== undefined && strings.ending_before !== undefined) {
    return {
      error: {
        type: 'invalid_request_error',
        param: 'ending_before',
        message: 'You may only specify one of these parameters: starting_after, ending_before.',
      },
    };
  }
  let limit = 10;
  if (query.limit !== undefined) {
    const parsed = integer(query.limit, 'limit');
    if (typeof parsed !== 'number') return parsed;
    if (parsed < 1 || parsed > 100) {
      return {
        error: {
          type: 'invalid_request_error',
          code: 'parameter_invalid_integer',
          param: 'limit',
          message:
            parsed < 1
              ? 'This value must be greater than or equal to 1.'
              : 'This value must be less than or equal to 100.',
        },
      };
    }
    limit = parsed;
  }
  const bounds: Array<(created: number) => boolean> = [];
  const created = query.created;
  if (typeof created === 'string' || Array.isArray(created)) {
    const exact = integer(created, 'created');
    if (typeof exact !== 'number') return exact;
    bounds.push((value) => value === exact);
  } else if (created !== undefined) {
    for (const [bound, raw] of Object.entries(created)) {
      const param = `created[${bound}]`;
      if (!CREATED_BOUNDS.has(bound)) {
        return {
          error: {
            type: 'invalid_request_error',
            code: 'parameter_unknown',
            param,
            message: `Received unknown parameter: ${param}`,
          },
        };
      }
      const edge = integer(raw, param);
      if (typeof edge !== 'number') return edge;
      if (bound === 'gt') bounds.push((value) => value > edge);
      if (bound === 'gte') bounds.push((value) => value >= edge);
      if (bound === 'lt') bounds.push((value) => value < edge);
      if (bound === 'lte') bounds.push((value) => value <= edge);
    }
  }
  return {
    limit,
    destination: strings.destination,
    transferGroup: strings.transfer_group,
    created: (value) => bounds.every((inBounds) => inBounds(value)),
    startingAfter: strings.starting_after,
    endingBefore: strings.ending_before,
  };
}

function integer(value: FormValue, param: string): number | { error: ErrorBody } {
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  return {
    error: {
      type: 'invalid_request_error',
      code: 'parameter_invalid_integer',
      param,
      message: `Invalid integer: ${typeof value === 'string' ? value : JSON.stringify(value)}`,
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

/**
 * A connected account as GET /v1/accounts/:id renders it: an Express account whose transfers
 * capability is active, or restricted for verification past due.
 */
function connectedAccount(id: string, state: AccountState, created: number) {
  const active = state === 'active';
  const due = active ? [] : ['individual.verification.document'];
  return {
    id,
    object: 'account' as const,
    business_type: 'individual',
    capabilities: { transfers: active ? 'active' : 'inactive' },
    charges_enabled: active,
    country: 'US',
    created,
    default_currency: 'usd',
    details_submitted: true,
    email: null,
    metadata: {},
    payouts_enabled: active,
    requirements: {
      alternatives: [],
      current_deadline: null,
      currently_due: due,
      disabled_reason: active ? null : 'requirements.past_due',
      errors: [],
      eventually_due: due,
      past_due: due,
      pending_verification: [],
    },
    type: 'express',
  };
}

/** A 400 with Stripe's error shape; stored when it comes from execution. */
function refusal(error: ErrorBody): Answer {
  return { status: 400, store: true, body: errorBody(error) };
}

function unrecognizedUrl(method: string, path: string): Answer {
  return {
    status: 404,
    store: false,
    body: errorBody({
      type: 'invalid_request_error',
      message: `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
    }),
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
