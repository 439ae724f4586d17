// Member-local clients present the token from their client.json; the node keeps only digests,
// each with a name and its scopes (node config clientTokens; the older clientTokenDigests get
// every scope but admin). Every Exchange method needs one scope (METHOD_SCOPES).
//
// A failed authentication is answered UNAUTHENTICATED (a missing scope PERMISSION_DENIED,
// naming the scope), logged with the method and the reason (never the token; the token's name
// for a missing scope), at most one line per reason a second, and counted (status, metrics).
import type * as grpc from '@grpc/grpc-js';
import type { ExchangeHandlers } from '../../../proto/gen/mamori/v1/Exchange';
import type { Logger } from 'pino';
import { LEGACY_TOKEN_SCOPES, type TokenScope } from '../config/schemas';
import { tokenDigest } from '../crypto/epochs';
import { MamoriError } from '../ledger/errors';
import type { AuthFailureReason } from '../metrics/observer';

/** The methods of the Exchange service (the generated interface without grpc-js's index signature). */
export type ExchangeMethod = keyof { [K in keyof ExchangeHandlers as string extends K ? never : K]: ExchangeHandlers[K] };

/**
 * The scope each Exchange method needs. EvaluatePanSelectors has a scope of its own
 * (`evaluate`): it answers PAN selectors for any card it is given, an oracle as strong as the
 * hashing key (`keys`), so neither `check` nor `publish` implies it.
 */
export const METHOD_SCOPES = {
  Check: 'check',
  CheckStream: 'check',
  MirrorFilter: 'check',
  Publish: 'publish',
  Retract: 'publish',
  ReportCardTesting: 'report',
  ReportSightings: 'report',
  ReportFraud: 'report',
  Alerts: 'alerts',
  WatchMerchants: 'alerts',
  GetHashingKeys: 'keys',
  EvaluatePanSelectors: 'evaluate',
  EvaluatePanSelectorsStream: 'evaluate',
  Status: 'status',
  Unfreeze: 'admin',
} as const satisfies Record<ExchangeMethod, TokenScope>;


/** Who called: the token's digest (rate limits are per token), its name, and its scopes. */
export interface Caller {
  digest: string;
  name: string;
  /** The audit log's actor: "client:<name>". */
  actor: string;
  scopes: ReadonlySet<TokenScope>;
}

/** Throws UNAUTHENTICATED or PERMISSION_DENIED when the caller may not call this method. */
export type Authenticator = (metadata: grpc.Metadata, method: ExchangeMethod) => Caller;

export interface ClientToken {
  name: string;
  digest: string;
  scopes: readonly TokenScope[];
}

/** The node config's tokens: clientTokens as given, and each clientTokenDigests entry with the legacy scopes, named by its digest's first 8 hex digits. */
export function clientTokensOf(config: { clientTokens?: readonly ClientToken[]; clientTokenDigests?: readonly string[] }): ClientToken[] {
  return [
    ...(config.clientTokens ?? []).map((t) => ({ name: t.name, digest: t.digest, scopes: [...t.scopes] })),
    ...(config.clientTokenDigests ?? []).map((digest) => ({ name: digest.slice(0, 8), digest, scopes: [...LEGACY_TOKEN_SCOPES] })),
  ];
}

/**
 * Node's HTTP/2 server keeps only the first of repeated "authorization" headers (a single-value
 * header to it), so a request with two would be taken by its first. Listening to the server's
 * 'stream' event ahead of grpc-js, this puts every value back (from the raw header list), so
 * the authenticator sees them all and refuses the request UNAUTHENTICATED.
 */
export function keepRepeatedAuthorization(_stream: unknown, headers: Record<string, unknown>, _flags: unknown, rawHeaders?: unknown): void {
  if (!Array.isArray(rawHeaders)) return;
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (String(rawHeaders[i]).toLowerCase() === 'authorization') values.push(String(rawHeaders[i + 1]));
  }
  if (values.length > 1) headers.authorization = values;
}

/** RFC 9110 auth-scheme (a token), then one or more spaces, then the credentials. */
const AUTHORIZATION = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) +(\S+)$/;
const LOG_EVERY_MS = 1000;

export function tokenAuthenticator(tokens: readonly ClientToken[], log: Logger, failed: (reason: AuthFailureReason) => void = () => {}): Authenticator {
  const byDigest = new Map<string, Caller>(tokens.map((t) => [t.digest, { digest: t.digest, name: t.name, actor: `client:${t.name}`, scopes: new Set(t.scopes) }]));
  const lastLogged = new Map<AuthFailureReason, { atMs: number; suppressed: number }>();
  const refuse = (reason: AuthFailureReason, method: ExchangeMethod, error: MamoriError, fields: object = {}): never => {
    failed(reason);
    const now = Date.now();
    const last = lastLogged.get(reason);
    if (!last || now - last.atMs >= LOG_EVERY_MS) {
      log.warn({ method, reason, ...fields, ...(last?.suppressed ? { suppressedSinceLastLine: last.suppressed } : {}) }, 'member-local call refused: authentication failed');
      lastLogged.set(reason, { atMs: now, suppressed: 0 });
    } else last.suppressed++;
    throw error;
  };
  return (metadata, method) => {
    const values = metadata.get('authorization');
    if (values.length === 0) return refuse('missing', method, MamoriError.unauthenticated('missing "authorization: Bearer <token>" metadata (the token is in client.json)'));
    if (values.length > 1) return refuse('duplicate', method, MamoriError.unauthenticated('more than one "authorization" header: send exactly one'));
    const [header] = values;
    const match = typeof header === 'string' ? AUTHORIZATION.exec(header) : null;
    // The scheme is case-insensitive (RFC 9110 §11.1): Bearer, bearer and BEARER are one.
    if (!match || (match[1] as string).toLowerCase() !== 'bearer') {
      return refuse('malformed', method, MamoriError.unauthenticated('expected "authorization: Bearer <token>" (the token is in client.json)'));
    }
    const caller = byDigest.get(tokenDigest(match[2] as string));
    if (!caller) return refuse('unknown_token', method, MamoriError.unauthenticated('the client token is not accepted by this node'));
    const scope = METHOD_SCOPES[method];
    if (!caller.scopes.has(scope)) {
      return refuse(
        'missing_scope',
        method,
        MamoriError.permissionDenied(`${method} needs the "${scope}" scope, which the client token "${caller.name}" does not have (clientTokens[].scopes in the node config)`),
        { token: caller.name, scope },
      );
    }
    return caller;
  };
}
