// Resource limits of both gRPC servers and the guards the handlers call: the server options,
// the deadline rule, the rate limiters and the enumeration alert, all from node.json `limits`.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { limitsSchema, type NodeLimits } from '../config/limits-schema';
import { EnumerationDetector } from './enumeration';
import type { RpcObserver } from './ports';
import { RateLimiter } from './rate-limit';

/** The limits of a config, or every default (for a config built without the schema). */
export function limitsOf(config: { limits?: NodeLimits }): NodeLimits {
  return config.limits ?? limitsSchema.parse(undefined);
}

/** Services whose unary calls must carry a deadline; health and reflection stay open to generic tools. */
const DEADLINE_SERVICES = ['/mamori.v1.'];

/**
 * Refuses a unary call of a Mamori service that carries no deadline (INVALID_ARGUMENT), before
 * its request is read. Streams (Follow, Fetch, MirrorFilter, alerts) are exempt: they may run
 * for as long as the caller follows. grpc-js reports no deadline as Infinity.
 */
export function deadlineInterceptor(): grpc.ServerInterceptor {
  return (method, call) => {
    const exempt =
      method.requestStream || method.responseStream || !DEADLINE_SERVICES.some((prefix) => method.path.startsWith(prefix)) || Number.isFinite(Number(call.getDeadline()));
    if (exempt) return call as grpc.ServerInterceptingCall;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: () => {
            call.sendStatus({
              code: grpc.status.INVALID_ARGUMENT,
              details: 'deadline required: set a deadline (grpc-timeout) on every call',
              metadata: new grpc.Metadata(),
            });
          },
        }),
    });
  };
}

/** Options of a gRPC server: message sizes both ways, streams, keepalive, connection age, deadlines. */
export function serverOptions(limits: NodeLimits, maxMessageBytes: number): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': maxMessageBytes,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    // The client ping policy; grpc-js 1.14 does not enforce it on servers, other stacks in front do.
    'grpc.keepalive_permit_without_calls': limits.keepalivePermitWithoutCalls ? 1 : 0,
    'grpc.http2.min_ping_interval_without_data_ms': limits.minPingIntervalMs,
    'grpc.max_connection_age_ms': limits.maxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': limits.maxConnectionAgeGraceMs,
    interceptors: limits.requireDeadline ? [deadlineInterceptor()] : [],
  };
}

/** What the Exchange handlers check per call, keyed by the client's token digest. */
export interface ExchangeGuard {
  checks: RateLimiter;
  publications: RateLimiter;
  enumeration: EnumerationDetector;
}

/** Refusals are told to `observer`: the node's metrics count those of all its servers together. */
export function exchangeGuard(observer: RpcObserver, limits: NodeLimits, log: Logger): ExchangeGuard {
  return {
    checks: new RateLimiter(observer, 'checks', limits.rates.checks, 'checked selectors per client'),
    publications: new RateLimiter(observer, 'publications', limits.rates.publications, 'published indicators per client'),
    enumeration: new EnumerationDetector(limits.enumeration, log),
  };
}

/** What the Replication handlers check per call, keyed by the peer's member id. */
export interface ReplicationGuard {
  fetches: RateLimiter;
  heads: RateLimiter;
  consortium: RateLimiter;
}

export function replicationGuard(observer: RpcObserver, limits: NodeLimits): ReplicationGuard {
  return {
    fetches: new RateLimiter(observer, 'fetches', limits.rates.fetches, 'Fetch calls per peer'),
    heads: new RateLimiter(observer, 'heads', limits.rates.heads, 'Heads calls per peer'),
    consortium: new RateLimiter(observer, 'consortium', limits.rates.consortium, 'GetConsortium and OfferConsortium calls per caller'),
  };
}
