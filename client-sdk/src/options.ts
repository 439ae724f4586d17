// Client options: the defaults in one place, and one zod schema per option (shared with
// client.json) behind a parser that names the field at fault and returns a new frozen object
// (the caller's object is never changed).
import type * as grpc from './transport';
import { z } from 'zod';
import { MamoriClientError } from './errors';
import { defaultPolicy, type VerdictPolicy } from './policy';

export type CheckMode = 'mirror' | 'remote';
export type FailMode = 'open' | 'closed';
export type CheckTransport = 'stream' | 'unary';

export interface BatchOptions {
  /** How long a batch waits for more checks. 0 (default): flush on the next setImmediate, i.e. what arrived in the same event-loop turn. */
  windowMs?: number;
  /** Selectors per Check RPC (a card is one selector per active key epoch). */
  maxSize?: number;
  /** Check RPCs in flight at once; past this, checks accumulate into larger batches. */
  maxInFlight?: number;
}

/** Oblivious PAN selectors (docs/oprf.md#the-client-sdk): the cache and the coalescing of evaluations. */
export interface SelectorOptions {
  /** Cards whose selector the in-memory cache keeps (least recently used go first); 0 disables it. */
  cacheSize?: number;
  /**
   * The member-local secret (32 bytes, or 64 hex digits) the cache files cards under (HMAC-SHA-256).
   * Default: random per client. Give one to import a cache exported by an earlier process.
   */
  cacheKey?: Uint8Array | string;
  /** How long a batch of first-seen cards waits for more. 0 (default): what arrives in the same event-loop turn. */
  windowMs?: number;
  /** EvaluatePanSelectors calls in flight at once; past this, cards accumulate into larger batches (up to 10,000). */
  maxInFlight?: number;
  /** Ask every seed group from two evaluators on the first try, so that a wrong answer is detected at once (more evaluator work). */
  verify?: boolean;
  /**
   * How evaluation requests travel: 'stream' (default) as messages of one open
   * EvaluatePanSelectorsStream (unary calls against a node without it), 'unary' one
   * EvaluatePanSelectors call each.
   */
  transport?: CheckTransport;
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
  /**
   * How the batcher's Check requests travel: 'stream' as messages of one open CheckStream (a
   * fraction of a unary call's round trip; unary Check against a node without it), 'unary' one
   * Check call each.
   */
  checkTransport?: CheckTransport;
  batch?: BatchOptions;
  selectors?: SelectorOptions;
  reconnect?: ReconnectOptions;
  /** Where the client reports what an operator should know (mirror fallbacks, degraded answers). */
  log?: (message: string) => void;
}

export interface ResolvedSelectorOptions {
  readonly cacheSize: number;
  /** Not enumerable: logging the options never logs it. */
  readonly cacheKey: Uint8Array | undefined;
  readonly windowMs: number;
  readonly maxInFlight: number;
  readonly verify: boolean;
  readonly transport: CheckTransport;
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
  readonly checkTransport: CheckTransport;
  readonly batch: Readonly<Required<BatchOptions>>;
  readonly selectors: ResolvedSelectorOptions;
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
  checkTransport: 'unary' as CheckTransport,
  batch: Object.freeze({ windowMs: 0, maxSize: 1000, maxInFlight: 16 }),
  // 100,000 cards ≈ 13 MB of heap (27 MB RSS, measured); an issuer pre-evaluating its card base sizes it to the base.
  selectors: Object.freeze({ cacheSize: 100_000, windowMs: 0, maxInFlight: 4, verify: false, transport: 'stream' as CheckTransport }),
  // Quick recovery after a node restart: grpc-js defaults are 1 s and 120 s.
  reconnect: Object.freeze({ initialBackoffMs: 100, maxBackoffMs: 2000 }),
});

// ---- validation: one zod schema per option, shared with client.json (config.ts) ----

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function numberFrom(min: number, max: number) {
  const error = (issue: { input?: unknown }) => `expected a number from ${min} to ${max}, got ${describe(issue.input)}`;
  return z.number({ error }).min(min, { error }).max(max, { error });
}

function wholeNumberFrom(min: number, max: number) {
  return numberFrom(min, max).int({ error: (issue) => `expected a whole number, got ${describe(issue.input)}` });
}

function oneOf<const T extends readonly [string, ...string[]]>(allowed: T) {
  return z.enum(allowed, { error: (issue) => `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(issue.input)}` });
}

function text(expected: string) {
  const error = `required: ${expected}`;
  return z.string({ error }).refine((v) => v.trim() !== '', { error });
}

function fn<F>() {
  return z.custom<F>((v) => typeof v === 'function', { error: (issue) => `expected a function, got ${describe(issue.input)}` });
}

/** An object that refuses keys it does not know, naming the ones it does. */
function options<Shape extends z.ZodRawShape>(shape: Shape) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `unknown option; expected one of ${known}` : `expected an object, got ${describe(issue.input)}`),
  });
}

/** The options a client.json may also hold (config.ts): one definition of their bounds. */
export const OPTION_SCHEMAS = {
  mode: oneOf(['mirror', 'remote']),
  deadlineMs: numberFrom(1, 600_000),
  adminDeadlineMs: numberFrom(1, 600_000),
  failMode: oneOf(['open', 'closed']),
  batch: options({
    windowMs: numberFrom(0, 1000).optional(),
    maxSize: wholeNumberFrom(1, MAX_BATCH).optional(),
    maxInFlight: wholeNumberFrom(1, 1024).optional(),
  }),
};

/** Most cards the selector cache may hold (about 130 bytes of heap, 270 of RSS, each: 20 M ≈ 5 GB RSS). */
export const MAX_SELECTOR_CACHE = 20_000_000;

const cacheKeySchema = z.custom<Uint8Array | string>(
  (v) => (v instanceof Uint8Array && v.length === 32) || (typeof v === 'string' && /^[0-9a-fA-F]{64}$/.test(v)),
  { error: (issue) => `expected 32 bytes (a Uint8Array or 64 hex digits), got ${issue.input instanceof Uint8Array ? `${issue.input.length} bytes` : typeof issue.input === 'string' ? `a string of ${issue.input.length} characters` : describe(issue.input)}` },
);

const clientOptionsSchema = options({
  target: text("host:port of the member's node"),
  token: text("the client token of the member's node"),
  credentials: z
    .custom<grpc.ChannelCredentials>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), { error: (issue) => `expected an object, got ${describe(issue.input)}` })
    .optional(),
  mode: OPTION_SCHEMAS.mode.optional(),
  deadlineMs: OPTION_SCHEMAS.deadlineMs.optional(),
  adminDeadlineMs: OPTION_SCHEMAS.adminDeadlineMs.optional(),
  failMode: OPTION_SCHEMAS.failMode.optional(),
  policy: fn<VerdictPolicy>().optional(),
  checkTransport: oneOf(['stream', 'unary']).optional(),
  batch: OPTION_SCHEMAS.batch.optional(),
  selectors: options({
    cacheSize: wholeNumberFrom(0, MAX_SELECTOR_CACHE).optional(),
    cacheKey: cacheKeySchema.optional(),
    windowMs: numberFrom(0, 1000).optional(),
    maxInFlight: wholeNumberFrom(1, 64).optional(),
    verify: z.boolean({ error: (issue) => `expected true or false, got ${describe(issue.input)}` }).optional(),
    transport: oneOf(['stream', 'unary']).optional(),
  }).optional(),
  reconnect: options({
    initialBackoffMs: wholeNumberFrom(10, 60_000).optional(),
    maxBackoffMs: wholeNumberFrom(10, 600_000).optional(),
  }).optional(),
  log: fn<(message: string) => void>().optional(),
}).superRefine((o, ctx) => {
  const initial = o.reconnect?.initialBackoffMs ?? DEFAULTS.reconnect.initialBackoffMs;
  if ((o.reconnect?.maxBackoffMs ?? DEFAULTS.reconnect.maxBackoffMs) < initial) {
    ctx.addIssue({ code: 'custom', path: ['reconnect', 'maxBackoffMs'], message: `must be at least initialBackoffMs (${initial})` });
  }
});

/** The dotted path of the field an issue is about ('' for the top level); an unknown key names itself. */
export function issueField(issue: z.core.$ZodIssue): string {
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
  return path.map(String).join('.');
}

export function parseOptions(input: ClientOptions): ResolvedOptions {
  const parsed = clientOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0] as z.core.$ZodIssue;
    const field = issueField(issue);
    throw MamoriClientError.config(field ? `options.${field}` : 'options', issue.message);
  }
  const o = parsed.data;
  const resolved: ResolvedOptions = {
    target: o.target,
    token: o.token,
    credentials: o.credentials,
    mode: o.mode ?? DEFAULTS.mode,
    deadlineMs: o.deadlineMs ?? DEFAULTS.deadlineMs,
    adminDeadlineMs: o.adminDeadlineMs ?? DEFAULTS.adminDeadlineMs,
    failMode: o.failMode ?? DEFAULTS.failMode,
    policy: o.policy ?? defaultPolicy,
    checkTransport: o.checkTransport ?? DEFAULTS.checkTransport,
    batch: Object.freeze({ ...DEFAULTS.batch, ...definedOnly(o.batch) }),
    selectors: resolveSelectors(o.selectors),
    reconnect: Object.freeze({ ...DEFAULTS.reconnect, ...definedOnly(o.reconnect) }),
    log: o.log ?? (() => undefined),
  };
  // Kept out of JSON.stringify and console.log, so that logging the options never logs the token.
  Object.defineProperty(resolved, 'token', { enumerable: false });
  return Object.freeze(resolved);
}

function resolveSelectors(input: SelectorOptions | undefined): ResolvedSelectorOptions {
  const { cacheKey, ...rest } = input ?? {};
  const resolved = { ...DEFAULTS.selectors, ...definedOnly(rest), cacheKey: undefined as Uint8Array | undefined };
  // A copy: the caller's buffer may be reused or wiped.
  const key = cacheKey === undefined ? undefined : typeof cacheKey === 'string' ? new Uint8Array(Buffer.from(cacheKey, 'hex')) : new Uint8Array(cacheKey);
  Object.defineProperty(resolved, 'cacheKey', { value: key, enumerable: false });
  return Object.freeze(resolved);
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
