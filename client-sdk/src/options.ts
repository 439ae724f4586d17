// Client options: the defaults in one place, and one parser that validates, names the field
// at fault, and returns a new frozen object (the caller's object is never changed).
import type * as grpc from './transport';
import { MamoriClientError } from './errors';
import { defaultPolicy, type VerdictPolicy } from './policy';

export type CheckMode = 'mirror' | 'remote';
export type FailMode = 'open' | 'closed';

export interface BatchOptions {
  /** How long a batch waits for more checks. 0 (default): flush on the next setImmediate, i.e. what arrived in the same event-loop turn. */
  windowMs?: number;
  /** Selectors per Check RPC (a card is one selector per active key epoch). */
  maxSize?: number;
  /** Check RPCs in flight at once; past this, checks accumulate into larger batches. */
  maxInFlight?: number;
}

export interface ReconnectOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface ClientOptions {
  /** host:port of the member's own node. */
  target: string;
  token: string;
  /** Default: an insecure channel (a node on the member's own host or network). */
  credentials?: grpc.ChannelCredentials;
  /** 'mirror' (default) answers negatives in-process from a copy of the node's filter; 'remote' asks the node every time. */
  mode?: CheckMode;
  /** Budget of one check, from the call to its answer (default 50 ms). */
  deadlineMs?: number;
  /** Deadline of publish, retract, status and key fetches (default 10 s). */
  adminDeadlineMs?: number;
  /** What a check answers when the node cannot: 'open' approves (default), 'closed' sends to review. */
  failMode?: FailMode;
  /** Maps evidence to an action; default: `defaultPolicy`. */
  policy?: VerdictPolicy;
  batch?: BatchOptions;
  reconnect?: ReconnectOptions;
  /** Where the client reports what an operator should know (mirror fallbacks, degraded answers). */
  log?: (message: string) => void;
}

export interface ResolvedOptions {
  readonly target: string;
  readonly token: string;
  readonly credentials: grpc.ChannelCredentials | undefined;
  readonly mode: CheckMode;
  readonly deadlineMs: number;
  readonly adminDeadlineMs: number;
  readonly failMode: FailMode;
  readonly policy: VerdictPolicy;
  readonly batch: Readonly<Required<BatchOptions>>;
  readonly reconnect: Readonly<Required<ReconnectOptions>>;
  readonly log: (message: string) => void;
}

/** The node accepts at most this many selectors in one Check. */
export const MAX_BATCH = 10_000;

export const DEFAULTS = Object.freeze({
  mode: 'mirror' as CheckMode,
  deadlineMs: 50,
  adminDeadlineMs: 10_000,
  failMode: 'open' as FailMode,
  batch: Object.freeze({ windowMs: 0, maxSize: 1000, maxInFlight: 16 }),
  // Quick recovery after a node restart: grpc-js defaults are 1 s and 120 s.
  reconnect: Object.freeze({ initialBackoffMs: 100, maxBackoffMs: 2000 }),
});

const KNOWN = ['target', 'token', 'credentials', 'mode', 'deadlineMs', 'adminDeadlineMs', 'failMode', 'policy', 'batch', 'reconnect', 'log'];

export function parseOptions(input: ClientOptions): ResolvedOptions {
  if (typeof input !== 'object' || input === null) throw MamoriClientError.config('options', 'expected an object');
  const o = input as unknown as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.includes(key) && o[key] !== undefined) throw MamoriClientError.config(`options.${key}`, `unknown option; expected one of ${KNOWN.join(', ')}`);
  }
  const batch = object(o.batch, 'options.batch', ['windowMs', 'maxSize', 'maxInFlight']);
  const reconnect = object(o.reconnect, 'options.reconnect', ['initialBackoffMs', 'maxBackoffMs']);
  const resolved: ResolvedOptions = {
    target: text(o.target, 'options.target', 'host:port of the member\'s node'),
    token: text(o.token, 'options.token', 'the client token of the member\'s node'),
    credentials: o.credentials === undefined ? undefined : (object(o.credentials, 'options.credentials', undefined) as unknown as grpc.ChannelCredentials),
    mode: oneOf(o.mode, 'options.mode', ['mirror', 'remote'], DEFAULTS.mode),
    deadlineMs: number(o.deadlineMs, 'options.deadlineMs', 1, 600_000, DEFAULTS.deadlineMs),
    adminDeadlineMs: number(o.adminDeadlineMs, 'options.adminDeadlineMs', 1, 600_000, DEFAULTS.adminDeadlineMs),
    failMode: oneOf(o.failMode, 'options.failMode', ['open', 'closed'], DEFAULTS.failMode),
    policy: fn(o.policy, 'options.policy', defaultPolicy) as VerdictPolicy,
    batch: Object.freeze({
      windowMs: number(batch.windowMs, 'options.batch.windowMs', 0, 1000, DEFAULTS.batch.windowMs),
      maxSize: integer(batch.maxSize, 'options.batch.maxSize', 1, MAX_BATCH, DEFAULTS.batch.maxSize),
      maxInFlight: integer(batch.maxInFlight, 'options.batch.maxInFlight', 1, 1024, DEFAULTS.batch.maxInFlight),
    }),
    reconnect: Object.freeze({
      initialBackoffMs: integer(reconnect.initialBackoffMs, 'options.reconnect.initialBackoffMs', 10, 60_000, DEFAULTS.reconnect.initialBackoffMs),
      maxBackoffMs: integer(reconnect.maxBackoffMs, 'options.reconnect.maxBackoffMs', 10, 600_000, DEFAULTS.reconnect.maxBackoffMs),
    }),
    log: fn(o.log, 'options.log', () => undefined) as (message: string) => void,
  };
  if (resolved.reconnect.maxBackoffMs < resolved.reconnect.initialBackoffMs) {
    throw MamoriClientError.config('options.reconnect.maxBackoffMs', `must be at least initialBackoffMs (${resolved.reconnect.initialBackoffMs})`);
  }
  // Kept out of JSON.stringify and console.log, so that logging the options never logs the token.
  Object.defineProperty(resolved, 'token', { enumerable: false });
  return Object.freeze(resolved);
}

function text(value: unknown, field: string, expected: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw MamoriClientError.config(field, `required: ${expected}`);
  return value;
}

function number(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw MamoriClientError.config(field, `expected a number from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function integer(value: unknown, field: string, min: number, max: number, fallback: number): number {
  const n = number(value, field, min, max, fallback);
  if (!Number.isInteger(n)) throw MamoriClientError.config(field, `expected a whole number, got ${n}`);
  return n;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw MamoriClientError.config(field, `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`);
  return value as T;
}

function fn(value: unknown, field: string, fallback: unknown): unknown {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') throw MamoriClientError.config(field, `expected a function, got ${describe(value)}`);
  return value;
}

function object(value: unknown, field: string, keys: readonly string[] | undefined): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw MamoriClientError.config(field, `expected an object, got ${describe(value)}`);
  const record = value as Record<string, unknown>;
  if (keys) {
    for (const key of Object.keys(record)) {
      if (!keys.includes(key) && record[key] !== undefined) throw MamoriClientError.config(`${field}.${key}`, `unknown option; expected one of ${keys.join(', ')}`);
    }
  }
  return record;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
