// Shared helpers of `npm run bench`: timing, statistics, child processes (always cleaned up),
// ports, card numbers, process memory and the results table.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import { withLuhnDigit } from '../../proto/ts/normalize';
import { isPublicTestPan } from '../../proto/ts/test-cards';

export const REPO = path.resolve(__dirname, '../../..');
export const CLI = path.join(REPO, 'bin/mamori.js');

// ---------------------------------------------------------------- small helpers

export const progress = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
export const now = () => process.hrtime.bigint();
export const secondsSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e9;
export const msSince = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));
export const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

export function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * A client for node-side figures: every check is a Check RPC at the node (mode 'remote', not the
 * SDK's default in-process filter mirror), with a 5 s budget instead of the default 50 ms, so a
 * slow answer is measured rather than replaced by the fail mode's (degraded) answer.
 */
export function nodeClient(clientConfig: string): MamoriClient {
  return MamoriClient.fromConfigFile(clientConfig, { mode: 'remote', deadlineMs: 5_000 });
}

// ---------------------------------------------------------------- child processes and cleanup

const children = new Set<ChildProcess>();
const closers = new Set<() => void>();
let tempDir: string | undefined;
let keepTemp = false;

export function setTempDir(dir: string, keep: boolean): void {
  tempDir = dir;
  keepTemp = keep;
}

export const isTempKept = () => keepTemp;

/** Registers something to close on exit (gRPC clients); returns a function that unregisters it. */
export function onCleanup(close: () => void): () => void {
  closers.add(close);
  return () => closers.delete(close);
}

export function cleanupSync(): void {
  for (const close of closers) {
    try {
      close();
    } catch {
      /* best effort */
    }
  }
  closers.clear();
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
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    progress(`${signal}: stopping children and removing ${tempDir ?? 'nothing'}`);
    cleanupSync();
    process.exit(130);
  });
}

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

export const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Runs the CLI to completion, capturing stdout and stderr. */
export async function runCli(args: string[], onSpawn?: (child: ChildProcess) => void): Promise<{ code: number | null; stdout: string; stderr: string; seconds: number }> {
  const t0 = now();
  const child = track(spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  onSpawn?.(child);
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

/**
 * `mamori dev-consortium` into `dir` on nine ports from `basePort`. Fresh nodes have no own
 * feed for a peer to hold, and some phases run one node alone: own writes are not held for
 * peers at start (ownFeedRecovery.timeoutMs 0), so a phase measures work, not that wait.
 */
export async function createConsortium(dir: string, basePort: number, panSelectors: 'keyed' | 'oblivious' = 'keyed', extraArgs: readonly string[] = []): Promise<void> {
  // Keyed PAN selectors by default: the phases that hash cards with the epoch key and import at
  // full speed measure that path; the oprf phase runs a consortium on oblivious selectors and
  // one on keyed selectors for the mirror check it is compared with.
  const created = await runCli(['dev-consortium', '--dir', dir, '--base-port', String(basePort), '--pan-selectors', panSelectors, ...extraArgs]);
  if (created.code !== 0) throw new Error(`dev-consortium failed (code ${created.code}): ${created.stderr || created.stdout}`);
  for (const member of fs.readdirSync(dir)) {
    const nodeConfig = path.join(dir, member, 'node.json');
    if (!fs.existsSync(nodeConfig)) continue;
    const config = JSON.parse(fs.readFileSync(nodeConfig, 'utf8')) as Record<string, unknown>;
    config.ownFeedRecovery = { timeoutMs: 0, required: false };
    fs.writeFileSync(nodeConfig, JSON.stringify(config, null, 2));
  }
}

/** The summary `mamori import cards --json` prints. */
export interface ImportSummary {
  imported: number;
  duplicates: number;
  rejected: number;
  seconds: number;
  pansPerSecond: number;
  entries: number;
  error?: string;
}

/** Nodes the bench itself asked to stop; any other exit is unexpected. */
const stopRequested = new WeakSet<ChildProcess>();
/** Where each node's output starts in its (shared, appended) log file. */
const logOffsets = new WeakMap<ChildProcess, number>();

export function startNodeProcess(nodeConfig: string, logFile: string): ChildProcess {
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

/** This node's own log lines (the log file is shared by the restarts of one member). */
export function ownLog(child: ChildProcess, logFile: string): string {
  try {
    return fs.readFileSync(logFile).subarray(logOffsets.get(child) ?? 0).toString('utf8');
  } catch {
    return '';
  }
}

/** Why a node the bench did not stop is gone, or undefined while it runs (or when the bench stopped it). */
export function describeUnexpectedExit(child: ChildProcess, logFile: string): string | undefined {
  if (stopRequested.has(child)) return undefined;
  const signal = /"signal":"(SIG[A-Z]+)"[^\n]*shutting down/.exec(ownLog(child, logFile))?.[1];
  const running = isRunning(child);
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

export async function stopNode(child: ChildProcess, logFile: string): Promise<number> {
  if (!isRunning(child)) {
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

/** Polls checkCard with a fresh client until it answers listed=true; seconds from `t0`. */
export async function waitFirstCheck(t0: bigint, clientConfig: string, pan: string, child: ChildProcess, logFile: string, timeoutMs = 180_000): Promise<number> {
  let lastError = '';
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${describeUnexpectedExit(child, logFile) ?? 'node exited during start-up'}; log:\n${tail(logFile)}`);
    }
    const client = nodeClient(clientConfig);
    try {
      const result = await client.checkCard(pan);
      if (result.listed) return secondsSince(t0);
      lastError = result.degraded ? `degraded answer (${result.degradedReason})` : 'answered listed=false';
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    } finally {
      client.close();
    }
    if (secondsSince(t0) * 1000 > timeoutMs) throw new Error(`no successful Check within ${timeoutMs} ms (last: ${lastError}); log:\n${tail(logFile)}`);
    await delay(10); // poll interval: keep the bench from competing with the starting node for the CPU
  }
}

/** Lines of a node's own log at level warn or above (pino levels 40, 50, 60). */
export function problemLogLines(child: ChildProcess, logFile: string): string[] {
  return ownLog(child, logFile)
    .split('\n')
    .filter((line) => /"level":(4|5|6)0\b/.test(line));
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

/** A base port P with P .. P+count-1 free on loopback (dev-consortium needs nine: member APIs, peer endpoints, metrics). */
export async function findBasePort(count = 9): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const probe = await listenOn(0);
    if (!probe) continue;
    const base = (probe.address() as net.AddressInfo).port;
    await closeServer(probe);
    if (base > 65535 - (count - 1)) continue;
    const held: net.Server[] = [];
    let ok = true;
    for (let i = 0; i < count && ok; i++) {
      const s = await listenOn(base + i);
      if (s) held.push(s);
      else ok = false;
    }
    await Promise.all(held.map(closeServer));
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free loopback ports found`);
}

// ---------------------------------------------------------------- card numbers

function randomDigits(n: number): string {
  let s = '';
  while (s.length < n) s += String(Math.floor(Math.random() * 1e7)).padStart(7, '0');
  return s.slice(0, n);
}

/** A random Luhn-valid 16-digit PAN starting with `first`, never a public test number. */
export function randomPan(first: string): string {
  for (;;) {
    const pan = withLuhnDigit(first + randomDigits(15 - first.length));
    if (!isPublicTestPan(pan)) return pan;
  }
}

/** Writes a CSV of `count` PANs (starting with 4 or 5); returns a sample of the listed PANs. */
export function writeCardCsv(file: string, count: number, sampleEvery: number): string[] {
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

// ---------------------------------------------------------------- process memory

export interface ProcessMemory {
  /** Resident set now (VmRSS), bytes. */
  rss: number;
  /** Peak resident set since the process started (VmHWM), bytes. */
  hwm: number;
}

/** VmRSS and VmHWM of a process from /proc/<pid>/status; undefined when it is gone. */
export function processMemory(pid: number | undefined): ProcessMemory | undefined {
  if (pid === undefined) return undefined;
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Resident bytes of the process's `[heap]` mapping (/proc/<pid>/smaps): the main malloc arena,
 * where freed blocks below a live one stay resident. NaN when unreadable.
 */
export function mallocHeapRss(pid: number): number {
  try {
    const text = fs.readFileSync(`/proc/${pid}/smaps`, 'utf8');
    const at = text.search(/ \[heap\]\n/);
    if (at < 0) return 0;
    return Number(/^Rss:\s+(\d+) kB/m.exec(text.slice(at))?.[1] ?? NaN) * 1024;
  } catch {
    return NaN;
  }
}

export const mb = (bytes: number) => bytes / (1024 * 1024);

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; undefined when it is gone. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) in parentheses: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- results

export interface Row {
  name: string;
  value: number;
  unit: string;
  target?: string;
  pass?: boolean;
}

export const rows: Row[] = [];
export const details: Record<string, unknown> = {};

export function addRow(name: string, value: number, unit: string, target?: { op: '>=' | '<' | '<='; value: number }): void {
  const row: Row = { name, value, unit };
  if (target) {
    row.target = `${target.op} ${target.value.toLocaleString('en-US')}`;
    const meets = target.op === '>=' ? value >= target.value : target.op === '<=' ? value <= target.value : value < target.value;
    row.pass = Number.isFinite(value) && meets;
  }
  rows.push(row);
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

export function printTable(): void {
  const header = ['benchmark', 'value', 'unit', 'target', 'result'];
  const body = rows.map((r) => [r.name, formatValue(r.value), r.unit, r.target ?? '-', r.pass === undefined ? '-' : r.pass ? 'PASS' : 'FAIL']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ');
  process.stdout.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${body.map(line).join('\n')}\n`);
}

/** What a node's "ledger verified and filter ready" log line says about one start. */
export interface ReadyLine {
  entriesVerified?: number;
  fromCheckpointRow?: number;
  entriesVerifiedMs?: number;
  derivedCheckedMs?: number;
  filterSource?: string;
  filterReason?: string;
  readyMs?: number;
}

/** The node's "ledger verified and filter ready" log lines (the timings of each start). */
export function readyLogLines(logFile: string): (ReadyLine | string)[] {
  try {
    return fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('filter ready'))
      .map((l) => {
        try {
          const j = JSON.parse(l) as ReadyLine;
          return {
            entriesVerified: j.entriesVerified,
            fromCheckpointRow: j.fromCheckpointRow,
            entriesVerifiedMs: j.entriesVerifiedMs,
            derivedCheckedMs: j.derivedCheckedMs,
            filterSource: j.filterSource,
            filterReason: j.filterReason,
            readyMs: j.readyMs,
          };
        } catch {
          return l;
        }
      });
  } catch {
    return [];
  }
}

/** One start's split, as a progress line: what was verified, and how long each part took. */
export function describeReadyLine(line: ReadyLine | string | undefined): string {
  if (!line || typeof line === 'string') return 'no readiness log line';
  const verified = line.entriesVerified === undefined ? '' : `${line.entriesVerified} entries verified${line.fromCheckpointRow ? ` after checkpoint row ${line.fromCheckpointRow}` : ''} `;
  return `${verified}in ${line.entriesVerifiedMs} ms, derived-state check ${line.derivedCheckedMs} ms, ready after ${line.readyMs} ms (filter: ${line.filterSource})`;
}
