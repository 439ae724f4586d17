// The obvious alternative to Mamori's check path, in the same bench run: a Redis set of keyed
// digests (Debian's redis-server, started here on a free loopback port with no persistence,
// stopped at the end; ioredis as the client). Phase `redis`:
//
//   load         - --pans random 32-byte digests (what keyed BLAKE2b selectors look like) in one
//                  set, SADD in pipelined chunks
//   SISMEMBER    - one caller at a time (c = 1): calls/s, p50, p99; 64 concurrent callers
//                  (c = 64) on one auto-pipelined connection: calls/s, p99; 1 % of the asked
//                  digests are members, as 1 % of the SDK's remote checks are listed cards
//   SMISMEMBER   - 1,000 digests a call, one call at a time: digests/s
//   ratios       - each Mamori figure of this run beside its Redis figure, with the targets
//                  (docs/benchmarks.md#redis); a Mamori row that did not run prints no ratio
//
// Without redis-server on the PATH the phase prints "skipped: redis-server not found" and adds
// no rows.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { addRow, details, findBasePort, median, onCleanup, progress, rows, waitExit } from './common';
import { latency, summarize, type Run } from './sdk';

export interface RedisBenchOptions {
  /** Digests in the set (the node's indicator count in a full run). */
  digests: number;
  runs: number;
  /** SISMEMBER calls per run at c = 1. */
  sequentialChecks: number;
  /** SISMEMBER calls per run at c = 64. */
  concurrentChecks: number;
}

const KEY = 'mamori:pan-selectors';
const CONCURRENCY = 64;
const MULTI = 1_000;
const LOAD_CHUNK = 1_000;

/** Mamori rows of this run, each compared with a Redis figure. */
const MAMORI = {
  mirror: /^sdk mirror: negative checks\/s/,
  limit: /^sdk limit: normalizePan \+ panSelector \+ filter\.has, no SDK \(ops\/s/,
  remoteC64: /^sdk remote c64: checks\/s/,
  remoteC1p50: /^sdk remote c1: check p50/,
  remoteC1UnaryP50: /^sdk remote c1, unary: check p50/,
  nodeBatch: /^check: selectors\/s, batches of 1000 packed, 1 in flight/,
};

function redisServerPath(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const file = found.stdout.trim();
  return found.status === 0 && file !== '' ? file : undefined;
}

async function startRedis(binary: string): Promise<{ child: ChildProcess; port: number; client: Redis }> {
  const port = await findBasePort(1);
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes'], { stdio: 'ignore' });
  onCleanup(() => child.kill('SIGKILL'));
  const client = new Redis({ host: '127.0.0.1', port, enableAutoPipelining: true, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  // Refused connections while the server starts are expected: the loop below retries them.
  client.on('error', () => undefined);
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch (error) {
      if (child.exitCode !== null) throw new Error(`redis-server exited at start (code ${child.exitCode})`);
      if (Date.now() > deadline) throw new Error(`redis-server not answering on 127.0.0.1:${port} after 30 s: ${(error as Error).message}`);
      client.disconnect();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { child, port, client };
}

/** Digests to ask for: 1 % members (from the set), the rest not. */
function asked(members: readonly Buffer[], n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => (i % 100 === 0 ? (members[Math.floor(Math.random() * members.length)] as Buffer) : randomBytes(32)));
}

async function sequential(client: Redis, digests: readonly Buffer[]): Promise<Run> {
  const ns = new Float64Array(digests.length);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < digests.length; i++) {
    const s = process.hrtime.bigint();
    await client.sismember(KEY, digests[i] as Buffer);
    ns[i] = Number(process.hrtime.bigint() - s);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { perSecond: digests.length / seconds, seconds, ...latency(ns) };
}

async function concurrent(client: Redis, digests: readonly Buffer[]): Promise<Run> {
  const ns = new Float64Array(digests.length);
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < digests.length; i = next++) {
        const s = process.hrtime.bigint();
        await client.sismember(KEY, digests[i] as Buffer);
        ns[i] = Number(process.hrtime.bigint() - s);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { perSecond: digests.length / seconds, seconds, ...latency(ns) };
}

async function multi(client: Redis, digests: readonly Buffer[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  let members = 0;
  for (let i = 0; i < digests.length; i += MULTI) {
    const answers = await client.smismember(KEY, digests.slice(i, i + MULTI) as Buffer[]);
    members += answers.reduce((a, b) => a + b, 0);
  }
  if (members === 0) throw new Error('SMISMEMBER found none of the members it was asked for');
  return digests.length / (Number(process.hrtime.bigint() - t0) / 1e9);
}

const rowValue = (pattern: RegExp) => rows.find((r) => pattern.test(r.name))?.value;

export async function runRedisBench(options: RedisBenchOptions): Promise<void> {
  const binary = redisServerPath();
  if (!binary) {
    progress('redis: skipped: redis-server not found (Debian package redis-server)');
    details.redis = { skipped: 'redis-server not found' };
    return;
  }
  const { child, port, client } = await startRedis(binary);
  try {
    const version = ((await client.info('server')).match(/redis_version:(\S+)/) ?? [])[1] ?? 'unknown';
    progress(`redis ${version} on 127.0.0.1:${port}: loading ${options.digests.toLocaleString('en-US')} digests …`);
    const sample: Buffer[] = [];
    for (let i = 0; i < options.digests; i += LOAD_CHUNK) {
      const chunk = Array.from({ length: Math.min(LOAD_CHUNK, options.digests - i) }, () => randomBytes(32));
      if (sample.length < 10_000) sample.push(...chunk.slice(0, 10));
      await client.sadd(KEY, ...chunk);
    }
    const size = await client.scard(KEY);
    if (size !== options.digests) throw new Error(`the set holds ${size} digests, expected ${options.digests}`);

    await sequential(client, asked(sample, Math.min(2_000, options.sequentialChecks)));
    await concurrent(client, asked(sample, Math.min(20_000, options.concurrentChecks)));
    const c1: Run[] = [];
    const c64: Run[] = [];
    const multiRates: number[] = [];
    for (let i = 1; i <= options.runs; i++) {
      c1.push(await sequential(client, asked(sample, options.sequentialChecks)));
      c64.push(await concurrent(client, asked(sample, options.concurrentChecks)));
      multiRates.push(await multi(client, asked(sample, 100 * MULTI)));
      progress(
        `redis run ${i}/${options.runs}: SISMEMBER c=1 ${Math.round((c1.at(-1) as Run).perSecond).toLocaleString('en-US')}/s p50 ${(c1.at(-1) as Run).p50Us.toFixed(0)} µs; ` +
          `c=${CONCURRENCY} ${Math.round((c64.at(-1) as Run).perSecond).toLocaleString('en-US')}/s; SMISMEMBER ×${MULTI} ${Math.round(multiRates.at(-1) as number).toLocaleString('en-US')} digests/s`,
      );
    }
    const s1 = summarize(c1);
    const s64 = summarize(c64);
    const multiRate = median(multiRates);
    addRow(`redis ${version}: SISMEMBER c=1 (median of ${options.runs} × ${options.sequentialChecks.toLocaleString('en-US')}; ${options.digests.toLocaleString('en-US')} digests in the set)`, s1.perSecond, 'calls/s');
    addRow('redis: SISMEMBER c=1 p50', s1.p50Us, 'µs');
    addRow(`redis: SISMEMBER c=${CONCURRENCY}, one auto-pipelined connection (median of ${options.runs} × ${options.concurrentChecks.toLocaleString('en-US')})`, s64.perSecond, 'calls/s');
    addRow(`redis: SISMEMBER c=${CONCURRENCY} p99`, s64.p99Us, 'µs');
    addRow(`redis: SMISMEMBER ×${MULTI}, one call at a time`, multiRate, 'digests/s');

    // Mamori beside Redis, as ratios of this run (the targets of docs/benchmarks.md#redis).
    const ratios: Record<string, number | null> = {};
    const ratio = (name: string, mamori: RegExp, redis: number, target?: { op: '>=' | '<'; value: number }) => {
      const value = rowValue(mamori);
      if (value === undefined) {
        progress(`redis: no ratio "${name}": its Mamori row did not run (phases ${mamori.source.startsWith('^check') ? 'check' : 'sdk'})`);
        ratios[name] = null;
        return;
      }
      const r = value / redis;
      ratios[name] = r;
      addRow(name, r, '×', target);
    };
    ratio(`ratio: SDK mirror checks/s ÷ Redis SISMEMBER c=${CONCURRENCY}`, MAMORI.mirror, s64.perSecond, { op: '>=', value: 4 });
    const mirror = rowValue(MAMORI.mirror);
    const limit = rowValue(MAMORI.limit);
    if (mirror !== undefined && limit !== undefined) addRow('ratio: SDK mirror checks/s ÷ its limit row (hash + filter, no SDK)', mirror / limit, '×', { op: '>=', value: 0.9 });
    ratio(`ratio: SDK remote c=${CONCURRENCY} (check stream) checks/s ÷ Redis SISMEMBER c=${CONCURRENCY}`, MAMORI.remoteC64, s64.perSecond, { op: '>=', value: 1 });
    // p50 latencies: Mamori's over Redis's (lower is better; the target is at most 4×).
    const remoteP50 = rowValue(MAMORI.remoteC1p50);
    if (remoteP50 !== undefined) {
      ratios['remote c1 p50 ÷ redis c1 p50'] = remoteP50 / s1.p50Us;
      addRow('ratio: SDK remote c=1 p50 (check stream) ÷ Redis SISMEMBER c=1 p50', remoteP50 / s1.p50Us, '×', { op: '<', value: 4.0001 });
    } else progress('redis: no ratio "remote c=1 p50": the sdk phase did not run');
    // The same with a unary Check call per check (checkTransport 'unary'), for comparison: no target.
    const unaryP50 = rowValue(MAMORI.remoteC1UnaryP50);
    if (unaryP50 !== undefined) {
      ratios['remote c1 unary p50 ÷ redis c1 p50'] = unaryP50 / s1.p50Us;
      addRow('ratio: SDK remote c=1 p50 (unary Check) ÷ Redis SISMEMBER c=1 p50', unaryP50 / s1.p50Us, '×');
    }
    ratio(`ratio: node Check, packed batches of ${MULTI} (selectors/s) ÷ Redis SMISMEMBER ×${MULTI}`, MAMORI.nodeBatch, multiRate, { op: '>=', value: 0.5 });
    details.redis = { version, port, digests: options.digests, sismemberC1: { summary: s1, runs: c1 }, sismemberC64: { summary: s64, runs: c64 }, smismember: { digestsPerSecond: multiRate, runs: multiRates }, ratios };
  } finally {
    client.disconnect();
    child.kill('SIGTERM');
    await waitExit(child);
  }
}
