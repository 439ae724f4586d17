// The `scale` phase: --scale N cards (10,000,000 by default) through the storage path of one
// node, on keyed PAN selectors (under the phase "oblivious", import is bound by the threshold
// PRF's evaluation, ~2,000 cards/s: the `oprf` phase measures that path).
//
//   import       - N distinct PANs from a CSV through `mamori import cards` into psp-c, its
//                  filter sized for N: the sustained rate, the rate of every step (a million
//                  cards from 5,000,000 on, a fifth of N below) and the node's RSS at each
//   storage      - database bytes (mamori.db + its WAL) per indicator; filter bytes at 1e-6
//   restart      - spawn of `mamori start` until a listed card's Check answers (median)
//   mirror       - the SDK's filter mirror in a process of its own (scripts/bench/mirror-process.ts):
//                  its memory and negative check rate at N, against a node holding 1,000,000
//                  cards (the CSV's first million, filter sized for them) in the same run
//   replication  - issuer-a and acquirer-b started empty until both hold psp-c's whole feed;
//                  the peak RSS of each of the three nodes meanwhile
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MamoriClient } from '../../client-sdk/src/client';
import { withLuhnDigit } from '../../proto/ts/normalize';
import { isPublicTestPan } from '../../proto/ts/test-cards';
import type { MirrorProcessResult } from './mirror-process';
import {
  addRow,
  createConsortium,
  delay,
  describeReadyLine,
  describeUnexpectedExit,
  details,
  errorText,
  findBasePort,
  isRunning,
  mb,
  median,
  nodeClient,
  now,
  onCleanup,
  processCpuSeconds,
  processMemory,
  progress,
  readyLogLines,
  runCli,
  secondsSince,
  startNodeProcess,
  stopNode,
  tail,
  track,
  waitExit,
  waitFirstCheck,
  type ImportSummary,
} from './common';

export interface ScaleOptions {
  pans: number;
  restartRuns: number;
  /** Mirror checks per run, and runs (median). */
  mirrorChecks: number;
  mirrorRuns: number;
  tempDir: string;
}

/** The size every figure at N is compared with. */
const REFERENCE = 1_000_000;
const PUBLISHER = 'psp-c';
const PEERS = ['issuer-a', 'acquirer-b'] as const;
const SAMPLE_MS = 250;

const stepOf = (n: number) => (n >= 5 * REFERENCE ? REFERENCE : Math.max(1, Math.ceil(n / 5)));
const count = (n: number) => n.toLocaleString('en-US');

// ---------------------------------------------------------------- the CSV

/**
 * Writes `n` distinct Luhn-valid PANs to `file`, 50,000 lines at a time, and the first
 * `referenceCount` of them to `referenceFile` as well. Digits 2-15 are five random digits,
 * then the card's index (two digits of millions-blocks, seven of a bijection of the index
 * within the block): distinct by construction, and random in their BIN.
 */
export function writeDistinctCardCsv(file: string, n: number, referenceFile: string | undefined, referenceCount: number): string[] {
  if (n > 100 * 10_000_000) throw new Error(`at most ${count(1e9)} distinct cards, asked for ${count(n)}`);
  const sampleEvery = Math.max(1, Math.floor(n / 2000));
  const sample: string[] = [];
  const out = fs.openSync(file, 'w');
  const reference = referenceFile ? fs.openSync(referenceFile, 'w') : undefined;
  try {
    fs.writeSync(out, 'pan\n');
    if (reference !== undefined) fs.writeSync(reference, 'pan\n');
    const CHUNK = 50_000;
    for (let start = 0; start < n; start += CHUNK) {
      const end = Math.min(n, start + CHUNK);
      const lines = new Array<string>(end - start);
      for (let i = start; i < end; i++) {
        const block = String(Math.floor(i / 10_000_000)).padStart(2, '0');
        // 7,919 is prime to 10: i ↦ i·7919 + 12345 mod 10^7 is a bijection of the block.
        const within = String(((i % 10_000_000) * 7919 + 12345) % 10_000_000).padStart(7, '0');
        let pan: string;
        do pan = withLuhnDigit(`${i & 1 ? '5' : '4'}${String(Math.floor(Math.random() * 100_000)).padStart(5, '0')}${block}${within}`);
        while (isPublicTestPan(pan));
        if (i % sampleEvery === 0) sample.push(pan);
        lines[i - start] = pan;
      }
      const text = `${lines.join('\n')}\n`;
      fs.writeSync(out, text);
      if (reference !== undefined && start < referenceCount) fs.writeSync(reference, `${lines.slice(0, referenceCount - start).join('\n')}\n`);
    }
  } finally {
    fs.closeSync(out);
    if (reference !== undefined) fs.closeSync(reference);
  }
  return sample;
}

// ---------------------------------------------------------------- one node of a consortium

interface ScaleNode {
  id: string;
  nodeConfig: string;
  clientConfig: string;
  dataDir: string;
  logFile: string;
  child: ChildProcess;
}

/** A dev consortium whose nodes size their filters for `capacity` cards at 1e-6. */
async function scaleConsortium(dir: string, capacity: number): Promise<void> {
  await createConsortium(dir, await findBasePort(9));
  for (const member of [PUBLISHER, ...PEERS]) {
    const nodeConfig = path.join(dir, member, 'node.json');
    const config = JSON.parse(fs.readFileSync(nodeConfig, 'utf8')) as Record<string, unknown>;
    config.filter = { capacity: Math.max(1000, capacity), targetFpRate: 1e-6 };
    fs.writeFileSync(nodeConfig, JSON.stringify(config, null, 2));
  }
}

async function startScaleNode(dir: string, id: string, logFile: string): Promise<ScaleNode> {
  const nodeConfig = path.join(dir, id, 'node.json');
  const node: ScaleNode = {
    id,
    nodeConfig,
    clientConfig: path.join(dir, id, 'client.json'),
    dataDir: path.join(dir, id, 'data'),
    logFile,
    child: startNodeProcess(nodeConfig, logFile),
  };
  const client = nodeClient(node.clientConfig);
  try {
    await Promise.race([
      client.waitForReady(60_000),
      waitExit(node.child).then(({ code, signal }) => {
        throw new Error(`${id} exited during start-up (code ${code}, signal ${signal}); log:\n${tail(logFile)}`);
      }),
    ]);
  } finally {
    client.close();
  }
  return node;
}

function assertRunning(node: ScaleNode): void {
  const exit = describeUnexpectedExit(node.child, node.logFile);
  if (exit) throw new Error(`${exit}; log:\n${tail(node.logFile)}`);
}

/** mamori.db and its WAL (and shared-memory index), bytes. */
function databaseBytes(dataDir: string): { db: number; wal: number; shm: number } {
  const size = (suffix: string) => {
    try {
      return fs.statSync(path.join(dataDir, `mamori.db${suffix}`)).size;
    } catch {
      return 0;
    }
  };
  return { db: size(''), wal: size('-wal'), shm: size('-shm') };
}

// ---------------------------------------------------------------- import with samples

interface ImportSample {
  /** Seconds from the CLI's spawn. */
  s: number;
  indicators: number;
  rssBytes: number;
}

interface Step {
  /** Indicators held at the step's end. */
  upTo: number;
  /** Seconds from the CLI's spawn until the node held them (between two samples, interpolated). */
  atSeconds: number;
  pansPerSecond: number;
  /** The node's RSS at the first sample at or after the step's end, MB. */
  rssMB: number;
}

interface SampledImport {
  summary: ImportSummary;
  wallSeconds: number;
  /** CPU seconds of the node during the import, and of the CLI (read at its last sample, up to SAMPLE_MS before it ended). */
  nodeCpuSeconds: number;
  cliCpuSeconds: number;
  /** Status calls that failed (a node too busy to answer within the deadline). */
  missedSamples: number;
  samples: ImportSample[];
  steps: Step[];
}

/** Imports `csv` at `node` through the CLI, sampling the node's indicators and RSS every SAMPLE_MS. */
async function importSampled(node: ScaleNode, csv: string, cards: number): Promise<SampledImport> {
  const client = nodeClient(node.clientConfig);
  const unregister = onCleanup(() => client.close());
  try {
    const base = (await client.status()).indicators;
    const samples: ImportSample[] = [];
    const t0 = now();
    const nodeCpuBefore = processCpuSeconds(node.child.pid) ?? NaN;
    let cliPid: number | undefined;
    let cliCpuSeconds = 0;
    let finished = false;
    const cli = runCli(['import', 'cards', '--config', node.clientConfig, '--file', csv, '--no-progress', '--json'], (child) => (cliPid = child.pid)).finally(() => (finished = true));
    let missedSamples = 0;
    const sample = async () => {
      cliCpuSeconds = processCpuSeconds(cliPid) ?? cliCpuSeconds;
      try {
        const status = await client.status();
        samples.push({ s: secondsSince(t0), indicators: status.indicators - base, rssBytes: processMemory(node.child.pid)?.rss ?? NaN });
      } catch (error) {
        // A node busy merging selectors may answer late: the step times interpolate between the samples it did answer.
        missedSamples++;
        progress(`scale: a Status call failed (${errorText(error).slice(0, 120)}); the sample is skipped`);
      }
    };
    let lastLog = 0;
    while (!finished) {
      assertRunning(node);
      await sample();
      const last = samples[samples.length - 1];
      if (last && last.s - lastLog >= 10) {
        lastLog = last.s;
        progress(`scale: ${last.s.toFixed(0)} s: ${count(last.indicators)} of ${count(cards)} held, node RSS ${mb(last.rssBytes).toFixed(0)} MB`);
      }
      await Promise.race([delay(SAMPLE_MS), cli]);
    }
    const result = await cli;
    const nodeCpuSeconds = (processCpuSeconds(node.child.pid) ?? NaN) - nodeCpuBefore;
    const answered = samples.length;
    for (let attempt = 0; samples.length === answered && attempt < 5; attempt++) await sample();
    let summary: ImportSummary;
    try {
      summary = JSON.parse(result.stdout) as ImportSummary;
    } catch {
      throw new Error(`import printed no JSON summary (code ${result.code}); stderr: ${result.stderr.slice(0, 2000)}; node log:\n${tail(node.logFile)}`);
    }
    if (result.code !== 0 || summary.error) throw new Error(`import failed (code ${result.code}) after ${summary.imported} imported: ${summary.error ?? result.stderr}; node log:\n${tail(node.logFile)}`);
    if (summary.imported !== cards) throw new Error(`the import listed ${count(summary.imported)} cards of ${count(cards)} (${summary.duplicates} duplicates, ${summary.rejected} rejected)`);
    return { summary, wallSeconds: result.seconds, nodeCpuSeconds, cliCpuSeconds, missedSamples, samples, steps: stepsOf(samples, cards) };
  } finally {
    client.close();
    unregister();
  }
}

/** When the node held each step's last card, and the rate of each step, from the samples. */
function stepsOf(samples: readonly ImportSample[], cards: number): Step[] {
  const step = stepOf(cards);
  const steps: Step[] = [];
  let previousSeconds = 0;
  for (let upTo = Math.min(step, cards); ; upTo = Math.min(upTo + step, cards)) {
    const i = samples.findIndex((x) => x.indicators >= upTo);
    if (i < 0) throw new Error(`no sample holds ${count(upTo)} indicators`);
    const after = samples[i] as ImportSample;
    const before = i > 0 ? (samples[i - 1] as ImportSample) : { s: 0, indicators: 0, rssBytes: NaN };
    const atSeconds = before.s + ((upTo - before.indicators) / Math.max(1, after.indicators - before.indicators)) * (after.s - before.s);
    const size = upTo - (steps[steps.length - 1]?.upTo ?? 0);
    steps.push({ upTo, atSeconds, pansPerSecond: size / (atSeconds - previousSeconds), rssMB: mb(after.rssBytes) });
    previousSeconds = atSeconds;
    if (upTo >= cards) return steps;
  }
}

// ---------------------------------------------------------------- the mirror in its own process

/** glibc maps blocks of 64 KiB and more on their own, so freed receive buffers go back to the system at once. */
const MMAP_RECEIVE_BUFFERS = { MALLOC_MMAP_THRESHOLD_: '65536' };

async function mirrorFigures(clientConfig: string, options: ScaleOptions, env: Record<string, string> = {}): Promise<MirrorProcessResult> {
  const script = path.join(__dirname, 'mirror-process.js');
  const args = ['--expose-gc', script, clientConfig, String(options.mirrorChecks), String(options.mirrorRuns)];
  const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const { code } = await waitExit(child);
  if (code !== 0) throw new Error(`the mirror process failed (code ${code}): ${stderr.slice(0, 2000)}`);
  return JSON.parse(stdout) as MirrorProcessResult;
}

const describeMirror = (m: MirrorProcessResult) =>
  `${count(m.items)} items, filter ${mb(m.filterBytes).toFixed(1)} MB, process RSS +${mb(m.rssLoaded - m.rssBefore).toFixed(1)} MB, ` +
  `(ArrayBuffers ${mb(m.loadedMemory.arrayBuffers).toFixed(1)} MB, malloc [heap] +${mb(m.mallocHeapLoaded - m.mallocHeapBefore).toFixed(1)} MB), loaded in ${m.loadSeconds.toFixed(2)} s; ${Math.round(m.summary.perSecond).toLocaleString('en-US')} checks/s, p50 ${m.summary.p50Us.toFixed(2)} µs, p99 ${m.summary.p99Us.toFixed(2)} µs`;

// ---------------------------------------------------------------- the phase

export async function runScaleBench(options: ScaleOptions): Promise<void> {
  const n = options.pans;
  const referenceCards = Math.min(REFERENCE, n);
  const csv = path.join(options.tempDir, 'scale-cards.csv');
  const referenceCsv = n > REFERENCE ? path.join(options.tempDir, 'scale-cards-first-million.csv') : undefined;
  let t0 = now();
  const listedSample = writeDistinctCardCsv(csv, n, referenceCsv, referenceCards);
  const probePan = listedSample[0] as string;
  progress(`scale: wrote ${count(n)} distinct PANs to ${csv} (${(fs.statSync(csv).size / 1e6).toFixed(0)} MB) in ${secondsSince(t0).toFixed(1)} s`);

  // ---- the reference: the first million alone, filter sized for it
  let reference: { importPansPerSecond: number; mirror: MirrorProcessResult } | undefined;
  if (referenceCsv) {
    const dir = path.join(options.tempDir, 'scale-reference');
    await scaleConsortium(dir, referenceCards);
    const node = await startScaleNode(dir, PUBLISHER, path.join(options.tempDir, 'scale-reference-psp-c.log'));
    progress(`scale: reference node (${PUBLISHER}, filter for ${count(referenceCards)}): importing the CSV's first ${count(referenceCards)} …`);
    const imported = await importSampled(node, referenceCsv, referenceCards);
    const mirror = await mirrorFigures(node.clientConfig, options);
    progress(`scale: reference: ${Math.round(referenceCards / imported.wallSeconds).toLocaleString('en-US')} PANs/s; mirror ${describeMirror(mirror)}`);
    reference = { importPansPerSecond: referenceCards / imported.wallSeconds, mirror };
    await stopNode(node.child, node.logFile);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  // ---- import at N
  const dir = path.join(options.tempDir, 'scale');
  await scaleConsortium(dir, n);
  let publisher = await startScaleNode(dir, PUBLISHER, path.join(options.tempDir, 'scale-psp-c.log'));
  progress(`scale: ${PUBLISHER} (pid ${publisher.child.pid}, filter for ${count(n)} at 1e-6): importing ${count(n)} PANs through the CLI …`);
  const imported = await importSampled(publisher, csv, n);
  const sustained = n / imported.wallSeconds;
  const steps = imported.steps;
  progress(
    `scale: imported ${count(n)} in ${imported.wallSeconds.toFixed(1)} s = ${Math.round(sustained).toLocaleString('en-US')} PANs/s (${imported.summary.entries} entries); steps: ` +
      steps.map((s) => `${count(s.upTo)} ${Math.round(s.pansPerSecond).toLocaleString('en-US')}/s RSS ${s.rssMB.toFixed(0)} MB`).join('; '),
  );
  const status = await (async () => {
    const client = nodeClient(publisher.clientConfig);
    try {
      return await client.status();
    } finally {
      client.close();
    }
  })();
  if (status.indicators !== n) throw new Error(`${PUBLISHER} holds ${count(status.indicators)} indicators after importing ${count(n)}`);
  const filterBytes = Math.ceil((status.filter?.bits ?? NaN) / 8);
  const bytesRunning = databaseBytes(publisher.dataDir);

  const stepLabel = (s: Step, i: number) => `${count(i === 0 ? 0 : (steps[i - 1] as Step).upTo)}–${count(s.upTo)}`;
  const stepRates = steps.map((s) => s.pansPerSecond);
  const last = steps[steps.length - 1] as Step;
  const middle = steps[Math.floor((steps.length - 1) / 2)] as Step;
  addRow(`scale: ${count(n)} PANs through the CLI, sustained (wall clock)`, sustained, 'PANs/s', { op: '>=', value: 100_000 });
  steps.forEach((s, i) => addRow(`scale: import rate, cards ${stepLabel(s, i)}`, s.pansPerSecond, 'PANs/s'));
  addRow('scale: the last step\'s rate against the median step\'s (no downward slope)', last.pansPerSecond / median(stepRates), 'ratio', { op: '>=', value: 0.9 });
  steps.forEach((s) => addRow(`scale: ${PUBLISHER} RSS holding ${count(s.upTo)}`, s.rssMB, 'MB'));
  addRow(`scale: ${PUBLISHER} RSS growth over the import's second half (${count(middle.upTo)} to ${count(last.upTo)})`, last.rssMB - middle.rssMB, 'MB', { op: '<', value: 64 });
  addRow(`scale: ${PUBLISHER} CPU per card during the import (user + system)`, (imported.nodeCpuSeconds / n) * 1e6, 'µs');
  addRow('scale: the CLI\'s CPU per card', (imported.cliCpuSeconds / n) * 1e6, 'µs');
  addRow('scale: database bytes per indicator (mamori.db + WAL, node running)', (bytesRunning.db + bytesRunning.wal) / n, 'bytes');
  addRow(`scale: filter at 1e-6, sized for ${count(n)}`, mb(filterBytes), 'MB');

  // ---- restarts
  const restarts: number[] = [];
  const stops: number[] = [];
  for (let i = 1; i <= options.restartRuns; i++) {
    stops.push(await stopNode(publisher.child, publisher.logFile));
    const start = now();
    publisher = { ...publisher, child: startNodeProcess(publisher.nodeConfig, publisher.logFile) };
    restarts.push(await waitFirstCheck(start, publisher.clientConfig, probePan, publisher.child, publisher.logFile));
    progress(`scale: restart ${i}/${options.restartRuns}: first listed Check after ${(restarts[restarts.length - 1] as number).toFixed(2)} s (stop took ${(stops[stops.length - 1] as number).toFixed(2)} s)`);
    progress(`scale: restart ${i}/${options.restartRuns} split: ${describeReadyLine(readyLogLines(publisher.logFile).pop())}`);
  }
  details.scaleRestarts = { seconds: restarts, stopSeconds: stops, logLines: readyLogLines(publisher.logFile).slice(-options.restartRuns) };
  const bytesStopped = databaseBytes(publisher.dataDir);
  addRow(`scale: restart holding ${count(n)}, spawn to first Check (median of ${restarts.length})`, median(restarts), 's', { op: '<', value: 3 });
  const snapshotBytes = fs.statSync(path.join(publisher.dataDir, 'filter.snapshot'), { throwIfNoEntry: false })?.size;

  // ---- the mirror at N against the reference
  const mirror = await mirrorFigures(publisher.clientConfig, options);
  const referenceMirror = reference?.mirror ?? mirror;
  progress(`scale: mirror at ${count(n)}: ${describeMirror(mirror)}`);
  addRow(`scale: SDK mirror filter holding ${count(n)}`, mb(mirror.filterBytes), 'MB');
  addRow(`scale: SDK mirror process RSS growth, mirror loaded (${count(n)})`, mb(mirror.rssLoaded - mirror.rssBefore), 'MB', { op: '<=', value: 40 });
  addRow(`scale: of which the malloc arena keeps (freed receive buffers among it)`, mb(mirror.mallocHeapLoaded - mirror.mallocHeapBefore), 'MB');
  // The same process with glibc mapping receive buffers apart: what the SDK holds, without the arena's retention.
  const mirrorMapped = await mirrorFigures(publisher.clientConfig, { ...options, mirrorRuns: 1 }, MMAP_RECEIVE_BUFFERS);
  progress(`scale: mirror at ${count(n)}, MALLOC_MMAP_THRESHOLD_=65536: ${describeMirror(mirrorMapped)}`);
  addRow(`scale: SDK mirror process RSS growth, receive buffers mapped apart (MALLOC_MMAP_THRESHOLD_=65536)`, mb(mirrorMapped.rssLoaded - mirrorMapped.rssBefore), 'MB');
  addRow(`scale: SDK mirror negative checks/s at ${count(n)} (median of ${mirror.runs.length})`, mirror.summary.perSecond, 'checks/s');
  addRow(`scale: SDK mirror negative checks/s at ${count(referenceCards)}, same run`, referenceMirror.summary.perSecond, 'checks/s');
  addRow(`scale: SDK mirror check rate at ${count(n)} against ${count(referenceCards)}`, mirror.summary.perSecond / referenceMirror.summary.perSecond, 'ratio', { op: '>=', value: 0.9 });
  if (reference) addRow(`scale: import of the first ${count(referenceCards)} alone, same run (wall clock)`, reference.importPansPerSecond, 'PANs/s');

  // ---- replication to two peers started empty
  const peers: ScaleNode[] = [];
  const peakRss: Record<string, number> = {};
  t0 = now();
  for (const id of PEERS) {
    const logFile = path.join(options.tempDir, `scale-${id}.log`);
    peers.push({ id, nodeConfig: path.join(dir, id, 'node.json'), clientConfig: path.join(dir, id, 'client.json'), dataDir: path.join(dir, id, 'data'), logFile, child: startNodeProcess(path.join(dir, id, 'node.json'), logFile) });
  }
  const head = status.ownFeed?.seq ?? 0;
  progress(`scale: ${PEERS.join(' and ')} started empty; waiting until both hold ${PUBLISHER}'s feed up to seq ${head} …`);
  const reachedSeconds: Record<string, number> = {};
  /** When each peer first held one of psp-c's entries: the time before is start-up and the first fetch. */
  const firstEntrySeconds: Record<string, number> = {};
  const clients = new Map<string, MamoriClient>(peers.map((p) => [p.id, nodeClient(p.clientConfig)]));
  const unregister = onCleanup(() => clients.forEach((c) => c.close()));
  try {
    let lastLog = 0;
    for (;;) {
      for (const node of [publisher, ...peers]) {
        assertRunning(node);
        const rss = processMemory(node.child.pid)?.rss ?? 0;
        peakRss[node.id] = Math.max(peakRss[node.id] ?? 0, rss);
      }
      const held: Record<string, number | string> = {};
      for (const peer of peers) {
        if (reachedSeconds[peer.id] !== undefined) continue;
        try {
          const s = await (clients.get(peer.id) as MamoriClient).status();
          const seq = s.feeds.find((f) => f.origin === PUBLISHER)?.seq ?? 0;
          held[peer.id] = seq;
          if (seq > 0) firstEntrySeconds[peer.id] ??= secondsSince(t0);
          if (seq >= head) reachedSeconds[peer.id] = secondsSince(t0);
        } catch {
          held[peer.id] = 'no answer'; // starting, or too busy to answer a Status call in time
        }
      }
      if (peers.every((p) => reachedSeconds[p.id] !== undefined)) break;
      const s = secondsSince(t0);
      if (s > 3600) throw new Error(`replication of ${count(n)} not done after an hour: ${JSON.stringify(held)}`);
      if (s - lastLog >= 10) {
        lastLog = s;
        progress(`scale: replication ${s.toFixed(0)} s: seq ${Object.entries(held).map(([id, seq]) => `${id} ${seq}`).join(', ')} of ${head}`);
      }
      await delay(SAMPLE_MS);
    }
  } finally {
    clients.forEach((c) => c.close());
    unregister();
  }
  const replicationSeconds = Math.max(...Object.values(reachedSeconds));
  const hwm = Object.fromEntries([publisher, ...peers].map((p) => [p.id, processMemory(p.child.pid)?.hwm ?? NaN]));
  progress(`scale: replicated to ${peers.map((p) => `${p.id} after ${(reachedSeconds[p.id] as number).toFixed(1)} s (first entry after ${(firstEntrySeconds[p.id] ?? NaN).toFixed(1)} s)`).join(', ')}; peak RSS ${Object.entries(peakRss).map(([id, v]) => `${id} ${mb(v).toFixed(0)} MB`).join(', ')}`);
  addRow(`scale: replication of ${count(n)} to two peers started empty, until both hold every entry`, replicationSeconds, 's');
  addRow('scale: replication, until both peers hold a first entry', Math.max(...peers.map((p) => firstEntrySeconds[p.id] ?? NaN)), 's');
  for (const node of [publisher, ...peers]) addRow(`scale: peak RSS during the replication, ${node.id}${node === publisher ? ' (serving)' : ''}`, mb(peakRss[node.id] ?? NaN), 'MB');

  for (const node of [...peers, publisher]) if (isRunning(node.child)) await stopNode(node.child, node.logFile);

  details.scale = {
    pans: n,
    step: stepOf(n),
    import: { wallSeconds: imported.wallSeconds, pansPerSecond: sustained, nodeCpuSeconds: imported.nodeCpuSeconds, cliCpuSeconds: imported.cliCpuSeconds, missedSamples: imported.missedSamples, summary: imported.summary, steps, samples: imported.samples.map((x) => ({ s: Math.round(x.s * 100) / 100, indicators: x.indicators, rssMB: Math.round(mb(x.rssBytes)) })) },
    storage: { running: bytesRunning, stopped: bytesStopped, bytesPerIndicatorRunning: (bytesRunning.db + bytesRunning.wal) / n, bytesPerIndicatorStopped: (bytesStopped.db + bytesStopped.wal) / n },
    filter: { ...status.filter, bytes: filterBytes, snapshotBytes },
    restart: { seconds: restarts, stopSeconds: stops },
    mirror: { atN: mirror, atNReceiveBuffersMapped: mirrorMapped, atReference: referenceMirror, referenceCards },
    referenceImportPansPerSecond: reference?.importPansPerSecond,
    replication: { head, seconds: reachedSeconds, firstEntrySeconds, peakRssMB: Object.fromEntries(Object.entries(peakRss).map(([id, v]) => [id, mb(v)])), hwmMB: Object.fromEntries(Object.entries(hwm).map(([id, v]) => [id, mb(v)])) },
  };
}
