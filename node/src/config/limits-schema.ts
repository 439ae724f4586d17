// The `limits` object of node.json: resource limits of both gRPC servers, rate limits and the
// enumeration alert. Every field has a default, so the object (and any field) may be omitted.
import { z } from 'zod';

/** A token bucket: `perSecond` refill, at most `burst` at once (a request larger than burst is refused). */
const rate = (perSecond: number, burst: number) =>
  z
    .object({
      perSecond: z.number().positive().max(1e9).default(perSecond),
      burst: z.number().int().min(1).max(1e10).default(burst),
    })
    .strict()
    .prefault({});

export const limitsSchema = z
  .object({
    // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per connection: calls and streams in flight on one connection.
    maxConcurrentStreams: z.number().int().min(1).max(100_000).default(100),
    // The server pings an idle connection every keepaliveTimeMs and closes it when no answer comes in keepaliveTimeoutMs.
    keepaliveTimeMs: z.number().int().min(1000).default(60_000),
    keepaliveTimeoutMs: z.number().int().min(1000).default(20_000),
    // Client pings: allowed without calls in flight, no more often than minPingIntervalMs (peers ping every 30 s).
    keepalivePermitWithoutCalls: z.boolean().default(true),
    minPingIntervalMs: z.number().int().min(1000).default(10_000),
    // A connection is asked to go away after maxConnectionAgeMs and closed maxConnectionAgeGraceMs later
    // (long streams — Follow, MirrorFilter — are then resumed by the client on a new connection).
    maxConnectionAgeMs: z.number().int().min(1000).default(3_600_000),
    maxConnectionAgeGraceMs: z.number().int().min(0).default(300_000),
    // A server stream (Fetch, Follow, MirrorFilter, Alerts) whose client has not read for this long is reset.
    streamStallMs: z.number().int().min(1000).max(3_600_000).default(60_000),
    // Unary calls on the Exchange and Replication services without a deadline are refused (INVALID_ARGUMENT).
    requireDeadline: z.boolean().default(true),
    rates: z
      .object({
        // Per client token: selectors checked, indicators published.
        checks: rate(2_000_000, 4_000_000),
        publications: rate(500_000, 1_000_000),
        // Per peer member: Fetch calls and Heads calls on the Replication service.
        fetches: rate(200, 1_000),
        heads: rate(50, 200),
        // Per caller: GetConsortium and OfferConsortium calls (an offer is open to any certificate
        // from the consortium CA, so it is bounded here; gossip makes a few per membership change).
        consortium: rate(2, 20),
      })
      .strict()
      .prefault({}),
    // An operator warning when one client checks more than `distinctSelectors` distinct selectors in
    // `windowMs`, at least `minMissRatio` of its checks not listed. Counted approximately (HyperLogLog).
    enumeration: z
      .object({
        distinctSelectors: z.number().int().min(1).default(250_000),
        windowMs: z.number().int().min(1000).default(60_000),
        minMissRatio: z.number().min(0).max(1).default(0.9),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export type NodeLimits = z.infer<typeof limitsSchema>;
