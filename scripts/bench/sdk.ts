// The client SDK's figures against a real node (psp-c holding the imported CSV):
//
//   mirror negative  - mode 'mirror', sequential `await checkCard(pan)` of random unlisted PANs on
//                      one thread: checks/s, p50, p99 per call; every answer must be the mirror's
//                      and not listed
//   remote c1 / c64  - mode 'remote', sequential calls, and 64 concurrent callers (coalesced into
//                      batch Check requests by the SDK), on the check stream (checkTransport
//                      'stream'): checks/s, p50, p99 per call; ~1% listed cards whose answers must
//                      be listed (and the others not)
//   remote c1, unary - the same sequential calls with checkTransport 'unary' (a unary Check call
//                      each), beside the stream's
//   limits           - what the SDK cannot beat, measured in the same run: normalizePan +
//                      panSelectorView (the hash the mirror check uses, read in place) +
//                      DigestBloomFilter.has on a filter of the node's size with no SDK around
//                      it; a bare grpc-js unary call (Check of one selector, and GetHashingKeys)
//                      at concurrency 1
//
// Every figure is the median over `runs` runs (per-run checks/s, per-run p50 and p99).
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { MamoriClient } from '../../client-sdk/src/client';
import { readClientConfig } from '../../client-sdk/src/config';
import type { CardCheckResult } from '../../client-sdk/src/results';
import type { CheckTransport } from '../../client-sdk/src/options';
import { DigestBloomFilter } from '../../proto/ts/digest-bloom';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { normalizePan } from '../../proto/ts/normalize';
import { panSelector, panSelectorView } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';
import type { ExchangeClient } from '../../proto/gen/mamori/v1/Exchange';
import { addRow, details, immediate, median, now, onCleanup, progress, randomPan } from './common';

export interface SdkBenchOptions {
  clientConfig: string;
  /** PANs the node holds (listed). */
  listedSample: readonly string[];
  /** Measured runs of every figure (median). */
  runs: number;
  /** Mirror checks per run (and hash + filter lookups of the limit). */
  mirrorChecks: number;
  /** Remote checks per run at concurrency 64. */
  remoteChecks: number;
  /** Remote checks per run at concurrency 1 (and bare unary calls of the limit). */
  sequentialChecks: number;
}

const CONCURRENCY = 64;
/** Share of listed cards among the remote checks. */
const LISTED_SHARE = 0.01;
/**
 * The mirror loop yields to the event loop every this many checks (outside the timed sections):
 * back-to-back resolved awaits never reach I/O, and the mirror's heartbeats must get through
 * or the mirror declares itself stale after 3 s. An authorization service does I/O between checks.
 */
export const YIELD_EVERY = 10_000;

// ---------------------------------------------------------------- statistics over Float64Array

export interface Latency {
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

/** Nearest-rank percentiles of latencies in ns, reported in µs. Sorts `ns` in place. */
export function latency(ns: Float64Array): Latency {
  ns.sort();
  const at = (p: number) => (ns[Math.min(ns.length - 1, Math.max(0, Math.ceil((p / 100) * ns.length) - 1))] as number) / 1000;
  return { p50Us: at(50), p99Us: at(99), p999Us: at(99.9), maxUs: (ns[ns.length - 1] as number) / 1000 };
}

export interface Run extends Latency {
  perSecond: number;
  seconds: number;
}

/** Median of every field over the runs. */
export function summarize(runs: Run[]): Run {
  const m = (f: keyof Run) => median(runs.map((r) => r[f]));
  return { perSecond: m('perSecond'), seconds: m('seconds'), p50Us: m('p50Us'), p99Us: m('p99Us'), p999Us: m('p999Us'), maxUs: m('maxUs') };
}

const fmt = (r: Run) => `${Math.round(r.perSecond).toLocaleString('en-US')}/s, p50 ${r.p50Us.toFixed(2)} µs, p99 ${r.p99Us.toFixed(2)} µs, p99.9 ${r.p999Us.toFixed(1)} µs, max ${r.maxUs.toFixed(0)} µs`;

// ---------------------------------------------------------------- card numbers

/** Random Luhn-valid PANs starting with 6: the CSV only holds PANs starting with 4 and 5. */
export function unlistedPans(n: number): string[] {
  const pans = new Array<string>(n);
  for (let i = 0; i < n; i++) pans[i] = randomPan('6');
  return pans;
}

/** `n` PANs, ~1% of them from the listed sample, shuffled; `listed[i]` says which. */
function mixedPans(n: number, listedSample: readonly string[]): { pans: string[]; listed: Uint8Array } {
  const pans = unlistedPans(n);
  const listed = new Uint8Array(n);
  const wanted = Math.max(1, Math.round(n * LISTED_SHARE));
  for (let k = 0; k < wanted; k++) {
    let i: number;
    do i = Math.floor(Math.random() * n);
    while (listed[i]);
    listed[i] = 1;
    pans[i] = listedSample[k % listedSample.length] as string;
  }
  return { pans, listed };
}

// ---------------------------------------------------------------- 1. mirror, negative checks, one thread

export interface MirrorViolations {
  /** Answered by the node after a local positive that the node denied: Bloom false positives. */
  nodeNotListed: number;
  /** Answered by the node and listed: an unlisted PAN that is listed (cannot happen unless the CSV overlaps). */
  listed: number;
  /** Answered by the fail mode. */
  fallback: number;
}

export async function mirrorRun(client: MamoriClient, pans: readonly string[], violations: MirrorViolations): Promise<Run> {
  const n = pans.length;
  const ns = new Float64Array(n);
  let busyNs = 0;
  for (let start = 0; start < n; start += YIELD_EVERY) {
    const end = Math.min(n, start + YIELD_EVERY);
    const c0 = process.hrtime.bigint();
    for (let i = start; i < end; i++) {
      const t0 = process.hrtime.bigint();
      const r = await client.checkCard(pans[i] as string);
      ns[i] = Number(process.hrtime.bigint() - t0);
      if (r.source !== 'mirror' || r.listed) countViolation(r, violations);
    }
    busyNs += Number(process.hrtime.bigint() - c0);
    await immediate();
  }
  return { perSecond: n / (busyNs / 1e9), seconds: busyNs / 1e9, ...latency(ns) };
}

function countViolation(r: CardCheckResult, v: MirrorViolations): void {
  if (r.source === 'fallback') v.fallback++;
  else if (r.listed) v.listed++;
  else v.nodeNotListed++;
}

async function mirrorBench(options: SdkBenchOptions, target: string, token: string, key: Uint8Array): Promise<void> {
  const client = MamoriClient.connect({ target, token, mode: 'mirror', deadlineMs: 1000 });
  const unregister = onCleanup(() => client.close());
  try {
    const t0 = now();
    let sdk = await client.waitForReady(60_000);
    if (sdk.checksVia !== 'mirror') throw new Error(`the mirror is not usable after 60 s: ${sdk.fallbackReason}`);
    const loadSeconds = Number(now() - t0) / 1e9;
    progress(`sdk mirror: loaded in ${loadSeconds.toFixed(2)} s, ${sdk.mirror?.items.toLocaleString('en-US')} items; warm-up …`);
    const node = await client.status();
    const f = node.filter;
    if (!f) throw new Error('the node reports no filter');
    const filter = { bits: f.bits, hashes: f.hashes, capacity: f.capacity, targetFpRate: f.targetFpRate, items: f.items };

    // A listed card must still be found through the mirror (local positive confirmed by the node).
    const probe = await client.checkCard(options.listedSample[0] as string);
    if (!probe.listed || probe.source !== 'node') throw new Error(`a listed PAN answered listed=${probe.listed} source=${probe.source} in mirror mode`);

    const warm: MirrorViolations = { nodeNotListed: 0, listed: 0, fallback: 0 };
    await mirrorRun(client, unlistedPans(Math.min(50_000, options.mirrorChecks)), warm);
    // The limit row's runs alternate with the mirror's, so that their ratio compares the same moments.
    const limit = hashFilterLimit(key, filter);
    limit.run(unlistedPans(Math.min(50_000, options.mirrorChecks)));
    const limitRuns: Run[] = [];
    const violations: MirrorViolations = { nodeNotListed: 0, listed: 0, fallback: 0 };
    const runs: Run[] = [];
    const before = client.stats();
    for (let i = 1; i <= options.runs; i++) {
      const pans = unlistedPans(options.mirrorChecks);
      const r = await mirrorRun(client, pans, violations);
      runs.push(r);
      progress(`sdk mirror run ${i}/${options.runs}: ${fmt(r)}`);
      const l = limit.run(unlistedPans(options.mirrorChecks));
      limitRuns.push(l);
      progress(`sdk limit, hash + filter run ${i}/${options.runs}: ${fmt(l)}`);
    }
    const after = client.stats();
    sdk = client.sdkStatus();
    if (sdk.checksVia !== 'mirror') progress(`WARNING: the mirror is not usable after the runs: ${sdk.fallbackReason}`);
    const s = summarize(runs);
    const checked = options.runs * options.mirrorChecks;
    const bad = violations.listed + violations.fallback;
    addRow(`sdk mirror: negative checks/s, one thread (median of ${runs.length} × ${options.mirrorChecks.toLocaleString('en-US')})`, s.perSecond, 'checks/s', { op: '>=', value: 500_000 });
    addRow('sdk mirror: negative check p50', s.p50Us, 'µs');
    addRow('sdk mirror: negative check p99', s.p99Us, 'µs', { op: '<', value: 20 });
    addRow(`sdk mirror: answers not from the mirror (Bloom false positives, node said not listed; of ${checked.toLocaleString('en-US')})`, violations.nodeNotListed, 'checks');
    addRow('sdk mirror: wrong answers (listed or fail-mode answers to unlisted PANs)', bad, 'checks', { op: '<', value: 1 });
    details.sdkMirror = {
      checksPerRun: options.mirrorChecks,
      yieldEvery: YIELD_EVERY,
      loadSeconds,
      filter,
      summary: s,
      runs,
      violations,
      nodeFilterEstimatedFpRate: f.estimatedFpRate,
      stats: { before: before.checks, after: after.checks, rpcs: after.rpcs, mirrorUnusable: after.mirrorUnusable },
      mirror: sdk.mirror,
    };
    reportHashFilterLimit(options, key, limit, limitRuns, filter);
  } finally {
    client.close();
    unregister();
  }
}

// ---------------------------------------------------------------- 2, 3. remote mode

interface Correctness {
  listedMissed: number;
  unlistedListed: number;
  degraded: number;
  notFromNode: number;
}

async function remoteRun(client: MamoriClient, pans: readonly string[], listed: Uint8Array, concurrency: number, c: Correctness): Promise<Run> {
  const n = pans.length;
  const ns = new Float64Array(n);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const t0 = process.hrtime.bigint();
      const r = await client.checkCard(pans[i] as string);
      ns[i] = Number(process.hrtime.bigint() - t0);
      if (r.degraded) c.degraded++;
      else if (r.source !== 'node') c.notFromNode++;
      if (listed[i] && !r.listed) c.listedMissed++;
      else if (!listed[i] && r.listed) c.unlistedListed++;
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { perSecond: n / seconds, seconds, ...latency(ns) };
}

/**
 * Remote checks on one transport: the stream at concurrency 1 and 64 (rows "sdk remote c1" and
 * "sdk remote c64", which the Redis ratios read), unary at concurrency 1 ("sdk remote c1, unary").
 */
async function remoteBench(options: SdkBenchOptions, target: string, token: string, checkTransport: CheckTransport): Promise<void> {
  const client = MamoriClient.connect({ target, token, mode: 'remote', deadlineMs: 1000, checkTransport });
  const unregister = onCleanup(() => client.close());
  const suffix = checkTransport === 'stream' ? '' : `, ${checkTransport}`;
  const concurrencies = checkTransport === 'stream' ? ([[1, options.sequentialChecks], [CONCURRENCY, options.remoteChecks]] as const) : ([[1, options.sequentialChecks]] as const);
  try {
    await client.waitForReady(30_000);
    const out: Record<string, unknown> = { checkTransport };
    for (const [concurrency, perRun] of concurrencies) {
      progress(`sdk remote${suffix}, concurrency ${concurrency}: warm-up …`);
      const warmC: Correctness = { listedMissed: 0, unlistedListed: 0, degraded: 0, notFromNode: 0 };
      const warm = mixedPans(Math.min(perRun, 20_000), options.listedSample);
      await remoteRun(client, warm.pans, warm.listed, concurrency, warmC);
      const c: Correctness = { listedMissed: 0, unlistedListed: 0, degraded: 0, notFromNode: 0 };
      const runs: Run[] = [];
      const rpcs: { checkRpcs: number; checks: number; largestBatch: number }[] = [];
      let listedChecked = 0;
      for (let i = 1; i <= options.runs; i++) {
        const { pans, listed } = mixedPans(perRun, options.listedSample);
        listedChecked += listed.reduce((a, b) => a + b, 0);
        const before = client.stats();
        const r = await remoteRun(client, pans, listed, concurrency, c);
        const after = client.stats();
        const rpc = { checkRpcs: after.rpcs.Check - before.rpcs.Check, checks: perRun, largestBatch: after.batching.largestBatch };
        runs.push(r);
        rpcs.push(rpc);
        progress(
          `sdk remote c${concurrency}${suffix} run ${i}/${options.runs}: ${fmt(r)}; ${rpc.checkRpcs.toLocaleString('en-US')} Check requests for ${perRun.toLocaleString('en-US')} checks ` +
            `(${(perRun / rpc.checkRpcs).toFixed(1)} per request)`,
        );
      }
      const s = summarize(runs);
      const label = `sdk remote c${concurrency}${suffix}`;
      addRow(`${label}: checks/s, 1% listed (median of ${runs.length} × ${perRun.toLocaleString('en-US')})`, s.perSecond, 'checks/s', concurrency === CONCURRENCY ? { op: '>=', value: 50_000 } : undefined);
      if (concurrency === 1) {
        addRow(`${label}: check p50`, s.p50Us, 'µs', checkTransport === 'stream' ? { op: '<', value: 300 } : undefined);
        addRow(`${label}: check p99`, s.p99Us, 'µs');
      } else {
        addRow(`${label}: check p50`, s.p50Us / 1000, 'ms');
        addRow(`${label}: check p99`, s.p99Us / 1000, 'ms', { op: '<', value: 10 });
        addRow(`${label}: Check requests per run (coalescing; median)`, median(rpcs.map((r) => r.checkRpcs)), 'requests');
      }
      const wrong = c.listedMissed + c.unlistedListed + c.degraded + c.notFromNode;
      addRow(`${label}: wrong or degraded answers (${listedChecked.toLocaleString('en-US')} listed of ${(runs.length * perRun).toLocaleString('en-US')})`, wrong, 'checks', { op: '<', value: 1 });
      out[`c${concurrency}`] = { checksPerRun: perRun, summary: s, runs, rpcs, correctness: c, listedChecked, warmUpCorrectness: warmC };
    }
    out.stats = client.stats();
    details[checkTransport === 'stream' ? 'sdkRemote' : 'sdkRemoteUnary'] = out;
  } finally {
    client.close();
    unregister();
  }
}

// ---------------------------------------------------------------- 4. the limits

type FilterParams = { bits: number; hashes: number; capacity: number; targetFpRate: number; items: number };

/** The limit: normalizePan + panSelector + DigestBloomFilter.has, no SDK around it, on a filter like the node's. */
interface HashFilterLimit {
  run(pans: readonly string[]): Run;
  /** Filter positives seen by run() (random unlisted digests: the false positives). */
  positives(): number;
  filter: DigestBloomFilter;
}

function hashFilterLimit(key: Uint8Array, params: FilterParams): HashFilterLimit {
  const t0 = now();
  const filter = new DigestBloomFilter({ bits: params.bits, hashes: params.hashes, capacity: params.capacity, targetFpRate: params.targetFpRate });
  // Filled like the node's: as many random digests (selectors are uniformly random).
  const CHUNK = 65_536;
  for (let added = 0; added < params.items; ) {
    const count = Math.min(CHUNK, params.items - added);
    const bytes = randomBytes(count * 32);
    for (let j = 0; j < count; j++) filter.add(bytes.subarray(j * 32, j * 32 + 32));
    added += count;
  }
  progress(`sdk limit: filter of ${params.bits.toLocaleString('en-US')} bits, k ${params.hashes}, ${params.items.toLocaleString('en-US')} random digests (${(Number(now() - t0) / 1e9).toFixed(2)} s)`);
  let positives = 0;
  const run = (pans: readonly string[]): Run => {
    const n = pans.length;
    const ns = new Float64Array(n);
    const c0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const t = process.hrtime.bigint();
      const normalized = normalizePan(pans[i] as string);
      if (!normalized.ok) throw new Error(`generated PAN rejected: ${normalized.reason}`);
      if (filter.has(panSelectorView(key, normalized.digits))) positives++;
      ns[i] = Number(process.hrtime.bigint() - t);
    }
    const seconds = Number(process.hrtime.bigint() - c0) / 1e9;
    return { perSecond: n / seconds, seconds, ...latency(ns) };
  };
  return { run, positives: () => positives, filter };
}

/** The limit's rows from its runs (made alternately with the mirror's), and where the time of one of its checks goes. */
function reportHashFilterLimit(options: SdkBenchOptions, key: Uint8Array, limit: HashFilterLimit, runs: Run[], params: FilterParams): void {
  const measuredPositives = limit.positives();
  // The hash alone and the lookup alone, to say where the time of a check goes.
  const pans = unlistedPans(options.mirrorChecks);
  const digits = pans.map((p) => (normalizePan(p) as { digits: string }).digits);
  let h0 = process.hrtime.bigint();
  const digests = digits.map((d) => panSelector(key, d));
  const hashNs = Number(process.hrtime.bigint() - h0) / digits.length;
  h0 = process.hrtime.bigint();
  for (const p of pans) normalizePan(p);
  const normalizeNs = Number(process.hrtime.bigint() - h0) / pans.length;
  let positives = 0;
  h0 = process.hrtime.bigint();
  for (const d of digests) if (limit.filter.has(d)) positives++;
  const lookupNs = Number(process.hrtime.bigint() - h0) / digests.length;
  h0 = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) void (process.hrtime.bigint() - process.hrtime.bigint());
  const timerPairNs = Number(process.hrtime.bigint() - h0) / 100_000;
  progress(`sdk limit: per op normalizePan ${normalizeNs.toFixed(0)} ns, panSelector ${hashNs.toFixed(0)} ns, filter.has ${lookupNs.toFixed(0)} ns (${positives} positives); a pair of hrtime.bigint() ${timerPairNs.toFixed(0)} ns`);
  const s = summarize(runs);
  addRow('sdk limit: normalizePan + panSelector + filter.has, no SDK (ops/s; runs alternated with the mirror\'s)', s.perSecond, 'ops/s');
  addRow('sdk limit: normalizePan + panSelector + filter.has p50', s.p50Us, 'µs');
  addRow('sdk limit: normalizePan + panSelector + filter.has p99', s.p99Us, 'µs');
  details.sdkLimitHashFilter = { opsPerRun: options.mirrorChecks, filter: params, summary: s, runs, positives: measuredPositives, perOpNs: { normalizePan: normalizeNs, panSelector: hashNs, filterHas: lookupNs, hrtimePair: timerPairNs } };
}

/** A bare grpc-js unary call at concurrency 1 through a raw Exchange client. */
async function unaryLimit(options: SdkBenchOptions, target: string, token: string, key: Uint8Array): Promise<void> {
  const { Exchange } = loadGrpcTypes().mamori.v1;
  const stub = new Exchange(target, grpc.credentials.createInsecure(), {}) as ExchangeClient;
  const unregister = onCleanup(() => stub.close());
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  try {
    await new Promise<void>((resolve, reject) => stub.waitForReady(Date.now() + 30_000, (e) => (e ? reject(e) : resolve())));
    const selector = [{ type: 'SELECTOR_TYPE_PAN' as const, digest: panSelector(key, (normalizePan(randomPan('6')) as { digits: string }).digits) }];
    const calls = {
      'Check (1 selector)': () =>
        new Promise<void>((resolve, reject) =>
          stub.Check({ selectors: selector }, md, { deadline: Date.now() + 5_000 }, (e, r) => (e || !r ? reject(e ?? new Error('empty response')) : r.results.length === 1 ? resolve() : reject(new Error('bad answer')))),
        ),
      GetHashingKeys: () =>
        new Promise<void>((resolve, reject) => stub.GetHashingKeys({}, md, { deadline: Date.now() + 5_000 }, (e, r) => (e || !r ? reject(e ?? new Error('empty response')) : resolve()))),
    };
    const out: Record<string, unknown> = {};
    for (const [name, call] of Object.entries(calls)) {
      const run = async (n: number): Promise<Run> => {
        const ns = new Float64Array(n);
        const c0 = process.hrtime.bigint();
        for (let i = 0; i < n; i++) {
          const t = process.hrtime.bigint();
          await call();
          ns[i] = Number(process.hrtime.bigint() - t);
        }
        const seconds = Number(process.hrtime.bigint() - c0) / 1e9;
        return { perSecond: n / seconds, seconds, ...latency(ns) };
      };
      await run(Math.min(2_000, options.sequentialChecks));
      const runs: Run[] = [];
      for (let i = 1; i <= options.runs; i++) {
        const r = await run(options.sequentialChecks);
        runs.push(r);
        progress(`sdk limit, bare unary ${name} run ${i}/${options.runs}: ${fmt(r)}`);
      }
      const s = summarize(runs);
      addRow(`sdk limit: bare grpc-js unary ${name}, concurrency 1 (calls/s)`, s.perSecond, 'calls/s');
      addRow(`sdk limit: bare grpc-js unary ${name} p50`, s.p50Us, 'µs');
      addRow(`sdk limit: bare grpc-js unary ${name} p99`, s.p99Us, 'µs');
      out[name] = { callsPerRun: options.sequentialChecks, summary: s, runs };
    }
    details.sdkLimitUnary = out;
  } finally {
    stub.close();
    unregister();
  }
}

// ---------------------------------------------------------------- entry

export async function runSdkBench(options: SdkBenchOptions): Promise<void> {
  await sodiumReady();
  const { target, token } = readClientConfig(options.clientConfig);
  const keyClient = MamoriClient.connect({ target, token, mode: 'remote', deadlineMs: 5_000 });
  const [key] = await keyClient.hashingKeys().finally(() => keyClient.close());
  if (!key) throw new Error('no hashing key');
  progress(
    `sdk: ${options.runs} runs each: mirror ${options.mirrorChecks.toLocaleString('en-US')} checks, remote c1 ${options.sequentialChecks.toLocaleString('en-US')}, ` +
      `remote c${CONCURRENCY} ${options.remoteChecks.toLocaleString('en-US')}, limits`,
  );
  await mirrorBench(options, target, token, key.key);
  await remoteBench(options, target, token, 'stream');
  await remoteBench(options, target, token, 'unary');
  await unaryLimit(options, target, token, key.key);
}
