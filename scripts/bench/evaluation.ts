// Oblivious PAN selectors (docs/oprf.md) on three real nodes (issuer-a, acquirer-b, psp-c of a dev
// consortium on oblivious PAN selectors: threshold PRF dealt t = 2 of n = 3), through the SDK.
// Phase `oprf`:
//
//   latency      - acquirer-b's client: first-seen cards (one EvaluatePanSelectors round each),
//                  one caller at a time (c = 1) and 64 concurrent callers (c = 64, coalesced by
//                  the SDK): p50 / p99 per call, RPCs at c = 64
//   bulk         - issuer-a's client evaluates --oprf-pans cards of its own BIN ranges (issuer
//                  budgets) and publishes them, as `mamori import cards` does: batches of 10,000,
//                  two in flight, each one evaluation round and one signed entry; PANs/s;
//                  scalar multiplications per PAN (planned
//                  from the dealing, and measured from Status.oprf.evaluated); CPU per 1,000 PANs
//                  of the client (process.cpuUsage) and of every node (/proc/<pid>/stat)
//   cached check - checkCard in mirror mode of a card whose selector the SDK holds (selector
//                  cache hit + filter lookup), against checkCard in mirror mode on a second
//                  consortium on keyed selectors (keyed BLAKE2b + filter lookup: the mirror check
//                  before oblivious selectors), runs alternated; and against the `sdk` phase's
//                  mirror row when it ran in the same bench run
//   enumeration  - psp-c's client evaluates one BIN outside every member's ranges at full speed
//                  (preEvaluate, batches of 500) until refused: evaluations until
//                  RESOURCE_EXHAUSTED (expected: oprf.budgets.perMemberBinHour), the time it
//                  took; the evaluation-count alert where this build has one
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import { MamoriClientError } from '../../client-sdk/src/errors';
import type { OprfSection } from '../../node/src/config/schemas';
import { oprfDescription } from '../../node/src/membership/oprf-dealing';
import { loadMamoriPackageDefinition } from '../../proto/ts/loader';
import { withLuhnDigit } from '../../proto/ts/normalize';
import { routingBin } from '../../proto/ts/routing-bin';
import { oprfReady, sumo } from '../../proto/ts/oprf/group';
import { planEvaluation } from '../../proto/ts/oprf/threshold';
import { panSelectorView, selectorCacheHandleView } from '../../proto/ts/trust/domains';
import { startConsortium, stopConsortium, type Member } from './consortium';
import { addRow, details, errorText, immediate, msSince, now, onCleanup, percentile, progress, rows, secondsSince } from './common';
import { YIELD_EVERY, latency, mirrorRun, summarize, unlistedPans, type MirrorViolations, type Run } from './sdk';

export interface OprfBenchOptions {
  /** Cards pre-evaluated by the bulk measurement (default 100,000; 1,000,000 for the issue's figure). */
  pans: number;
  /** First-seen cards at concurrency 1. */
  latencyCards: number;
  /** First-seen cards per caller at concurrency 64. */
  perCaller: number;
  /** Cached checks (and baseline mirror checks) per run, and runs (median). */
  mirrorChecks: number;
  runs: number;
  tempDir: string;
}

const CONCURRENCY = 64;
/** First-seen cards evaluated one at a time before c = 1 is timed. */
const WARM_UP_CARDS = 100;
/** Per first-seen card on the minimal plan: blind and unblind at the client, one at each of t = 2 evaluators. */
const MULTIPLICATIONS_PER_CARD = 4;
const LATENCY_TARGET_MS = 20;
const BULK_BATCH = 10_000;
const BULK_IN_FLIGHT = 2;
/** Cards the cached check evaluates first and then checks, cycling. */
const CACHED_CARDS = 100_000;
/** A BIN in no member's binRanges: a non-issuer's evaluations of it count against perMemberBinHour. */
const ENUMERATION_BIN = '498765';
const ENUMERATION_BATCH = 500;
/** The `sdk` phase's mirror row, when it ran in this bench run. */
const SDK_MIRROR_ROW = /^sdk mirror: negative checks\/s/;
const KNOWN_ALERT_KINDS = new Set(['card-testing', 'card-listing', 'common-point', 'merchant-listing']);
const ALERT_TIMEOUT_MS = 60_000;
/** The oprf consortium's evaluation-count buckets: the default, an hour (the alert comes from the early report past the threshold). */
const COUNT_BUCKET_SECONDS = 3_600;

// ---------------------------------------------------------------- helpers

/** The card numbered `n` of a BIN: `bin` + `n` in the remaining digits + the Luhn digit (16 digits). */
const numberedPan = (bin: string, n: number) => withLuhnDigit(bin + String(n).padStart(15 - bin.length, '0'));

/** Cards with distinct bodies, numbered from `from`. */
function* sequentialPans(bin: string, from: number, count: number): Generator<string> {
  for (let i = 0; i < count; i++) yield numberedPan(bin, from + i);
}

/** Random first-seen cards spread over random BINs starting with 4 (so no per-BIN budget is near). */
function firstSeenPans(n: number): string[] {
  return unlistedPans(n).map((p) => `4${p.slice(1, 15)}`).map((p) => withLuhnDigit(p));
}

let clockTicks: number | undefined;
/** CPU seconds (user + system) of a process from /proc/<pid>/stat; NaN when unreadable. */
function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
    return (Number(fields[11]) + Number(fields[12])) / clockTicks; // utime (14th), stime (15th)
  } catch {
    return NaN;
  }
}

const clientCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface OprfCounters {
  evaluated: number;
  refusedBudget: number;
  forwarded: number;
}

async function oprfCounters(m: Member): Promise<OprfCounters> {
  const o = (await m.client.status()).oprf;
  if (!o) throw new Error(`${m.id}: Status has no oprf section (no dealing in the consortium file?)`);
  return { evaluated: Number(o.evaluated), refusedBudget: Number(o.refusedBudget), forwarded: Number(o.forwarded) };
}

function selectorClient(m: Member, cacheSize: number): MamoriClient {
  const client = MamoriClient.fromConfigFile(m.clientConfig, { mode: 'remote', deadlineMs: 5_000, adminDeadlineMs: 120_000, selectors: { cacheSize } });
  onCleanup(() => client.close());
  return client;
}

function readOprfSection(m: Member): OprfSection {
  const file = JSON.parse(fs.readFileSync(path.join(m.dir, '..', 'consortium.json'), 'utf8')) as { document: { oprf?: OprfSection } };
  if (!file.document.oprf) throw new Error('the dev consortium file has no oprf section');
  return file.document.oprf;
}

/** The proto message of evaluation-count entries or alerts, when this build has one. */
function evaluationCountFeature(): string | undefined {
  const definition = loadMamoriPackageDefinition() as Record<string, unknown>;
  return Object.keys(definition).find((name) => /EvaluationCount/i.test(name));
}

const hourOf = (ms: number) => Math.floor(ms / 3_600_000);

/** Milliseconds one ristretto255 scalar multiplication takes in this process (libsodium's WebAssembly), median of 5 × 200. */
function multiplicationMs(): number {
  const sodium = sumo();
  const scalar = sodium.crypto_core_ristretto255_scalar_random();
  let point = sodium.crypto_core_ristretto255_from_hash(randomBytes(64));
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = now();
    for (let i = 0; i < 200; i++) point = sodium.crypto_scalarmult_ristretto255(scalar, point);
    runs.push(msSince(t0) / 200);
  }
  return percentile(runs, 50);
}

// ---------------------------------------------------------------- 1. first-seen latency

async function firstSeenLatency(m: Member, nodes: readonly Member[], options: OprfBenchOptions): Promise<void> {
  const client = selectorClient(m, 100_000);
  try {
    await client.panSelectors(firstSeenPans(1)); // parameters, channel, streams
    await client.panSelectors(firstSeenPans(8));
    // A pipeline checks cards all day: its code paths are compiled long before; so are these
    // (the first ~100 rounds of a fresh process run partly interpreted, at about twice the p50).
    for (const pan of firstSeenPans(WARM_UP_CARDS)) await client.panSelectors([pan]);

    const c1: number[] = [];
    for (const pan of firstSeenPans(options.latencyCards)) {
      const t0 = now();
      await client.panSelectors([pan]);
      c1.push(msSince(t0));
    }
    progress(`oprf latency c=1: ${c1.length} first-seen cards, p50 ${percentile(c1, 50).toFixed(2)} ms, p99 ${percentile(c1, 99).toFixed(2)} ms, max ${Math.max(...c1).toFixed(1)} ms`);

    const rpcsBefore = client.stats().rpcs.EvaluatePanSelectors;
    const cards = firstSeenPans(CONCURRENCY * options.perCaller);
    const c64: number[] = [];
    const cpu0 = [clientCpuSeconds(), ...nodes.map((n) => processCpuSeconds(n.child.pid))];
    const t0 = now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, c) => {
        for (let i = 0; i < options.perCaller; i++) {
          const s = now();
          await client.panSelectors([cards[c * options.perCaller + i] as string]);
          c64.push(msSince(s));
        }
      }),
    );
    const seconds = secondsSince(t0);
    const cpuSeconds = [clientCpuSeconds(), ...nodes.map((n) => processCpuSeconds(n.child.pid))].reduce((sum, v, i) => sum + v - (cpu0[i] as number), 0);
    const rpcs = client.stats().rpcs.EvaluatePanSelectors - rpcsBefore;
    const sel = client.stats().selectors;
    progress(
      `oprf latency c=${CONCURRENCY}: ${cards.length} first-seen cards in ${rpcs} EvaluatePanSelectors RPCs (${(cards.length / rpcs).toFixed(1)} cards per RPC), ` +
        `p50 ${percentile(c64, 50).toFixed(1)} ms, p99 ${percentile(c64, 99).toFixed(1)} ms, ${(cards.length / seconds).toFixed(0)} cards/s`,
    );
    addRow(`oprf first-seen card, c=1: p50 (${c1.length} cards, one evaluation round each)`, percentile(c1, 50), 'ms');
    addRow('oprf first-seen card, c=1: p99', percentile(c1, 99), 'ms', { op: '<', value: LATENCY_TARGET_MS });
    addRow(`oprf first-seen card, c=${CONCURRENCY} (coalesced): p50 (${CONCURRENCY} callers × ${options.perCaller})`, percentile(c64, 50), 'ms');
    addRow(`oprf first-seen card, c=${CONCURRENCY}: p99`, percentile(c64, 99), 'ms', { op: '<', value: LATENCY_TARGET_MS });
    // What the CPU alone needs for one round of 64 cards on this machine's cores, from the CPU
    // the client and the three nodes used in this measurement; and the multiplications' share
    // of it (four a card: blind, one at each evaluator of the minimal plan, unblind).
    const cpuMsPerCard = (1000 * cpuSeconds) / cards.length;
    const multiplication = multiplicationMs();
    addRow(`oprf first-seen card, c=${CONCURRENCY}: CPU per card (client + three nodes, measured)`, cpuMsPerCard, 'CPU-ms');
    addRow(`oprf first-seen card, c=${CONCURRENCY}: of which scalar multiplications (${MULTIPLICATIONS_PER_CARD} × ${(1000 * multiplication).toFixed(0)} µs)`, MULTIPLICATIONS_PER_CARD * multiplication, 'CPU-ms');
    addRow(`oprf first-seen card, c=${CONCURRENCY}: CPU floor of one round (${CONCURRENCY} cards × CPU per card ÷ ${os.cpus().length} cores)`, (CONCURRENCY * cpuMsPerCard) / os.cpus().length, 'ms');
    addRow(`oprf first-seen card, c=${CONCURRENCY}: EvaluatePanSelectors RPCs for ${cards.length} cards`, rpcs, 'RPCs');
    addRow(`oprf first-seen card, c=${CONCURRENCY}: rate`, cards.length / seconds, 'cards/s');
    details.oprfLatency = {
      member: m.id,
      c1: { cards: c1.length, p50Ms: percentile(c1, 50), p99Ms: percentile(c1, 99), maxMs: Math.max(...c1) },
      c64: { callers: CONCURRENCY, perCaller: options.perCaller, cards: cards.length, cpuMsPerCard, multiplicationMs: multiplication, rpcs, cardsPerRpc: cards.length / rpcs, p50Ms: percentile(c64, 50), p99Ms: percentile(c64, 99), maxMs: Math.max(...c64), seconds, largestBatch: sel.largestBatch },
    };
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------- 2. bulk pre-evaluation

async function bulk(issuer: Member, members: Map<string, Member>, section: OprfSection, options: OprfBenchOptions): Promise<MamoriClient> {
  const ranges = ['454545', '356900'];
  // Each card once; half in each of issuer-a's own ranges (issuer budgets: 2,000,000 per BIN and hour).
  const pans: string[] = [];
  for (let i = 0; i < options.pans; i++) pans.push(numberedPan(ranges[i & 1] as string, 100_000_000 + (i >> 1)));
  const client = selectorClient(issuer, Math.max(100_000, options.pans));
  await client.panSelectors(firstSeenPans(1)); // parameters and channel outside the measurement
  const plan = planEvaluation(oprfDescription(section), section.evaluators);
  if (!plan.ok) throw new Error(`no plan over the dealing's evaluators: ${plan.reason}`);

  const nodes = [...members.values()];
  const before = await Promise.all(nodes.map(oprfCounters));
  const cpu0 = nodes.map((m) => processCpuSeconds(m.child.pid));
  const client0 = clientCpuSeconds();
  const load0 = os.loadavg();
  const t0 = now();
  let nextReport = Math.max(BULK_BATCH, Math.floor(options.pans / 5));
  // As `mamori import cards` does under the phase "oblivious": each batch evaluated (one
  // EvaluatePanSelectors round) and published as one signed entry; BULK_IN_FLIGHT batches at once.
  let done = 0;
  let entries = 0;
  let accepted = 0;
  const inFlight = new Set<Promise<void>>();
  for (let start = 0; start < pans.length; start += BULK_BATCH) {
    const batch = pans.slice(start, start + BULK_BATCH);
    const p: Promise<void> = (async () => {
      const selectors = await client.panSelectors(batch, { deadlineMs: 120_000 });
      const published = await client.publishObliviousSelectors(selectors, { reason: 'merchant-breach' }, batch.map(routingBin));
      entries += published.seq > 0 ? 1 : 0;
      accepted += published.accepted;
      done += batch.length;
      if (done >= nextReport) {
        progress(`oprf bulk: ${done.toLocaleString('en-US')} of ${options.pans.toLocaleString('en-US')} cards evaluated and published after ${secondsSince(t0).toFixed(1)} s`);
        nextReport += Math.max(BULK_BATCH, Math.floor(options.pans / 5));
      }
    })().finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= BULK_IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const seconds = secondsSince(t0);
  const clientCpu = clientCpuSeconds() - client0;
  const nodeCpu = nodes.map((m, i) => processCpuSeconds(m.child.pid) - (cpu0[i] as number));
  const after = await Promise.all(nodes.map(oprfCounters));
  const load1 = os.loadavg();
  if (accepted !== options.pans) throw new Error(`${accepted} of ${options.pans} cards were published (${entries} entries)`);

  const rate = options.pans / seconds;
  const per1000 = (s: number) => (s * 1000) / options.pans;
  const evaluatedBy = nodes.map((m, i) => ({ id: m.id, evaluated: (after[i] as OprfCounters).evaluated - (before[i] as OprfCounters).evaluated, cpuSeconds: nodeCpu[i] as number }));
  const measuredMults = evaluatedBy.reduce((s, e) => s + e.evaluated, 0) / options.pans;
  const totalCpu = clientCpu + nodeCpu.reduce((a, b) => a + b, 0);
  const coresBusy = totalCpu / seconds;
  // On this machine's cores alone (nothing else running), CPU-bound: cores / CPU seconds per card.
  const cpuBoundRate = os.cpus().length / (totalCpu / options.pans);
  const heaviest = [{ id: 'client (bench process)', cpuSeconds: clientCpu }, ...evaluatedBy].sort((a, b) => b.cpuSeconds - a.cpuSeconds)[0] as { id: string; cpuSeconds: number };
  const bound =
    `CPU: the four processes used ${totalCpu.toFixed(1)} CPU-s in ${seconds.toFixed(1)} s (${coresBusy.toFixed(2)} of ${os.cpus().length} cores; load average ${load0[0]?.toFixed(1)} → ${load1[0]?.toFixed(1)}), ` +
    `heaviest ${heaviest.id} at ${per1000(heaviest.cpuSeconds).toFixed(2)} CPU-s per 1,000 cards; with the cores to itself the rate would be at most ${cpuBoundRate.toFixed(0)} cards/s`;
  progress(`oprf bulk: ${options.pans.toLocaleString('en-US')} cards in ${seconds.toFixed(1)} s = ${rate.toFixed(0)} cards/s; ${bound}`);
  for (const e of evaluatedBy) progress(`oprf bulk: ${e.id} evaluated ${e.evaluated.toLocaleString('en-US')} elements, ${per1000(e.cpuSeconds).toFixed(3)} CPU-s per 1,000 cards`);

  addRow(`oprf bulk: ${options.pans.toLocaleString('en-US')} first-seen cards evaluated and published end to end (issuer-a, own BINs, ${entries} entries)`, rate, 'PANs/s', { op: '>=', value: 1000 });
  addRow('oprf bulk: scalar multiplications per PAN, client (blind + unblind)', 2, 'mults');
  addRow(`oprf bulk: scalar multiplications per PAN, evaluators (plan; measured ${measuredMults.toFixed(2)})`, plan.evaluatorMults, 'mults');
  addRow('oprf bulk: client CPU per 1,000 PANs (blind, gRPC, combine, unblind, finalize, publish)', per1000(clientCpu), 'CPU-s');
  for (const e of evaluatedBy) addRow(`oprf bulk: node ${e.id} CPU per 1,000 PANs (${(e.evaluated / options.pans).toFixed(2)} evaluations per PAN)`, per1000(e.cpuSeconds), 'CPU-s');
  addRow('oprf bulk: cores busy (client + three nodes)', coresBusy, 'cores');
  addRow(`oprf bulk: CPU-bound rate on ${os.cpus().length} idle cores (cores / CPU-s per PAN)`, cpuBoundRate, 'PANs/s');
  details.oprfBulk = {
    member: issuer.id,
    pans: options.pans,
    batchSize: BULK_BATCH,
    maxInFlight: BULK_IN_FLIGHT,
    seconds,
    pansPerSecond: rate,
    plan: { evaluatorMults: plan.evaluatorMults, evaluatorsAsked: plan.requests.size, clientMults: 2 },
    measuredEvaluatorMultsPerPan: measuredMults,
    clientCpuSeconds: clientCpu,
    nodes: evaluatedBy,
    coresBusy,
    cpuBoundRate,
    bound,
    loadAverage: { before: load0, after: load1 },
    evaluationStats: client.stats().selectors.evaluation,
  };
  return client;
}

// ---------------------------------------------------------------- 3. cached check vs mirror check

/** `count` cards cycling through `pans`: a run of cached checks as long as the baseline's. */
const cycled = (pans: readonly string[], count: number) => Array.from({ length: count }, (_, i) => pans[i % pans.length] as string);

/**
 * The SDK's mirror check (checkCard, mode 'mirror') of a cached card on the consortium of
 * oblivious selectors (selector cache hit + filter lookup), against the same check of an
 * uncached card on a consortium of keyed selectors (keyed BLAKE2b + filter lookup): the
 * mirror check as it was. Runs alternate, so both see the same machine load.
 */
async function cachedCheck(issuer: Member, options: OprfBenchOptions): Promise<void> {
  // Cards evaluated but not published (the bulk's cards are listed now): a cached card the
  // mirror answers "not listed" for, as most cards of an authorization stream are.
  const cachedPans = [...sequentialPans('454545', 300_000_000, CACHED_CARDS)];
  const cached = MamoriClient.fromConfigFile(issuer.clientConfig, { mode: 'mirror', deadlineMs: 1000, adminDeadlineMs: 120_000, selectors: { cacheSize: CACHED_CARDS } });
  const unregisterCached = onCleanup(() => cached.close());
  const keyedMembers = await startConsortium({ tempDir: options.tempDir, antiEntropyMs: undefined }, 'consortium-oprf-keyed', 'keyed');
  const keyedIssuer = keyedMembers.get(issuer.id) as Member;
  const baseline = MamoriClient.fromConfigFile(keyedIssuer.clientConfig, { mode: 'mirror', deadlineMs: 1000 });
  const unregisterBaseline = onCleanup(() => baseline.close());
  try {
    for (const [name, client] of [
      ['oblivious', cached],
      ['keyed', baseline],
    ] as const) {
      const sdk = await client.waitForReady(60_000);
      if (sdk.checksVia !== 'mirror') throw new Error(`the SDK mirror (${name} consortium) is not usable after 60 s: ${sdk.fallbackReason}`);
    }
    const evaluated = await cached.preEvaluate(cachedPans, { batchSize: BULK_BATCH, maxInFlight: BULK_IN_FLIGHT });
    if (evaluated.evaluated !== cachedPans.length) throw new Error(`preEvaluate evaluated ${evaluated.evaluated} of ${cachedPans.length} cards`);
    const statsBefore = cached.stats().selectors;
    const warmBase: MirrorViolations = { nodeNotListed: 0, listed: 0, fallback: 0 };
    const warmCached: MirrorViolations = { nodeNotListed: 0, listed: 0, fallback: 0 };
    const warm = Math.min(50_000, options.mirrorChecks);
    await mirrorRun(baseline, unlistedPans(warm), warmBase);
    await mirrorRun(cached, cycled(cachedPans, warm), warmCached);
    const baseRuns: Run[] = [];
    const cachedRuns: Run[] = [];
    const baseViolations: MirrorViolations = { nodeNotListed: 0, listed: 0, fallback: 0 };
    const cachedViolations: MirrorViolations = { nodeNotListed: 0, listed: 0, fallback: 0 };
    for (let i = 1; i <= options.runs; i++) {
      baseRuns.push(await mirrorRun(baseline, unlistedPans(options.mirrorChecks), baseViolations));
      cachedRuns.push(await mirrorRun(cached, cycled(cachedPans, options.mirrorChecks), cachedViolations));
      progress(
        `oprf cached check run ${i}/${options.runs}: cached card (oblivious) ${Math.round((cachedRuns.at(-1) as Run).perSecond).toLocaleString('en-US')}/s ` +
          `vs mirror check (keyed) ${Math.round((baseRuns.at(-1) as Run).perSecond).toLocaleString('en-US')}/s`,
      );
    }
    const statsAfter = cached.stats().selectors;
    const rounds = statsAfter.evaluation.rounds - statsBefore.evaluation.rounds;
    if (rounds !== 0) throw new Error(`cached cards made ${rounds} EvaluatePanSelectors calls with cards`);
    const hits = statsAfter.cache.hits - statsBefore.cache.hits;
    const expectedHits = warm + options.runs * options.mirrorChecks;
    if (hits < expectedHits) throw new Error(`the cached checks hit the selector cache ${hits} times, expected ${expectedHits}: not the oblivious path`);
    // What a card costs before the filter lookup, piece by piece (one thread, no I/O): the
    // cache's handle (keyed BLAKE2b under the member-local cache key) against the keyed-BLAKE2b
    // selector of the keyed mirror check.
    const digits = cachedPans.slice(0, 50_000);
    const perOpUs = (fn: (i: number) => unknown): number => {
      for (let i = 0; i < 5_000; i++) fn(i);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < digits.length; i++) fn(i);
      return Number(process.hrtime.bigint() - t0) / 1e3 / digits.length;
    };
    const key = randomBytes(32);
    // Both as the hot paths compute them: views of libsodium's memory, nothing copied.
    const handleUs = perOpUs((i) => selectorCacheHandleView(key, digits[i] as string));
    const blake2bUs = perOpUs((i) => panSelectorView(key, digits[i] as string));
    const base = summarize(baseRuns);
    const hit = summarize(cachedRuns);
    const sdkRow = rows.find((r) => SDK_MIRROR_ROW.test(r.name));
    addRow(`oprf cached check: checkCard of a cached card, oblivious consortium, SDK mirror, one thread (median of ${options.runs} × ${options.mirrorChecks.toLocaleString('en-US')}; ${cachedPans.length.toLocaleString('en-US')} cached cards)`, hit.perSecond, 'checks/s');
    addRow('oprf cached check: p50', hit.p50Us, 'µs');
    addRow('oprf cached check: p99', hit.p99Us, 'µs');
    addRow('oprf cached check: checkCard, keyed consortium, SDK mirror (the mirror check before oblivious selectors), runs alternated', base.perSecond, 'checks/s');
    addRow('oprf cached check: ratio to the keyed mirror check of this phase', (100 * hit.perSecond) / base.perSecond, '%', { op: '>=', value: 90 });
    if (sdkRow) addRow('oprf cached check: ratio to the `sdk` phase mirror row of this run (other moment, other load)', (100 * hit.perSecond) / sdkRow.value, '%');
    addRow('oprf cached check, parts: selector cache handle (keyed BLAKE2b under the cache key)', handleUs, 'µs');
    addRow('oprf cached check, parts: keyed-BLAKE2b panSelector of the keyed mirror check', blake2bUs, 'µs');
    const notNegative = (v: MirrorViolations) => v.nodeNotListed + v.listed + v.fallback;
    addRow('oprf cached check: answers not negative from the mirror (either consortium)', notNegative(cachedViolations) + notNegative(baseViolations), 'checks', { op: '<', value: 1 });
    details.oprfCachedCheck = {
      member: issuer.id,
      checksPerRun: options.mirrorChecks,
      cachedCards: cachedPans.length,
      cacheHits: hits,
      cached: { summary: hit, runs: cachedRuns, violations: cachedViolations },
      keyedMirrorCheck: { summary: base, runs: baseRuns, violations: baseViolations },
      sdkPhaseMirrorRow: sdkRow?.value ?? null,
      parts: { cacheHandleUs: handleUs, panSelectorBlake2bUs: blake2bUs },
    };
  } finally {
    cached.close();
    baseline.close();
    unregisterCached();
    unregisterBaseline();
    await stopConsortium(keyedMembers).catch((error: unknown) => progress(`WARNING: stopping the keyed consortium: ${errorText(error)}`));
  }
}

// ---------------------------------------------------------------- 4. enumeration until refused

async function enumeration(enumerator: Member, members: Map<string, Member>, section: OprfSection): Promise<void> {
  const budget = section.budgets?.perMemberBinHour ?? 10_000;
  const expected = budget - (budget % ENUMERATION_BATCH);
  const nodes = [...members.values()];
  const feature = evaluationCountFeature();
  // Alerts of every node, from now on, when this build has evaluation-count alerts.
  const watchers: { id: string; stop: AbortController; seen: Promise<bigint | undefined> }[] = [];
  if (feature) {
    for (const m of nodes) {
      let last = 0;
      for await (const a of m.client.alerts({})) last = a.id;
      const stop = new AbortController();
      const seen = (async () => {
        for await (const alert of m.client.alerts({ after: last, follow: true, signal: stop.signal })) {
          if (!KNOWN_ALERT_KINDS.has(alert.kind) && JSON.stringify(alert).includes(ENUMERATION_BIN)) return now();
        }
        return undefined;
      })().catch(() => undefined);
      watchers.push({ id: m.id, stop, seen });
    }
  }
  const client = selectorClient(enumerator, 4 * budget);
  try {
    await client.panSelectors(firstSeenPans(1));
    const before = await Promise.all(nodes.map(oprfCounters));
    let evaluated = 0;
    let refusal: MamoriClientError | undefined;
    const startMs = Date.now();
    const t0 = now();
    try {
      await client.preEvaluate(sequentialPans(ENUMERATION_BIN, 0, 10 * budget), {
        batchSize: ENUMERATION_BATCH,
        maxInFlight: 2,
        onProgress: (p) => (evaluated = p.evaluated),
      });
    } catch (error) {
      if (!(error instanceof MamoriClientError)) throw error;
      refusal = error;
    }
    const seconds = secondsSince(t0);
    const refusedAt = now();
    const after = await Promise.all(nodes.map(oprfCounters));
    if (hourOf(startMs) !== hourOf(Date.now())) progress('WARNING: oprf enumeration crossed a UTC hour boundary: the hourly budget restarted during it');
    if (!refusal) throw new Error(`${enumerator.id} evaluated ${evaluated} cards of BIN ${ENUMERATION_BIN} without a refusal`);
    progress(`oprf enumeration: ${enumerator.id} evaluated ${evaluated.toLocaleString('en-US')} cards of BIN ${ENUMERATION_BIN} in ${seconds.toFixed(2)} s, then ${refusal.code}: ${refusal.message.slice(0, 300)}`);
    addRow(`oprf enumeration: evaluations of one BIN until refused (${enumerator.id}, batches of ${ENUMERATION_BATCH}; expected ${expected.toLocaleString('en-US')} = perMemberBinHour)`, evaluated, 'cards');
    addRow('oprf enumeration: refused with RESOURCE_EXHAUSTED at the budget (1 = yes)', refusal.code === 'RESOURCE_EXHAUSTED' && evaluated === expected ? 1 : 0, 'bool', { op: '>=', value: 1 });
    addRow('oprf enumeration: time until refused', seconds, 's');
    addRow('oprf enumeration: rate until refused', evaluated / seconds, 'cards/s');
    let alert: Record<string, unknown> = { available: false, note: 'alert: not available in this build' };
    if (!feature) {
      progress('oprf enumeration: alert: not available in this build (no evaluation-count entry or alert in the protocol)');
    } else {
      const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ALERT_TIMEOUT_MS).unref());
      const arrivals = await Promise.all(watchers.map((w) => Promise.race([w.seen, timeout])));
      for (const w of watchers) w.stop.abort();
      // From the start of the enumeration: with short buckets the alert may come before the refusal.
      const ms = arrivals.map((a) => (a === undefined ? Infinity : Number(a - t0) / 1e6));
      const all = Math.max(...ms);
      const afterRefusal = all - Number(refusedAt - t0) / 1e6;
      progress(`oprf enumeration: evaluation-count alert (${feature}) at every node ${all.toFixed(0)} ms after the enumeration started, ${afterRefusal.toFixed(0)} ms after the refusal (${watchers.map((w, i) => `${w.id} ${ms[i]?.toFixed(0)}`).join(', ')})`);
      addRow(`oprf enumeration: start until every node shows the alert (count buckets of ${COUNT_BUCKET_SECONDS} s; reported when the count passes the threshold, before the bucket closes)`, all, 'ms');
      addRow('oprf enumeration: refusal until every node shows the alert (negative: before the refusal)', afterRefusal, 'ms');
      alert = { available: true, feature, msByNode: Object.fromEntries(watchers.map((w, i) => [w.id, ms[i]])) };
    }
    details.oprfEnumeration = {
      member: enumerator.id,
      bin: ENUMERATION_BIN,
      batch: ENUMERATION_BATCH,
      perMemberBinHour: budget,
      expected,
      evaluated,
      seconds,
      refusal: { code: refusal.code, message: refusal.message },
      nodes: nodes.map((m, i) => ({ id: m.id, evaluated: (after[i] as OprfCounters).evaluated - (before[i] as OprfCounters).evaluated, refusedBudget: (after[i] as OprfCounters).refusedBudget - (before[i] as OprfCounters).refusedBudget })),
      alert,
    };
  } finally {
    for (const w of watchers) w.stop.abort();
    client.close();
  }
}

// ---------------------------------------------------------------- the phase

export async function runOprfBench(options: OprfBenchOptions): Promise<void> {
  await oprfReady();
  const members = await startConsortium({ tempDir: options.tempDir, antiEntropyMs: undefined }, 'consortium-oprf', 'oblivious', ['--count-bucket-seconds', String(COUNT_BUCKET_SECONDS)]);
  try {
    const issuer = members.get('issuer-a') as Member;
    const section = readOprfSection(issuer);
    progress(`oprf: dealing ${section.setId}, t = ${section.t} of n = ${section.n} (${section.evaluators.join(', ')}); budgets ${JSON.stringify(section.budgets ?? {})}`);
    await firstSeenLatency(members.get('acquirer-b') as Member, [...members.values()], options);
    const client = await bulk(issuer, members, section, options);
    client.close();
    await cachedCheck(issuer, options);
    await enumeration(members.get('psp-c') as Member, members, section);
  } catch (error) {
    throw new Error(`oprf: ${errorText(error)}`);
  } finally {
    await stopConsortium(members).catch((error: unknown) => progress(`WARNING: stopping the consortium: ${errorText(error)}`));
  }
}
