// `npm run bench`: end-to-end performance figures of Mamori nodes on this machine.
//
// One node (psp-c of a dev consortium, alone):
//   import       - 1,000,000 PANs from a CSV through `mamori import cards` into a running node
//   restart      - spawn of `mamori start` until the first successful Check (snapshot / rebuild)
//   check        - node-side Check throughput, batches of 1,000 precomputed selectors, in the
//                  packed and the repeated wire form (docs/protocol.md#packed-checks)
//   sdk          - the client SDK against that node: mirror-mode negative checks on one thread,
//                  remote mode at concurrency 1 and 64, and the two limits (keyed hash + filter
//                  lookup without the SDK, a bare grpc-js unary call); scripts/bench/sdk.ts
// Three nodes (issuer-a, acquirer-b, psp-c replicating over mutual TLS; scripts/bench/consortium.ts):
//   propagation  - publish of one card at psp-c until a Check at acquirer-b / issuer-a answers listed (p50, p99)
//   bulk         - the CSV imported at psp-c until acquirer-b and issuer-a hold psp-c's head; RSS of each node
//   slow-reader  - a Fetch of psp-c's feed paused after its first entry: psp-c's RSS must stay flat
// In process (scripts/bench/common-point.ts):
//   cpp          - common-point analysis over 100,000 reported fraud cards from 5 issuers (~10 of
//                  50,000 merchants each): ingest at the aggregator, then the analysis (target < 10 s)
// Detection (scripts/bench/detection.ts):
//   merchant-screen - acquirer-b holding --merchants listed merchants: screenMerchant p50 / p99
//   alert-latency   - three nodes: k-th card-testing report acknowledged to the issuer's alert (p50, p99)
// Redis beside them (scripts/bench/redis.ts; Debian's redis-server, skipped when absent):
//   redis        - a set of --pans digests: SISMEMBER at c = 1 and c = 64, SMISMEMBER ×1000, and
//                  each Mamori figure of the run beside its Redis figure as a ratio
// Oblivious PAN selectors (scripts/bench/evaluation.ts; three nodes, threshold PRF t = 2 of 3):
//   oprf         - first-seen card latency at c = 1 and c = 64 (coalesced); bulk preEvaluate of
//                  --oprf-pans cards (PANs/s, multiplications and CPU per PAN); a cached card's
//                  check (selector cache + mirror filter) against the SDK mirror check; one member
//                  enumerating one BIN until refused
// Scale (scripts/bench/scale.ts; run only when named in --only):
//   scale        - --scale N distinct PANs (default 10,000,000) through the CLI into one node whose
//                  filter is sized for N: sustained and per-step rates, RSS at each step, database
//                  bytes per indicator, filter bytes, restart, the SDK mirror at N against 10^6 in
//                  the same run, and replication of N to two peers started empty
//
// Progress goes to stderr; the table to stdout; the same figures to bench/results.json.
// Options: --only LIST (comma-separated phases above; default all), --runs N (import runs, median;
//          default 1), --check-runs N (default 5), --restart-runs N (default 3), --pans N (CSV size;
//          default 1,000,000), --propagations N (default 1,000), --poll-ms N (0 = setImmediate; default 1),
//          --anti-entropy-ms N (override node.json), --slow-reader-seconds N (default 10),
//          --sdk-runs N (default 5), --sdk-checks N (mirror checks per run; default 200,000),
//          --sdk-remote-checks N (concurrency 64, per run; default 200,000), --sdk-sequential-checks N
//          (concurrency 1 and bare unary calls, per run; default 10,000),
//          --merchants N (merchant-screen; default 1,000,000), --screenings N (default 2,000),
//          --alert-rounds N (alert-latency; default 20), --oprf-pans N (oprf bulk; default 100,000),
//          --oprf-latency-cards N (oprf, first-seen cards at c = 1; default 1,000),
//          --scale N (scale; default 10,000,000),
//          --keep (keep the temp folder and node logs), --out FILE.
import { execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { readClientConfig } from '../client-sdk/src/config';
import { loadGrpcTypes } from '../node/src/rpc/grpc-types';
import { panSelector } from '../proto/ts/trust/domains';
import { sodiumReady } from '../proto/ts/sodium';
import type { CheckRequest } from '../proto/gen/mamori/v1/CheckRequest';
import type { CheckResponse__Output } from '../proto/gen/mamori/v1/CheckResponse';
import { bitmapBytes, countSetBits } from '../proto/ts/packed-check';
import type { ExchangeClient } from '../proto/gen/mamori/v1/Exchange';
import {
  REPO,
  addRow,
  cleanupSync,
  createConsortium,
  delay,
  describeUnexpectedExit,
  details,
  findBasePort,
  isTempKept,
  median,
  nodeClient,
  now,
  percentile,
  printTable,
  progress,
  randomPan,
  rows,
  runCli,
  secondsSince,
  setTempDir,
  startNodeProcess,
  stopNode,
  tail,
  waitExit,
  waitFirstCheck,
  writeCardCsv,
  type ImportSummary,
  readyLogLines,
} from './bench/common';
import { CONSORTIUM_PHASES, runConsortiumBench, type ConsortiumPhase } from './bench/consortium';
import { runSdkBench } from './bench/sdk';
import { measureScrubPass } from './bench/scrub';
import { runCommonPointBench } from './bench/common-point';
import { DETECTION_PHASES, runDetectionBench, type DetectionPhase } from './bench/detection';
import { runOprfBench } from './bench/evaluation';
import { runRedisBench } from './bench/redis';
import { runScaleBench } from './bench/scale';

// ---------------------------------------------------------------- options

const NODE_PHASES = ['import', 'restart', 'check', 'sdk'] as const;
type NodePhase = (typeof NODE_PHASES)[number];
// In process, no node: common-point analysis at the aggregator (scripts/bench/common-point.ts).
const ANALYSIS_PHASES = ['cpp'] as const;
// Three nodes, oblivious PAN selectors (scripts/bench/evaluation.ts).
const OPRF_PHASES = ['oprf'] as const;
// A Redis set of digests beside the node's figures of this run (scripts/bench/redis.ts).
const BASELINE_PHASES = ['redis'] as const;
// Ten million cards by default, 15-30 minutes: only when named in --only (scripts/bench/scale.ts).
const SCALE_PHASES = ['scale'] as const;
type Phase =
  | NodePhase
  | ConsortiumPhase
  | DetectionPhase
  | (typeof ANALYSIS_PHASES)[number]
  | (typeof OPRF_PHASES)[number]
  | (typeof BASELINE_PHASES)[number]
  | (typeof SCALE_PHASES)[number];
const DEFAULT_PHASES: readonly Phase[] = [...NODE_PHASES, ...BASELINE_PHASES, ...CONSORTIUM_PHASES, ...DETECTION_PHASES, ...ANALYSIS_PHASES, ...OPRF_PHASES];
const PHASES: readonly Phase[] = [...DEFAULT_PHASES, ...SCALE_PHASES];

interface Options {
  phases: Set<Phase>;
  importRuns: number;
  checkRuns: number;
  restartRuns: number;
  pans: number;
  propagations: number;
  pollMs: number;
  antiEntropyMs: number | undefined;
  slowReaderSeconds: number;
  sdkRuns: number;
  sdkChecks: number;
  sdkRemoteChecks: number;
  sdkSequentialChecks: number;
  keep: boolean;
  out: string;
  /** psp-c runs its scrub without pauses (intervalMs 0, sliceDelayMs 0): checks measured beside it. */
  scrubContinuous: boolean;
  merchants: number;
  screenings: number;
  alertRounds: number;
  oprfPans: number;
  oprfLatencyCards: number;
  scale: number;
}

const USAGE =
  'usage: node dist/scripts/bench.js [--only PHASES] [--runs N] [--check-runs N] [--restart-runs N] [--pans N]\n' +
  '                                  [--propagations N] [--poll-ms N] [--anti-entropy-ms N] [--slow-reader-seconds N]\n' +
  '                                  [--sdk-runs N] [--sdk-checks N] [--sdk-remote-checks N] [--sdk-sequential-checks N] [--keep] [--out FILE]\n' +
  '                                  [--merchants N] [--screenings N] [--alert-rounds N] [--oprf-pans N] [--oprf-latency-cards N] [--scale N]\n' +
  `PHASES: comma-separated, of ${PHASES.join(', ')} (default: all but ${SCALE_PHASES.join(', ')})\n` +
  '--scrub-continuous: psp-c scrubs its ledger without pauses throughout (checks measured beside a running scrub)\n';

function parseArgs(argv: string[]): Options {
  const o: Options = {
    phases: new Set(DEFAULT_PHASES),
    importRuns: 1,
    checkRuns: 5,
    restartRuns: 3,
    pans: 1_000_000,
    propagations: 1_000,
    pollMs: 1,
    antiEntropyMs: undefined,
    slowReaderSeconds: 10,
    sdkRuns: 5,
    sdkChecks: 200_000,
    sdkRemoteChecks: 200_000,
    sdkSequentialChecks: 10_000,
    keep: false,
    out: path.join(REPO, 'bench/results.json'),
    scrubContinuous: false,
    merchants: 1_000_000,
    screenings: 2_000,
    alertRounds: 20,
    oprfPans: 100_000,
    oprfLatencyCards: 1_000,
    scale: 10_000_000,
  };
  const int = (name: string, v: string | undefined, min = 1): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} needs an integer of at least ${min}, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') o.importRuns = int(a, argv[++i]);
    else if (a === '--check-runs') o.checkRuns = int(a, argv[++i]);
    else if (a === '--restart-runs') o.restartRuns = int(a, argv[++i]);
    else if (a === '--pans') o.pans = int(a, argv[++i]);
    else if (a === '--propagations') o.propagations = int(a, argv[++i]);
    else if (a === '--poll-ms') o.pollMs = int(a, argv[++i], 0);
    else if (a === '--anti-entropy-ms') o.antiEntropyMs = int(a, argv[++i], 100);
    else if (a === '--slow-reader-seconds') o.slowReaderSeconds = int(a, argv[++i]);
    else if (a === '--sdk-runs') o.sdkRuns = int(a, argv[++i]);
    else if (a === '--sdk-checks') o.sdkChecks = int(a, argv[++i]);
    else if (a === '--sdk-remote-checks') o.sdkRemoteChecks = int(a, argv[++i]);
    else if (a === '--sdk-sequential-checks') o.sdkSequentialChecks = int(a, argv[++i]);
    else if (a === '--only') {
      const names = String(argv[++i]).split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = names.filter((n) => !PHASES.includes(n as Phase));
      if (names.length === 0 || unknown.length > 0) throw new Error(`--only: unknown phase(s) ${unknown.join(', ') || '(none given)'}; expected ${PHASES.join(', ')}`);
      o.phases = new Set(names as Phase[]);
    } else if (a === '--keep') o.keep = true;
    else if (a === '--scrub-continuous') o.scrubContinuous = true;
    else if (a === '--out') o.out = path.resolve(String(argv[++i]));
    else if (a === '--merchants') o.merchants = int(a, argv[++i]);
    else if (a === '--screenings') o.screenings = int(a, argv[++i], 2);
    else if (a === '--alert-rounds') o.alertRounds = int(a, argv[++i]);
    else if (a === '--oprf-pans') o.oprfPans = int(a, argv[++i], 1000);
    else if (a === '--oprf-latency-cards') o.oprfLatencyCards = int(a, argv[++i], 2);
    else if (a === '--scale') o.scale = int(a, argv[++i], 1000);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown option ${String(a)}\n${USAGE}`);
  }
  return o;
}

// ---------------------------------------------------------------- check throughput

/** The packed form first: the SDK sends it, and the Redis ratio compares it. */
const CHECK_FORMS = ['packed', 'repeated'] as const;

interface CheckRun {
  selectorsPerSecond: number;
  seconds: number;
  latenciesMs: number[];
  listed: number;
}

/** A batch of the check phase in both wire forms (docs/protocol.md#packed-checks). */
interface CheckBatch {
  size: number;
  repeated: CheckRequest;
  packed: CheckRequest;
}

type CheckForm = 'packed' | 'repeated';

function checkOnce(stub: ExchangeClient, md: grpc.Metadata, request: CheckRequest): Promise<CheckResponse__Output> {
  return new Promise((resolve, reject) => {
    stub.Check(request, md, { deadline: Date.now() + 30_000 }, (error, response) => (error || !response ? reject(error ?? new Error('empty response')) : resolve(response)));
  });
}

/** Listed answers of a response, after checking it answers every selector of the batch. */
function listedIn(response: CheckResponse__Output, batch: CheckBatch, form: CheckForm): number {
  if (form === 'repeated') {
    if (response.results.length !== batch.size) throw new Error(`Check answered ${response.results.length} results for ${batch.size} selectors`);
    return response.results.reduce((n, r) => (r.listed ? n + 1 : n), 0);
  }
  if (response.listedBitmap.length !== bitmapBytes(batch.size)) throw new Error(`Check answered a bitmap of ${response.listedBitmap.length} bytes for ${batch.size} selectors`);
  const listed = countSetBits(response.listedBitmap, batch.size);
  if (listed !== response.listedResults.length) throw new Error(`Check answered ${listed} listed bits and ${response.listedResults.length} listed results`);
  return listed;
}

async function checkRun(stub: ExchangeClient, md: grpc.Metadata, batches: CheckBatch[], form: CheckForm, inFlight: number): Promise<CheckRun> {
  const latenciesMs: number[] = [];
  let next = 0;
  let listed = 0;
  let total = 0;
  const t0 = now();
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++] as CheckBatch;
      const b0 = now();
      const response = await checkOnce(stub, md, batch[form]);
      latenciesMs.push(Number(now() - b0) / 1e6);
      listed += listedIn(response, batch, form);
      total += batch.size;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = secondsSince(t0);
  return { selectorsPerSecond: total / seconds, seconds, latenciesMs, listed };
}

// ---------------------------------------------------------------- main

interface CardCsv {
  file: string;
  listedSample: string[];
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const started = new Date();
  await sodiumReady();
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-bench-'));
  setTempDir(tempDir, options.keep);
  progress(`temp folder ${tempDir}${options.keep ? ' (kept)' : ''}; ${os.cpus().length} CPUs, node ${process.version}; phases ${[...options.phases].join(', ')}`);
  const loadBefore = os.loadavg();
  if ((loadBefore[0] as number) > 0.5) {
    progress(`WARNING: load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before the bench: other processes compete for the ${os.cpus().length} CPUs, figures will be low`);
  }

  // The CSV, written on first use and shared by the single-node import and the bulk replication.
  let cardCsv: CardCsv | undefined;
  const csv = (): CardCsv => {
    if (!cardCsv) {
      const file = path.join(tempDir, 'cards.csv');
      const t0 = now();
      const listedSample = writeCardCsv(file, options.pans, Math.max(1, Math.floor(options.pans / 2000)));
      progress(`wrote ${options.pans.toLocaleString('en-US')} PANs to ${file} (${(fs.statSync(file).size / 1e6).toFixed(1)} MB) in ${secondsSince(t0).toFixed(2)} s`);
      cardCsv = { file, listedSample };
    }
    return cardCsv;
  };

  if (NODE_PHASES.some((p) => options.phases.has(p))) await singleNode(options, csv(), tempDir);
  if (options.phases.has('redis')) {
    await runRedisBench({ digests: options.pans, runs: options.sdkRuns, sequentialChecks: options.sdkSequentialChecks, concurrentChecks: options.sdkRemoteChecks });
  }
  const consortiumPhases = CONSORTIUM_PHASES.filter((p) => options.phases.has(p));
  if (consortiumPhases.length > 0) {
    await runConsortiumBench({
      phases: new Set(consortiumPhases),
      propagations: options.propagations,
      warmup: Math.min(20, options.propagations),
      pollMs: options.pollMs,
      propagationTimeoutMs: 30_000,
      antiEntropyMs: options.antiEntropyMs,
      csv: () => csv().file,
      pans: options.pans,
      bulkTimeoutMs: 600_000,
      slowReaderSeconds: options.slowReaderSeconds,
      tempDir,
    });
  }

  if (options.phases.has('cpp')) await runCommonPointBench(tempDir);
  const detectionPhases = DETECTION_PHASES.filter((p) => options.phases.has(p));
  if (detectionPhases.length > 0) {
    await runDetectionBench({ phases: new Set(detectionPhases), merchants: options.merchants, screenings: options.screenings, alertRounds: options.alertRounds, tempDir });
  }
  if (options.phases.has('oprf')) {
    await runOprfBench({ pans: options.oprfPans, latencyCards: options.oprfLatencyCards, perCaller: 10, mirrorChecks: options.sdkChecks, runs: options.sdkRuns, tempDir });
  }
  if (options.phases.has('scale')) {
    await runScaleBench({ pans: options.scale, restartRuns: options.restartRuns, mirrorChecks: options.sdkChecks, mirrorRuns: options.sdkRuns, tempDir });
  }

  // ---- report
  printTable();
  const result = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    code: codeVersion(),
    loadAverage: { before: loadBefore, after: os.loadavg() },
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryBytes: os.totalmem(), platform: `${os.platform()} ${os.release()}`, node: process.version },
    options: {
      phases: [...options.phases],
      importRuns: options.importRuns,
      checkRuns: options.checkRuns,
      restartRuns: options.restartRuns,
      pans: options.pans,
      propagations: options.propagations,
      pollMs: options.pollMs,
      antiEntropyMs: options.antiEntropyMs ?? null,
      slowReaderSeconds: options.slowReaderSeconds,
      sdkRuns: options.sdkRuns,
      sdkChecks: options.sdkChecks,
      sdkRemoteChecks: options.sdkRemoteChecks,
      sdkSequentialChecks: options.sdkSequentialChecks,
      merchants: options.merchants,
      screenings: options.screenings,
      alertRounds: options.alertRounds,
      oprfPans: options.oprfPans,
      oprfLatencyCards: options.oprfLatencyCards,
      scale: options.scale,
    },
    rows,
    details,
    pass: rows.every((r) => r.pass !== false),
  };
  fs.mkdirSync(path.dirname(options.out), { recursive: true });
  fs.writeFileSync(options.out, JSON.stringify(result, null, 2) + '\n');
  progress(`wrote ${options.out}`);
}

function scrubContinuously(nodeConfig: string): void {
  const config = JSON.parse(fs.readFileSync(nodeConfig, 'utf8')) as Record<string, unknown>;
  config.scrub = { enabled: true, intervalMs: 0, entriesPerSlice: 500, sliceDelayMs: 0 };
  fs.writeFileSync(nodeConfig, JSON.stringify(config, null, 2));
}

/** The scrub's totals from the node's metrics, to show it ran while checks were measured. */
async function scrubProgress(nodeConfig: string): Promise<{ passes: number; entriesVerified: number }> {
  const { metricsListen } = JSON.parse(fs.readFileSync(nodeConfig, 'utf8')) as { metricsListen: string };
  const text = await (await fetch(`http://${metricsListen}/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const scrub = { passes: read('mamori_scrub_passes_total'), entriesVerified: read('mamori_scrub_entries_verified_total') };
  return scrub;
}

/** import, restart, check and sdk on psp-c alone (the import also feeds the others). */
async function singleNode(options: Options, cardCsv: CardCsv, tempDir: string): Promise<void> {
  const { file: csv, listedSample } = cardCsv;
  const probePan = listedSample[0] as string;
  const basePort = await findBasePort(6);
  progress(`base port ${basePort} (member APIs on ${basePort}..${basePort + 2}, peer endpoints on ${basePort + 3}..${basePort + 5}; only psp-c runs)`);
  let t0: bigint;

  // ---- 1. import (a fresh consortium per run; the last run's node is kept for the rest)
  interface ImportRun {
    wallSeconds: number;
    pansPerSecond: number;
    toolPansPerSecond: number;
    toolSeconds: number;
    imported: number;
    duplicates: number;
    rejected: number;
    entries: number;
    nodeStartSeconds: number;
  }
  const importRuns: ImportRun[] = [];
  let dir = '';
  let nodeConfig = '';
  let clientConfig = '';
  let logFile = '';
  let node: ChildProcess | undefined;
  const runs = options.phases.has('import') ? options.importRuns : 1;
  for (let run = 1; run <= runs; run++) {
    if (node) {
      await stopNode(node, logFile);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    dir = path.join(tempDir, `consortium-${run}`);
    await createConsortium(dir, basePort);
    nodeConfig = path.join(dir, 'psp-c/node.json');
    clientConfig = path.join(dir, 'psp-c/client.json');
    logFile = path.join(tempDir, `psp-c-${run}.log`);
    if (options.scrubContinuous) scrubContinuously(nodeConfig);
    progress(`import run ${run}/${runs}: consortium in ${dir}; starting psp-c node (log ${logFile})`);
    t0 = now();
    node = startNodeProcess(nodeConfig, logFile);
    {
      const client = nodeClient(clientConfig);
      try {
        await Promise.race([
          client.waitForReady(30_000),
          waitExit(node).then(({ code, signal }) => {
            throw new Error(`node exited during start-up (code ${code}, signal ${signal}); log:\n${tail(logFile)}`);
          }),
        ]);
        const status = await client.status();
        progress(`node ready in ${secondsSince(t0).toFixed(2)} s: ${status.member}, ${status.indicators} indicators`);
      } finally {
        client.close();
      }
    }
    const nodeStartSeconds = secondsSince(t0);

    progress(`importing ${options.pans.toLocaleString('en-US')} PANs through the CLI …`);
    const result = await runCli(['import', 'cards', '--config', clientConfig, '--file', csv, '--no-progress', '--json']);
    let summary: ImportSummary;
    try {
      summary = JSON.parse(result.stdout) as ImportSummary;
    } catch {
      throw new Error(`import printed no JSON summary (code ${result.code}); stdout: ${result.stdout.slice(0, 2000)} stderr: ${result.stderr.slice(0, 2000)}; node log:\n${tail(logFile)}`);
    }
    if (result.code !== 0 || summary.error) {
      const exit = describeUnexpectedExit(node, logFile);
      throw new Error(`import failed (code ${result.code}) after ${summary.imported} imported: ${summary.error ?? result.stderr}${exit ? `\n${exit}` : ''}; node log:\n${tail(logFile)}`);
    }
    const r: ImportRun = {
      wallSeconds: result.seconds,
      pansPerSecond: (summary.imported + summary.duplicates) / result.seconds,
      toolPansPerSecond: summary.pansPerSecond,
      toolSeconds: summary.seconds,
      imported: summary.imported,
      duplicates: summary.duplicates,
      rejected: summary.rejected,
      entries: summary.entries,
      nodeStartSeconds,
    };
    importRuns.push(r);
    progress(
      `import run ${run}: ${r.imported} imported, ${r.duplicates} duplicates, ${r.rejected} rejected, ${r.entries} entries; ` +
        `wall ${r.wallSeconds.toFixed(2)} s = ${Math.round(r.pansPerSecond)} PANs/s (tool: ${r.toolSeconds.toFixed(2)} s, ${r.toolPansPerSecond} PANs/s)`,
    );
    if (r.rejected > 0) progress(`WARNING: ${r.rejected} PANs rejected by the importer`);
  }
  if (!node) throw new Error('unreachable: no import run');
  if (options.phases.has('import')) {
    addRow('import: PANs/s end to end (CLI wall clock)', median(importRuns.map((r) => r.pansPerSecond)), 'PANs/s', { op: '>=', value: 100_000 });
    addRow("import: PANs/s (tool's own figure)", median(importRuns.map((r) => r.toolPansPerSecond)), 'PANs/s');
    addRow('import: wall time', median(importRuns.map((r) => r.wallSeconds)), 's');
    details.import = { runs: importRuns, pans: options.pans };
  }

  // Sanity: the node holds what was imported.
  {
    const client = nodeClient(clientConfig);
    try {
      const status = await client.status();
      progress(`node holds ${status.indicators} indicators in ${status.entries} entries; filter ${status.filter?.items} items, capacity ${status.filter?.capacity}, est. FP ${status.filter?.estimatedFpRate}`);
      details.statusAfterImport = { indicators: status.indicators, entries: status.entries, filter: status.filter };
      const check = await client.checkCard(probePan);
      if (!check.listed) throw new Error('a PAN from the CSV is not listed after the import');
    } finally {
      client.close();
    }
  }

  // ---- 2. restart from the snapshot
  if (options.phases.has('restart')) {
    const restartOnce = async (label: string): Promise<{ seconds: number; stopSeconds: number }> => {
      const stopSeconds = await stopNode(node as ChildProcess, logFile);
      const start = now();
      node = startNodeProcess(nodeConfig, logFile);
      const seconds = await waitFirstCheck(start, clientConfig, probePan, node, logFile);
      progress(`${label}: first listed Check after ${seconds.toFixed(3)} s (previous stop took ${stopSeconds.toFixed(2)} s)`);
      return { seconds, stopSeconds };
    };
    const restarts: { seconds: number; stopSeconds: number }[] = [];
    for (let i = 1; i <= options.restartRuns; i++) restarts.push(await restartOnce(`restart ${i}/${options.restartRuns} (snapshot)`));
    addRow('restart: spawn to first Check (snapshot, median)', median(restarts.map((r) => r.seconds)), 's', { op: '<', value: 2 });
    details.restart = { snapshot: restarts, logLines: readyLogLines(logFile) };
  }

  // ---- 3. check throughput (node started from the snapshot)
  if (options.phases.has('check')) {
    const config = readClientConfig(clientConfig);
    const client = nodeClient(clientConfig);
    const [key] = await client.hashingKeys();
    client.close();
    if (!key) throw new Error('no hashing key');
    const TOTAL = 100_000;
    const BATCH = 1_000;
    const listedWanted = Math.min(Math.round(TOTAL / 100), listedSample.length);
    t0 = now();
    const pans: string[] = [];
    for (let i = 0; i < listedWanted; i++) pans.push(listedSample[i] as string);
    while (pans.length < TOTAL) pans.push(randomPan('6')); // the CSV only has PANs starting with 4 and 5
    for (let i = pans.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [pans[i], pans[j]] = [pans[j] as string, pans[i] as string];
    }
    const selectors = pans.map((pan) => ({ type: 'SELECTOR_TYPE_PAN' as const, digest: panSelector(key.key, pan) }));
    const batches: CheckBatch[] = [];
    for (let i = 0; i < selectors.length; i += BATCH) {
      const batch = selectors.slice(i, i + BATCH);
      batches.push({ size: batch.length, repeated: { selectors: batch }, packed: { packedDigests: Buffer.concat(batch.map((s) => s.digest)), packedType: 'SELECTOR_TYPE_PAN' } });
    }
    progress(`hashed ${TOTAL.toLocaleString('en-US')} selectors (${listedWanted} listed) in ${secondsSince(t0).toFixed(2)} s`);

    const { Exchange } = loadGrpcTypes().mamori.v1;
    const stub = new Exchange(config.target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 << 20,
      'grpc.max_send_message_length': 16 << 20,
    }) as ExchangeClient;
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${config.token}`);
    try {
      await new Promise<void>((resolve, reject) => stub.waitForReady(Date.now() + 30_000, (e) => (e ? reject(e) : resolve())));
      const scrubBefore = options.scrubContinuous ? await scrubProgress(nodeConfig) : { passes: 0, entriesVerified: 0 };
      progress('check warm-up …');
      for (let i = 0; i < 2; i++) {
        for (const form of CHECK_FORMS) {
          await checkRun(stub, md, batches, form, 1);
          await checkRun(stub, md, batches, form, 4);
        }
      }
      const checkDetails: Record<string, unknown> = {};
      for (const form of CHECK_FORMS) {
        for (const inFlight of [1, 4]) {
          const runs: CheckRun[] = [];
          for (let i = 1; i <= options.checkRuns; i++) {
            const r = await checkRun(stub, md, batches, form, inFlight);
            runs.push(r);
            progress(
              `check, ${form}, ${inFlight} in flight, run ${i}/${options.checkRuns}: ${Math.round(r.selectorsPerSecond)} selectors/s, ` +
                `p50 ${percentile(r.latenciesMs, 50).toFixed(2)} ms, p99 ${percentile(r.latenciesMs, 99).toFixed(2)} ms, ${r.listed} listed`,
            );
            if (r.listed !== listedWanted) progress(`WARNING: expected ${listedWanted} listed answers, got ${r.listed}`);
          }
          const all = runs.flatMap((r) => r.latenciesMs);
          addRow(`check: selectors/s, batches of ${BATCH} ${form}, ${inFlight} in flight (median of ${runs.length})`, median(runs.map((r) => r.selectorsPerSecond)), 'selectors/s', { op: '>=', value: 300_000 });
          addRow(`check: batch latency p50, ${form}, ${inFlight} in flight`, percentile(all, 50), 'ms');
          addRow(`check: batch latency p99, ${form}, ${inFlight} in flight`, percentile(all, 99), 'ms');
          checkDetails[`${form}InFlight${inFlight}`] = runs.map((r) => ({
            selectorsPerSecond: r.selectorsPerSecond,
            seconds: r.seconds,
            p50Ms: percentile(r.latenciesMs, 50),
            p99Ms: percentile(r.latenciesMs, 99),
            maxMs: Math.max(...r.latenciesMs),
            listed: r.listed,
          }));
        }
      }
      details.check = { selectors: TOTAL, batch: BATCH, listedSelectors: listedWanted, runs: checkDetails };
      if (options.scrubContinuous) {
        const after = await scrubProgress(nodeConfig);
        const during = { passes: after.passes - scrubBefore.passes, entriesVerified: after.entriesVerified - scrubBefore.entriesVerified };
        progress(`scrub during the check runs: ${during.passes} passes, ${during.entriesVerified} entries verified`);
        details.checkScrub = during;
      }
    } finally {
      stub.close();
    }
  }

  // ---- 4. the client SDK against the node
  if (options.phases.has('sdk')) {
    await runSdkBench({
      clientConfig,
      listedSample,
      runs: options.sdkRuns,
      mirrorChecks: options.sdkChecks,
      remoteChecks: options.sdkRemoteChecks,
      sequentialChecks: options.sdkSequentialChecks,
    });
    const exit = describeUnexpectedExit(node, logFile);
    if (exit) throw new Error(`${exit}; log:\n${tail(logFile)}`);
  }

  // ---- 2b. restart with a filter rebuild from SQLite
  if (options.phases.has('restart')) {
    const stopSeconds = await stopNode(node, logFile);
    const snapshot = path.join(path.dirname(nodeConfig), 'data/filter.snapshot');
    if (!fs.existsSync(snapshot)) progress(`WARNING: ${snapshot} does not exist after a clean stop`);
    fs.rmSync(snapshot, { force: true });
    const start = now();
    node = startNodeProcess(nodeConfig, logFile);
    const seconds = await waitFirstCheck(start, clientConfig, probePan, node, logFile);
    progress(`restart without snapshot (rebuild): first listed Check after ${seconds.toFixed(3)} s`);
    addRow('restart: spawn to first Check (filter rebuilt from SQLite)', seconds, 's');
    details.restartRebuild = { seconds, stopSeconds, logLines: readyLogLines(logFile).slice(-1) };
  }
  await stopNode(node, logFile);

  // ---- 2c. a full scrub pass, and the start-up derived-state check, on the stopped node's files
  if (options.phases.has('restart')) {
    const scrub = await measureScrubPass(nodeConfig);
    if (scrub.damaged > 0) throw new Error(`the scrub found ${scrub.damaged} damaged entries in a freshly imported ledger`);
    progress(
      `scrub: one full pass over ${scrub.entries} entries in ${scrub.passSeconds.toFixed(2)} s (derived-state check ${scrub.derivedCheckSeconds.toFixed(2)} s); ` +
        `start-up derived-state check ${(scrub.startUpCheckSeconds * 1000).toFixed(0)} ms`,
    );
    addRow('scrub: one full pass (entries, derived state, quick_check)', scrub.passSeconds, 's');
    addRow('of which the derived-state check (rows derived again from the signed entries)', scrub.derivedCheckSeconds, 's');
    addRow('start-up derived-state check (digest MACs, row counts)', scrub.startUpCheckSeconds, 's');
    details.scrub = scrub;
  }
}

/** The commit the figures were measured on, and whether the working tree had changes. */
function codeVersion(): { commit?: string; dirtyFiles?: number } {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return { commit, dirtyFiles: dirty.split('\n').filter(Boolean).length };
  } catch {
    return {};
  }
}

main().then(
  () => {
    cleanupSync();
    process.exit(rows.every((r) => r.pass !== false) ? 0 : 1);
  },
  (error: unknown) => {
    progress(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (!isTempKept()) progress('(pass --keep to keep the temp folder and node logs)');
    cleanupSync();
    process.exit(2);
  },
);
