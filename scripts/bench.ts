// `npm run bench`: end-to-end performance figures of a Mamori node on this machine.
//
//   1. import   - 1,000,000 PANs from a CSV through `mamori import cards` into a running node
//   2. restart  - spawn of `mamori start` until the first successful Check (snapshot / rebuild)
//   3. check    - node-side Check throughput, batches of 1,000 precomputed selectors
//
// Progress goes to stderr; the table to stdout; the same figures to bench/results.json.
// Options: --runs N (import runs, median; default 1), --check-runs N (default 5),
//          --pans N (CSV size; default 1,000,000), --keep (keep the temp folder), --out FILE.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MamoriClient } from '../client-sdk/src/client';
import { readClientConfig } from '../client-sdk/src/config';
import { loadGrpcTypes } from '../proto/ts/loader';
import { withLuhnDigit } from '../proto/ts/normalize';
import { panSelector } from '../proto/ts/selectors';
import { sodiumReady } from '../proto/ts/sodium';
import { isPublicTestPan } from '../proto/ts/test-cards';
import type { CheckResponse__Output } from '../proto/gen/mamori/v1/CheckResponse';
import type { ExchangeClient } from '../proto/gen/mamori/v1/Exchange';

const REPO = path.resolve(__dirname, '../..');
const CLI = path.join(REPO, 'bin/mamori.js');

// ---------------------------------------------------------------- options

interface Options {
  importRuns: number;
  checkRuns: number;
  restartRuns: number;
  pans: number;
  keep: boolean;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { importRuns: 1, checkRuns: 5, restartRuns: 3, pans: 1_000_000, keep: false, out: path.join(REPO, 'bench/results.json') };
  const int = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive integer, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') o.importRuns = int(a, argv[++i]);
    else if (a === '--check-runs') o.checkRuns = int(a, argv[++i]);
    else if (a === '--restart-runs') o.restartRuns = int(a, argv[++i]);
    else if (a === '--pans') o.pans = int(a, argv[++i]);
    else if (a === '--keep') o.keep = true;
    else if (a === '--out') o.out = path.resolve(String(argv[++i]));
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: node dist/scripts/bench.js [--runs N] [--check-runs N] [--restart-runs N] [--pans N] [--keep] [--out FILE]\n');
      process.exit(0);
    } else throw new Error(`unknown option ${String(a)}`);
  }
  return o;
}

// ---------------------------------------------------------------- small helpers

const progress = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const now = () => process.hrtime.bigint();
const secondsSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------- child processes and cleanup

const children = new Set<ChildProcess>();
let tempDir: string | undefined;
let keepTemp = false;

function cleanupSync(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  children.clear();
  if (tempDir && !keepTemp) {
    try {
      fs.rmSync(tempDir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
    tempDir = undefined;
  }
}

process.on('exit', cleanupSync);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    progress(`${signal}: stopping children and removing ${tempDir ?? 'nothing'}`);
    cleanupSync();
    process.exit(130);
  });
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Runs the CLI to completion, capturing stdout and stderr. */
async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> {
  const t0 = now();
  const child = track(spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [{ code }] = await Promise.all([
    waitExit(child),
    new Promise<void>((resolve) => child.stdout?.once('close', resolve) ?? resolve()),
    new Promise<void>((resolve) => child.stderr?.once('close', resolve) ?? resolve()),
  ]);
  return { code, stdout, stderr, seconds: secondsSince(t0) };
}

/** Nodes the bench itself asked to stop; any other exit is unexpected. */
const stopRequested = new WeakSet<ChildProcess>();

function startNodeProcess(nodeConfig: string, logFile: string): ChildProcess {
  const logOffset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const fd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = track(spawn(process.execPath, [CLI, 'start', '--config', nodeConfig], { stdio: ['ignore', fd, fd] }));
  } finally {
    fs.closeSync(fd);
  }
  logOffsets.set(child, logOffset);
  child.once('exit', (code, signal) => {
    if (!stopRequested.has(child)) progress(`WARNING: ${describeUnexpectedExit(child, logFile) ?? `node exited (code ${code}, signal ${signal})`}`);
  });
  return child;
}

/** Where each node's output starts in its (shared, appended) log file. */
const logOffsets = new WeakMap<ChildProcess, number>();

/** This node's own log lines (the log file is shared by the restarts of one member). */
function ownLog(child: ChildProcess, logFile: string): string {
  try {
    return fs.readFileSync(logFile).subarray(logOffsets.get(child) ?? 0).toString('utf8');
  } catch {
    return '';
  }
}

/** Why a node the bench did not stop is gone, or undefined while it runs (or when the bench stopped it). */
function describeUnexpectedExit(child: ChildProcess, logFile: string): string | undefined {
  if (stopRequested.has(child)) return undefined;
  const signal = /"signal":"(SIG[A-Z]+)"[^\n]*shutting down/.exec(ownLog(child, logFile))?.[1];
  const running = child.exitCode === null && child.signalCode === null;
  if (running && !signal) return undefined;
  let text = running
    ? `node pid ${child.pid} is shutting down although the bench did not stop it`
    : `node pid ${child.pid} exited unexpectedly (code ${child.exitCode}, signal ${child.signalCode})`;
  if (signal) {
    text += `; its log shows it received ${signal}, which the bench did not send`;
  } else if (child.signalCode === 'SIGTERM' || child.signalCode === 'SIGINT') {
    text += `; it was killed by ${child.signalCode} before it installed its signal handlers (during start-up), and the bench did not send it`;
  }
  if (signal || child.signalCode) text += ': is another process on this machine killing "mamori start" processes (pkill -f / killall)?';
  return text;
}

async function stopNode(child: ChildProcess, logFile: string): Promise<number> {
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`${describeUnexpectedExit(child, logFile) ?? `node already exited (code ${child.exitCode}, signal ${child.signalCode})`}; log:\n${tail(logFile)}`);
  }
  const t0 = now();
  stopRequested.add(child);
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    progress('node did not exit within 60 s of SIGTERM; killing it');
    child.kill('SIGKILL');
  }, 60_000);
  const { code, signal } = await waitExit(child);
  clearTimeout(timer);
  const seconds = secondsSince(t0);
  if (code !== 0) progress(`WARNING: node exited with code ${code} signal ${signal} after SIGTERM; log tail:\n${tail(logFile, 10)}`);
  return seconds;
}

// ---------------------------------------------------------------- ports

function listenOn(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

const closeServer = (s: net.Server) => new Promise<void>((resolve) => s.close(() => resolve()));

/** A base port P with P, P+1 and P+2 free on loopback. */
async function findBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const probe = await listenOn(0);
    if (!probe) continue;
    const base = (probe.address() as net.AddressInfo).port;
    await closeServer(probe);
    if (base > 65533 - 2) continue;
    const held: net.Server[] = [];
    let ok = true;
    for (let i = 0; i < 3 && ok; i++) {
      const s = await listenOn(base + i);
      if (s) held.push(s);
      else ok = false;
    }
    await Promise.all(held.map(closeServer));
    if (ok) return base;
  }
  throw new Error('no three consecutive free loopback ports found');
}

// ---------------------------------------------------------------- card numbers

function randomDigits(n: number): string {
  let s = '';
  while (s.length < n) s += String(Math.floor(Math.random() * 1e7)).padStart(7, '0');
  return s.slice(0, n);
}

/** A random Luhn-valid 16-digit PAN starting with `first`, never a public test number. */
function randomPan(first: string): string {
  for (;;) {
    const pan = withLuhnDigit(first + randomDigits(15 - first.length));
    if (!isPublicTestPan(pan)) return pan;
  }
}

/** Writes a CSV of `count` PANs (starting with 4 or 5); returns a sample of the listed PANs. */
function writeCardCsv(file: string, count: number, sampleEvery: number): string[] {
  const sample: string[] = [];
  const parts: string[] = ['pan\n'];
  const CHUNK = 50_000;
  for (let start = 0; start < count; start += CHUNK) {
    const lines: string[] = [];
    const end = Math.min(count, start + CHUNK);
    for (let i = start; i < end; i++) {
      const pan = randomPan(i & 1 ? '5' : '4');
      if (i % sampleEvery === 0) sample.push(pan);
      lines.push(pan);
    }
    parts.push(lines.join('\n') + '\n');
  }
  fs.writeFileSync(file, parts.join(''));
  return sample;
}

// ---------------------------------------------------------------- readiness

/** Polls checkCard with a fresh client until it answers listed=true; seconds from `t0`. */
async function waitFirstCheck(t0: bigint, clientConfig: string, pan: string, child: ChildProcess, logFile: string, timeoutMs = 180_000): Promise<number> {
  let lastError = '';
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${describeUnexpectedExit(child, logFile) ?? 'node exited during start-up'}; log:\n${tail(logFile)}`);
    }
    const client = MamoriClient.fromConfigFile(clientConfig);
    try {
      const result = await client.checkCard(pan);
      if (result.listed) return secondsSince(t0);
      lastError = 'answered listed=false';
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    } finally {
      client.close();
    }
    if (secondsSince(t0) * 1000 > timeoutMs) throw new Error(`no successful Check within ${timeoutMs} ms (last: ${lastError}); log:\n${tail(logFile)}`);
    await delay(10); // poll interval: keep the bench from competing with the starting node for the CPU
  }
}

// ---------------------------------------------------------------- results

interface Row {
  name: string;
  value: number;
  unit: string;
  target?: string;
  pass?: boolean;
}

const rows: Row[] = [];
const details: Record<string, unknown> = {};

function addRow(name: string, value: number, unit: string, target?: { op: '>=' | '<'; value: number }): void {
  const row: Row = { name, value, unit };
  if (target) {
    row.target = `${target.op} ${target.value.toLocaleString('en-US')}`;
    row.pass = Number.isFinite(value) && (target.op === '>=' ? value >= target.value : value < target.value);
  }
  rows.push(row);
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

function printTable(): void {
  const header = ['benchmark', 'value', 'unit', 'target', 'result'];
  const body = rows.map((r) => [r.name, formatValue(r.value), r.unit, r.target ?? '-', r.pass === undefined ? '-' : r.pass ? 'PASS' : 'FAIL']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ');
  process.stdout.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${body.map(line).join('\n')}\n`);
}

// ---------------------------------------------------------------- check throughput

interface CheckRun {
  selectorsPerSecond: number;
  seconds: number;
  latenciesMs: number[];
  listed: number;
}

function checkOnce(stub: ExchangeClient, md: grpc.Metadata, selectors: { type: 'SELECTOR_TYPE_PAN'; digest: Buffer }[]): Promise<CheckResponse__Output> {
  return new Promise((resolve, reject) => {
    stub.Check({ selectors }, md, { deadline: Date.now() + 30_000 }, (error, response) => (error || !response ? reject(error ?? new Error('empty response')) : resolve(response)));
  });
}

async function checkRun(stub: ExchangeClient, md: grpc.Metadata, batches: { type: 'SELECTOR_TYPE_PAN'; digest: Buffer }[][], inFlight: number): Promise<CheckRun> {
  const latenciesMs: number[] = [];
  let next = 0;
  let listed = 0;
  let total = 0;
  const t0 = now();
  const worker = async () => {
    while (next < batches.length) {
      const batch = batches[next++] as { type: 'SELECTOR_TYPE_PAN'; digest: Buffer }[];
      const b0 = now();
      const response = await checkOnce(stub, md, batch);
      latenciesMs.push(Number(now() - b0) / 1e6);
      if (response.results.length !== batch.length) throw new Error(`Check answered ${response.results.length} results for ${batch.length} selectors`);
      for (const r of response.results) if (r.listed) listed++;
      total += batch.length;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = secondsSince(t0);
  return { selectorsPerSecond: total / seconds, seconds, latenciesMs, listed };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  keepTemp = options.keep;
  const started = new Date();
  await sodiumReady();
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-bench-'));
  progress(`temp folder ${tempDir}${options.keep ? ' (kept)' : ''}; ${os.cpus().length} CPUs, node ${process.version}`);
  const loadBefore = os.loadavg();
  if ((loadBefore[0] as number) > 0.5) {
    progress(`WARNING: load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before the bench: other processes compete for the ${os.cpus().length} CPUs, figures will be low`);
  }

  // CSV
  const csv = path.join(tempDir, 'cards.csv');
  let t0 = now();
  const sampleEvery = Math.max(1, Math.floor(options.pans / 2000));
  const listedSample = writeCardCsv(csv, options.pans, sampleEvery);
  progress(`wrote ${options.pans.toLocaleString('en-US')} PANs to ${csv} (${(fs.statSync(csv).size / 1e6).toFixed(1)} MB) in ${secondsSince(t0).toFixed(2)} s`);
  const probePan = listedSample[0] as string;

  const basePort = await findBasePort();
  progress(`base port ${basePort} (members on ${basePort}..${basePort + 2})`);

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
  for (let run = 1; run <= options.importRuns; run++) {
    if (node) {
      await stopNode(node, logFile);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    dir = path.join(tempDir, `consortium-${run}`);
    const created = await runCli(['dev-consortium', '--dir', dir, '--base-port', String(basePort)]);
    if (created.code !== 0) throw new Error(`dev-consortium failed (code ${created.code}): ${created.stderr || created.stdout}`);
    nodeConfig = path.join(dir, 'psp-c/node.json');
    clientConfig = path.join(dir, 'psp-c/client.json');
    logFile = path.join(tempDir, `psp-c-${run}.log`);
    progress(`import run ${run}/${options.importRuns}: consortium in ${dir}; starting psp-c node (log ${logFile})`);
    t0 = now();
    node = startNodeProcess(nodeConfig, logFile);
    {
      const client = MamoriClient.fromConfigFile(clientConfig);
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
    let summary: { imported: number; duplicates: number; rejected: number; seconds: number; pansPerSecond: number; entries: number; error?: string };
    try {
      summary = JSON.parse(result.stdout) as typeof summary;
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
  addRow('import: PANs/s end to end (CLI wall clock)', median(importRuns.map((r) => r.pansPerSecond)), 'PANs/s', { op: '>=', value: 100_000 });
  addRow("import: PANs/s (tool's own figure)", median(importRuns.map((r) => r.toolPansPerSecond)), 'PANs/s');
  addRow('import: wall time', median(importRuns.map((r) => r.wallSeconds)), 's');
  details.import = { runs: importRuns, pans: options.pans };

  // Sanity: the node holds what was imported.
  {
    const client = MamoriClient.fromConfigFile(clientConfig);
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

  // ---- 3. check throughput (node started from the snapshot)
  {
    const config = readClientConfig(clientConfig);
    const client = MamoriClient.fromConfigFile(clientConfig);
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
    const batches: (typeof selectors)[] = [];
    for (let i = 0; i < selectors.length; i += BATCH) batches.push(selectors.slice(i, i + BATCH));
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
      progress('check warm-up …');
      for (let i = 0; i < 2; i++) {
        await checkRun(stub, md, batches, 1);
        await checkRun(stub, md, batches, 4);
      }
      const checkDetails: Record<string, unknown> = {};
      for (const inFlight of [1, 4]) {
        const runs: CheckRun[] = [];
        for (let i = 1; i <= options.checkRuns; i++) {
          const r = await checkRun(stub, md, batches, inFlight);
          runs.push(r);
          progress(
            `check, ${inFlight} in flight, run ${i}/${options.checkRuns}: ${Math.round(r.selectorsPerSecond)} selectors/s, ` +
              `p50 ${percentile(r.latenciesMs, 50).toFixed(2)} ms, p99 ${percentile(r.latenciesMs, 99).toFixed(2)} ms, ${r.listed} listed`,
          );
          if (r.listed !== listedWanted) progress(`WARNING: expected ${listedWanted} listed answers, got ${r.listed}`);
        }
        const all = runs.flatMap((r) => r.latenciesMs);
        addRow(`check: selectors/s, batches of ${BATCH}, ${inFlight} in flight (median of ${runs.length})`, median(runs.map((r) => r.selectorsPerSecond)), 'selectors/s', { op: '>=', value: 300_000 });
        addRow(`check: batch latency p50, ${inFlight} in flight`, percentile(all, 50), 'ms');
        addRow(`check: batch latency p99, ${inFlight} in flight`, percentile(all, 99), 'ms');
        checkDetails[`inFlight${inFlight}`] = runs.map((r) => ({
          selectorsPerSecond: r.selectorsPerSecond,
          seconds: r.seconds,
          p50Ms: percentile(r.latenciesMs, 50),
          p99Ms: percentile(r.latenciesMs, 99),
          maxMs: Math.max(...r.latenciesMs),
          listed: r.listed,
        }));
      }
      details.check = { selectors: TOTAL, batch: BATCH, listedSelectors: listedWanted, runs: checkDetails };
    } finally {
      stub.close();
    }
  }

  // ---- 2b. restart with a filter rebuild from SQLite
  {
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
    await stopNode(node, logFile);
  }

  // ---- report
  printTable();
  const result = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    code: codeVersion(),
    loadAverage: { before: loadBefore, after: os.loadavg() },
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryBytes: os.totalmem(), platform: `${os.platform()} ${os.release()}`, node: process.version },
    options: { importRuns: options.importRuns, checkRuns: options.checkRuns, restartRuns: options.restartRuns, pans: options.pans },
    rows,
    details,
    pass: rows.every((r) => r.pass !== false),
  };
  fs.mkdirSync(path.dirname(options.out), { recursive: true });
  fs.writeFileSync(options.out, JSON.stringify(result, null, 2) + '\n');
  progress(`wrote ${options.out}`);
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

/** The node's "ledger verified and filter ready" log lines (timings of each start). */
function readyLogLines(logFile: string): unknown[] {
  try {
    return fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('filter ready'))
      .map((l) => {
        try {
          const j = JSON.parse(l) as Record<string, unknown>;
          return { entriesVerifiedMs: j.entriesVerifiedMs, filterSource: j.filterSource, filterReason: j.filterReason, readyMs: j.readyMs };
        } catch {
          return l;
        }
      });
  } catch {
    return [];
  }
}

main().then(
  () => {
    cleanupSync();
    process.exit(rows.every((r) => r.pass !== false) ? 0 : 1);
  },
  (error: unknown) => {
    progress(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (tempDir && !keepTemp) progress('(pass --keep to keep the temp folder and node logs)');
    cleanupSync();
    process.exit(2);
  },
);
