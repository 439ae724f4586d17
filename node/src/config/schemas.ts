import { z } from 'zod';
import { limitsSchema } from './limits-schema';
import { LOOKS_LIKE_CARD_NUMBER, looksLikeCardNumber } from '../../../proto/ts/normalize';

export const base64 = (bytes: number, what: string) =>
  z
    .string()
    .refine((s) => /^[A-Za-z0-9+/]+={0,2}$/.test(s) && Buffer.from(s, 'base64').length === bytes, {
      message: `expected ${what}: ${bytes} bytes in base64`,
    });

export const memberId = z
  .string()
  .regex(/^[a-z0-9-]{3,32}$/, 'expected a member id: 3-32 characters of a-z, 0-9 and -')
  .refine((id) => !looksLikeCardNumber(id), LOOKS_LIKE_CARD_NUMBER);
export const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port, for example 127.0.0.1:7101')
    .refine((v) => !/:\d{1,5}$/.test(v) || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, { message: 'expected a port from 0 to 65535' });
const role = z.enum(['issuer', 'acquirer', 'psp']);

/**
 * What a client token may call on the member-local API (rpc/auth.ts maps each method to one):
 * check (Check, MirrorFilter), publish (Publish, Retract), report (ReportCardTesting,
 * ReportSightings, ReportFraud), alerts (Alerts, WatchMerchants), keys (GetHashingKeys),
 * evaluate (EvaluatePanSelectors), status (Status), admin (Unfreeze and other operator calls).
 */
export const TOKEN_SCOPES = ['check', 'publish', 'report', 'alerts', 'keys', 'evaluate', 'status', 'admin'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];
/**
 * The scopes of a token listed only in the older clientTokenDigests: every scope but admin.
 * Such tokens are the payment systems' own (check, publish, report): taking those away on an
 * upgrade would stop fraud checks; admin (unfreezing an equivocating origin) was never meant
 * for them and now needs a token listed in clientTokens with that scope.
 */
export const LEGACY_TOKEN_SCOPES: readonly TokenScope[] = TOKEN_SCOPES.filter((s) => s !== 'admin');

const tokenDigestHex = z.string().regex(/^[0-9a-f]{64}$/, 'expected a 64-hex-digit token digest');
const tokenName = z
  .string()
  .regex(/^[a-z][a-z0-9._-]{0,31}$/, 'expected a token name: 1-32 characters of a-z, 0-9, . _ -, starting with a letter')
  .refine((v) => !/\d{12}/.test(v), { message: 'a token name must not hold a run of 12 or more digits (it is written to logs and the audit log)' });

export const clientTokenSchema = z
  .object({ name: tokenName, digest: tokenDigestHex, scopes: z.array(z.enum(TOKEN_SCOPES)).min(1, 'a token needs at least one scope') })
  .strict();

/**
 * A member's keys. A read replica's key file (`mamori member replica`) has no signing.secretKey:
 * it never signs an entry; it signs its audit anchors with auditKey, a key of its own that the
 * member's signing key endorsed (trust/domains.ts auditKeyEndorsementBytes).
 */
export const memberKeyFileSchema = z
  .object({
    member: memberId,
    signing: z.object({ publicKey: base64(32, 'an Ed25519 public key'), secretKey: base64(64, 'an Ed25519 secret key').optional() }).strict(),
    box: z.object({ publicKey: base64(32, 'an X25519 public key'), secretKey: base64(32, 'an X25519 secret key') }).strict(),
    auditKey: z
      .object({
        publicKey: base64(32, 'an Ed25519 public key'),
        secretKey: base64(64, 'an Ed25519 secret key'),
        endorsement: base64(64, "an Ed25519 signature by the member's signing key"),
      })
      .strict()
      .optional(),
  })
  .strict();

export const operatorKeyFileSchema = z
  .object({ operator: z.literal(true), publicKey: base64(32, 'an Ed25519 public key'), secretKey: base64(64, 'an Ed25519 secret key') })
  .strict();

export const consortiumMemberSchema = z
  .object({
    id: memberId,
    roles: z.array(role).min(1, 'a member needs at least one role'),
    signingPublicKey: base64(32, 'an Ed25519 public key'),
    boxPublicKey: base64(32, 'an X25519 public key'),
    endpoint: hostPort,
    binRanges: z.array(z.string().regex(/^[0-9]{6,8}$/, 'expected a BIN: 6 to 8 digits')).default([]),
    // A removed member stays listed with this date so its earlier entries still verify;
    // nothing new is accepted from it and its connections are refused.
    removedAtMs: z.number().int().min(0).optional(),
  })
  .strict();

export const keyEpochSchema = z
  .object({
    epoch: z.number().int().min(1),
    activeFromMs: z.number().int().min(0),
    retiresAtMs: z.number().int().min(0).optional(),
    sealed: z.record(memberId, z.string().min(1)),
  })
  .strict();

export const commonPointSchema = z
  .object({
    aggregator: memberId,
    // Distinct issuers whose reports must name a merchant: at least 2, so a flag never stands for one issuer's report.
    k: z.number().int().min(2).max(100).default(2),
    lookBackDays: z.number().int().min(1).max(730).default(90),
    minCards: z.number().int().min(1).default(3),
    maxPValue: z.number().gt(0).lt(1).default(1e-6),
    // Members that were the aggregator before, each until when: their flags entries created up
    // to then keep verifying under this file, so a node fetching the ledger from seq 1 after
    // the aggregator changed takes the whole history.
    formerAggregators: z
      .array(z.object({ member: memberId, untilMs: z.number().int().min(0) }).strict())
      .max(100)
      .optional(),
  })
  .strict();

// The threshold PRF (docs/oprf.md): the public description of the dealing, the public input's
// BIN length, the evaluators' budgets, and each evaluator's seeds sealed to its box key. The
// structural checks that need more than one field (labels, holders, evaluators being members)
// are in evaluation/oprf-section.ts.
const hex = (bytes: number, what: string) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `expected ${what}: ${bytes} bytes in lowercase hex`);
export const oprfSeedSchema = z
  .object({
    label: z.string().regex(/^[0-9]+(?:\.[0-9]+)*$/, 'expected a seed label: evaluator indexes joined by "."'),
    excluded: z.array(z.number().int().min(1).max(16)).min(1).max(15),
    holders: z.array(z.number().int().min(1).max(16)).min(1).max(16),
    commitment: hex(32, 'a seed commitment'),
  })
  .strict();

export const oprfBudgetsSchema = z
  .object({
    // Evaluations per (requesting member, BIN) per hour, for a BIN outside the member's binRanges.
    perMemberBinHour: z.number().int().min(1).max(1e9).default(10_000),
    // Evaluations per requesting member per UTC day, of BINs outside its binRanges.
    perMemberDay: z.number().int().min(1).max(1e12).default(1_000_000),
    // Evaluations per (issuer, BIN) per hour for a BIN inside the member's own binRanges (its own cards).
    issuerPerMemberBinHour: z.number().int().min(1).max(1e9).default(2_000_000),
    // Evaluations per member per UTC day of BINs inside its own binRanges.
    issuerPerMemberDay: z.number().int().min(1).max(1e12).default(20_000_000),
  })
  .strict()
  .prefault({});

const powerOfTwo = (n: number) => Number.isInteger(n) && n >= 1 && 2 ** Math.round(Math.log2(n)) === n;
// Evaluation counts on the ledger (docs/oprf.md, "Evaluation counts on the ledger"): each
// evaluator publishes, per closed bucket, its counts per (requesting member, BIN) rounded down to
// a power of two, leaving out those below the floor; every node alerts its member when one
// member's band for one BIN reaches the alert threshold.
export const oprfCountsSchema = z
  .object({
    // Counts below it are not published: a member's ordinary traffic per BIN stays private.
    floor: z.number().int().min(1).max(2 ** 40).refine(powerOfTwo, 'expected a power of two').default(64),
    // A published band at or above it raises an alert at every node (an enumeration under way).
    alertThreshold: z.number().int().min(1).max(2 ** 40).default(4_096),
    // The length of a count bucket; an hour by default (shorter only in tests).
    bucketSeconds: z.number().int().min(1).max(86_400).default(3_600),
  })
  .strict()
  .prefault({});

export const oprfSectionSchema = z
  .object({
    version: z.literal(1),
    setId: hex(16, 'a dealing id'),
    n: z.number().int().min(2).max(16),
    t: z.number().int().min(2).max(16),
    evaluators: z.array(memberId).min(2).max(16),
    seeds: z.array(oprfSeedSchema).min(1).max(12_870),
    binDigits: z.union([z.literal(6), z.literal(8)]).default(6),
    // The PAN-selector phase (docs/oprf.md#migration): "keyed" (absent: files signed before the
    // phase existed keep their meaning), "dual" (new card listings oblivious, checks ask both
    // kinds) or "oblivious" (keyed PAN selectors refused; hashing keys serve merchants only).
    panSelectors: z.enum(['keyed', 'dual', 'oblivious']).default('keyed'),
    budgets: oprfBudgetsSchema,
    counts: oprfCountsSchema,
    // Per evaluator: its seeds (evaluation/sealed-seeds.ts) sealed to its boxPublicKey.
    sealedSeeds: z.record(memberId, z.string().min(1)),
  })
  .strict();

export const consortiumDocumentSchema = z
  .object({
    format: z.literal('mamori-consortium/1'),
    name: z.string().min(1).max(64),
    version: z.number().int().min(1),
    issuedAtMs: z.number().int().min(0),
    operatorPublicKey: base64(32, 'an Ed25519 public key'),
    // Empty only in version 1 of a consortium formed with `mamori consortium init`, before add-member.
    members: z.array(consortiumMemberSchema),
    keyEpochs: z.array(keyEpochSchema).min(1),
    // Common-point-of-purchase analysis (docs/design.md#common-point): issuers' fraud reports are sealed to
    // the aggregator, which alone reads them and publishes only merchants past the threshold.
    // Choose a member that is not an issuer, so no issuer reads a competitor's reports.
    commonPoint: commonPointSchema.optional(),
    // Oblivious PAN selectors (docs/oprf.md): absent, nothing is evaluated.
    oprf: oprfSectionSchema.optional(),
  })
  .strict();

export const consortiumFileSchema = z
  .object({ document: consortiumDocumentSchema, signature: base64(64, 'an Ed25519 signature') })
  .strict();

/** PEM files of one TLS identity and the CA its peers' certificates must chain to. */
export const tlsFilesSchema = z.object({ caFile: z.string().min(1), certFile: z.string().min(1), keyFile: z.string().min(1) }).strict();

export const nodeConfigSchema = z
  .object({
    member: memberId,
    listen: hostPort,
    // The member API beyond loopback (payment systems on other hosts): mutual TLS with this
    // server certificate and key, client certificates chaining to caFile (a CA of the member's
    // own, not the consortium's), the client token still required. Required when listen is not
    // a loopback address; on loopback, when present, TLS is used there too.
    apiTls: tlsFilesSchema.optional(),
    dataDir: z.string().min(1),
    consortiumFile: z.string().min(1),
    operatorPublicKey: base64(32, 'the operator Ed25519 public key'),
    memberKeyFile: z.string().min(1),
    // Set on a read replica (docs/operations.md#read-replicas): where this member's signer is, as
    // the replica names it in its refusal of every write (writes go to the signer). A replica
    // runs with a key file without the signing secret key and serves no peers (no peerListen).
    replicaOf: z
      .string()
      .min(1)
      .max(200)
      .refine((v) => !/\d{12}/.test(v), { message: 'must not hold a run of 12 or more digits (it is written to logs and error messages)' })
      .optional(),
    // Client tokens by digest, each with a name (written to the log and the audit log) and its
    // scopes. clientTokenDigests, the older form, lists digests only: each gets every scope
    // but admin (LEGACY_TOKEN_SCOPES). At least one token in either list.
    clientTokens: z.array(clientTokenSchema).min(1).optional(),
    clientTokenDigests: z.array(tokenDigestHex).min(1).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    filter: z
      .object({
        capacity: z.number().int().min(1000).max(100_000_000).default(1_000_000),
        targetFpRate: z.number().gt(0).lt(0.1).default(1e-6),
      })
      .strict()
      .default({ capacity: 1_000_000, targetFpRate: 1e-6 }),
    snapshotIntervalMs: z.number().int().min(1000).default(30_000),
    // Card-testing alerts (docs/design.md#card-testing): k distinct reporting members within a window. k
    // of at least 2, so that an alert never stands for one member's report.
    cardTesting: z
      .object({ k: z.number().int().min(2).max(100).default(2), windowMinutes: z.number().int().min(1).max(1440).default(60) })
      .strict()
      .default({ k: 2, windowMinutes: 60 }),
    // Replication with the other members: mutual TLS on peerListen, pinned to the consortium CA.
    peerListen: hostPort.optional(),
    tls: tlsFilesSchema.optional(),
    // Replication without TLS, on loopback only, for local experiments: never the default.
    insecureDev: z.boolean().default(false),
    // Members to replicate with directly (default: every other current member).
    peers: z.array(memberId).optional(),
    antiEntropyIntervalMs: z.number().int().min(100).default(5_000),
    // Per peer and origin: fetches back off after a round that ends short of the peer's
    // advertised head (forged, gapped or missing entries); exponential, capped, jittered.
    rejectionBackoff: z
      .object({ baseMs: z.number().int().min(10).max(3_600_000).default(1_000), maxMs: z.number().int().min(10).max(3_600_000).default(60_000) })
      .strict()
      .refine((b) => b.maxMs >= b.baseMs, { message: 'maxMs must be at least baseMs' })
      .default({ baseMs: 1_000, maxMs: 60_000 }),
    consortiumPollMs: z.number().int().min(100).default(2_000),
    maxMessageBytes: z.number().int().min(64 * 1024).max(64 * 1024 * 1024).default(8 * 1024 * 1024),
    // Prometheus metrics over HTTP (GET /metrics); off when absent. Unauthenticated: bind to
    // loopback or a management network. Nothing in it names a card, a key or a selector.
    metricsListen: hostPort.optional(),
    // Resource and rate limits of the gRPC servers, and the enumeration alert (limits-schema.ts);
    // absent: every default (rpc/limits.ts limitsOf).
    limits: limitsSchema.optional(),
    // The audit log (store/audit-store.ts): rows older than this are pruned at start and daily.
    audit: z
      .object({ retentionDays: z.number().int().min(1).max(36_500).default(365) })
      .strict()
      .default({ retentionDays: 365 }),
    // At the consortium's common-point aggregator: how often the fraud reports are analysed
    // (also soon after new reports arrive).
    commonPointIntervalMs: z.number().int().min(100).default(60_000),
    // Periodic PASSIVE checkpoints of the SQLite WAL (housekeeping/wal-checkpoint.ts); a WAL grown
    // past walTruncateAboveBytes is truncated when no long read holds it.
    walCheckpointIntervalMs: z.number().int().min(100).max(86_400_000).default(60_000),
    walTruncateAboveBytes: z.number().int().min(0).default(64 * 1024 * 1024),
    // The background scrub (integrity/scrub.ts): re-verifies every stored entry, a slice at a
    // time, and repairs damaged ones from peers. intervalMs is the pause between passes.
    // startUpVerification: "since-checkpoint" verifies at start only the entries after the last
    // verification checkpoint (integrity/verification-checkpoint.ts), the first pass re-verifying
    // the rest; "full" verifies every entry before the node serves.
    scrub: z
      .object({
        enabled: z.boolean().default(true),
        intervalMs: z.number().int().min(0).max(7 * 86_400_000).default(3_600_000),
        entriesPerSlice: z.number().int().min(1).max(100_000).default(500),
        sliceDelayMs: z.number().int().min(0).max(60_000).default(50),
        startUpVerification: z.enum(['since-checkpoint', 'full'], { error: 'expected "since-checkpoint" or "full"' }).default('since-checkpoint'),
      })
      .strict()
      .default({ enabled: true, intervalMs: 3_600_000, entriesPerSlice: 500, sliceDelayMs: 50, startUpVerification: 'since-checkpoint' }),
    // Storage limits: maxDatabaseMb caps the SQLite file; past it, writes are refused with
    // RESOURCE_EXHAUSTED ("storage full") while checks and Status go on (as on a full disk).
    storage: z
      .object({ maxDatabaseMb: z.number().int().min(1).max(16 * 1024 * 1024).optional() })
      .strict()
      .optional(),
    // This member's alerts older than this are pruned (housekeeping/detection-retention.ts). At
    // least 2 days: start-up re-examines the last 24 hours, and a pruned alert must not be raised again.
    alerts: z
      .object({ retentionDays: z.number().int().min(2).max(36_500).default(365) })
      .strict()
      .default({ retentionDays: 365 }),
    // Own-feed recovery at start (replication/own-feed-recovery.ts): own writes wait until a
    // peer has said how far it holds this member's feed. No answer within timeoutMs: writes
    // are accepted with a warning, unless required (then they wait for a peer).
    ownFeedRecovery: z
      .object({ timeoutMs: z.number().int().min(0).max(86_400_000).default(30_000), required: z.boolean().default(false) })
      .strict()
      .default({ timeoutMs: 30_000, required: false }),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.replicaOf !== undefined && config.peerListen !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['peerListen'], message: "a read replica (replicaOf) serves no peers: they reach the member's signer at its endpoint; remove peerListen" });
    }
    const tokens = config.clientTokens ?? [];
    const legacy = config.clientTokenDigests ?? [];
    if (tokens.length === 0 && legacy.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['clientTokens'], message: 'at least one client token is needed (clientTokens, or the older clientTokenDigests)' });
    }
    const digests = new Set<string>();
    [...tokens.map((t) => t.digest), ...legacy].forEach((d) => {
      if (digests.has(d)) ctx.addIssue({ code: 'custom', path: ['clientTokens'], message: `the token digest ${d.slice(0, 8)}… is listed twice` });
      digests.add(d);
    });
    const names = new Set<string>();
    tokens.forEach((t, i) => {
      if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: ['clientTokens', i, 'name'], message: `the token name "${t.name}" is used twice` });
      names.add(t.name);
    });
  });

export type MemberKeyFile = z.infer<typeof memberKeyFileSchema>;
export type OperatorKeyFile = z.infer<typeof operatorKeyFileSchema>;
export type ConsortiumDocument = z.infer<typeof consortiumDocumentSchema>;
export type ConsortiumFile = z.infer<typeof consortiumFileSchema>;
export type ConsortiumMember = z.infer<typeof consortiumMemberSchema>;
export type CommonPointSettings = z.infer<typeof commonPointSchema>;
export type OprfSection = z.infer<typeof oprfSectionSchema>;
export type OprfBudgets = z.infer<typeof oprfBudgetsSchema>;
export type OprfCountSettings = z.infer<typeof oprfCountsSchema>;
export type NodeConfigFile = z.infer<typeof nodeConfigSchema>;
export type ClientTokenConfig = z.infer<typeof clientTokenSchema>;
export type TlsFilesConfig = z.infer<typeof tlsFilesSchema>;
