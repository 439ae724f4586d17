// Sustained mixed load on a three-member consortium of real `mamori start` processes: checks
// from remote SDK clients (16 in flight), steady small publications at psp-c and acquirer-b, and
// replication of both feeds to every node. Reports throughput, check and replication-lag
// percentiles, each node's RSS at start and end and its least-squares slope over the second half
// of the run (a leak shows as a steady climb there, after caches and heaps have settled).
//
//   node dist/scripts/soak.js [--minutes 3] [--json FILE] [--keep]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { MamoriClient } from '../client-sdk/src/client';
import { MamoriClientError } from '../client-sdk/src/errors';
import { withLuhnDigit } from '../proto/ts/normalize';
import { createConsortium, findBasePort, isRunning, mb, percentile, problemLogLines, processMemory, setTempDir, stopNode, startNodeProcess, tail } from './bench/common';

export interface SoakOptions {
  minutes: number;
  /** Checks in flight at once, spread over the three nodes. */
  checkConcurrency: number;
  /** Each publisher publishes one batch of this many cards every publishIntervalMs. */
  publishBatch: number;
  publishIntervalMs: number;
  rssSampleMs: number;
  keep: boolean;
  log: (message: string) => void;
}

export const SOAK_DEFAULTS: Readonly<SoakOptions> = Object.freeze({
  minutes: 3,
  checkConcurrency: 16,
  publishBatch: 20,
  publishIntervalMs: 500,
  rssSampleMs: 10_000,
  keep: false,
  log: (message: string) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`),
});

const MEMBERS = ['issuer-a', 'acquirer-b', 'psp-c'] as const;
const PUBLISHERS = ['psp-c', 'acquirer-b'] as const;
const REPLICA = 'issuer-a';

export interface NodeRss {
  pid: number;
  startMB: number;
  endMB: number;
  maxMB: number;
  /** Least-squares slope of RSS over the second half of the run. */
  secondHalfSlopeMBPerMin: number;
  samples: { s: number; mb: number }[];
}

export interface SoakResult {
  minutes: number;
  seconds: number;
  checks: number;
  checksPerSecond: number;
  checkP50Ms: number;
  checkP99Ms: number;
  checksListed: number;
  publications: number;
  publishedCards: number;
  publicationsPerSecond: number;
  publishP99Ms: number;
  replicationLagP50Ms: number;
  replicationLagP99Ms: number;
  /** Publications whose arrival at the third member was observed (the rest arrived before the first sample after them). */
  lagObserved: number;
  /** Failed calls by code; RESOURCE_EXHAUSTED would be a rate limit. */
  errors: Record<string, number>;
  /** Published cards the third member does not answer as listed at the end. */
  notReplicatedCards: number;
  /** Seconds from the end of the load until every node held every publisher's last entry. */
  convergedAfterSeconds: number;
  nodesUp: boolean;
  warnOrErrorLogLines: Record<string, number>;
  rss: Record<string, NodeRss>;
}

// ---------------------------------------------------------------- small tools

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** Random Luhn-valid card numbers under a BIN of our own, so no two runs or publishers collide. */
function cardNumber(prefix: string): string {
  let partial = prefix;
  while (partial.length < 15) partial += String(Math.floor(Math.random() * 10));
  return withLuhnDigit(partial);
}

export function slopePerMinute(points: readonly { s: number; mb: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((sum, p) => sum + p.s, 0) / n;
  const my = points.reduce((sum, p) => sum + p.mb, 0) / n;
  const num = points.reduce((sum, p) => sum + (p.s - mx) * (p.mb - my), 0);
  const den = points.reduce((sum, p) => sum + (p.s - mx) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 60;
}

function errorCode(error: unknown): string {
  if (error instanceof MamoriClientError) return error.code;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number' ? String(code) : error instanceof Error ? error.message.slice(0, 80) : String(error);
}

interface Member {
  id: string;
  nodeConfig: string;
  clientConfig: string;
  logFile: string;
  child: ChildProcess;
  client: MamoriClient;
}

// ---------------------------------------------------------------- the run

export async function runSoak(overrides: Partial<SoakOptions> = {}): Promise<SoakResult> {
  const o: SoakOptions = { ...SOAK_DEFAULTS, ...overrides };
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-soak-'));
  setTempDir(tempDir, o.keep);
  const dir = path.join(tempDir, 'consortium');
  await createConsortium(dir, await findBasePort(9));
  const members = new Map<string, Member>();
  for (const id of MEMBERS) {
    const nodeConfig = path.join(dir, id, 'node.json');
    const config = JSON.parse(fs.readFileSync(nodeConfig, 'utf8')) as Record<string, unknown>;
    // Rate limits far above the load, so that any refusal is a fault, not the limit doing its job.
    config.limits = { rates: { checks: { perSecond: 1e8, burst: 1e9 }, publications: { perSecond: 1e8, burst: 1e9 }, fetches: { perSecond: 1e5, burst: 1e6 }, heads: { perSecond: 1e5, burst: 1e6 } } };
    config.antiEntropyIntervalMs = 1000;
    fs.writeFileSync(nodeConfig, JSON.stringify(config, null, 2));
    const logFile = path.join(tempDir, `${id}.log`);
    const clientConfig = path.join(dir, id, 'client.json');
    members.set(id, { id, nodeConfig, clientConfig, logFile, child: startNodeProcess(nodeConfig, logFile), client: MamoriClient.fromConfigFile(clientConfig, { mode: 'remote', deadlineMs: 10_000 }) });
  }
  const all = [...members.values()];
  const member = (id: string) => members.get(id) as Member;
  try {
    await Promise.all(all.map((m) => m.client.waitForReady(120_000)));
    for (const started = Date.now(); ; await delay(100)) {
      const statuses = await Promise.all(all.map((m) => m.client.status()));
      if (statuses.every((s) => s.peers.length === 2 && s.peers.every((p) => p.connected))) break;
      if (Date.now() - started > 120_000) throw new Error('peers not connected after 120 s');
    }
    o.log(`three nodes up and connected (pids ${all.map((m) => `${m.id} ${m.child.pid}`).join(', ')}); load for ${o.minutes} min in ${tempDir}`);

    const errors: Record<string, number> = {};
    const countError = (error: unknown) => {
      const code = errorCode(error);
      errors[code] = (errors[code] ?? 0) + 1;
    };
    const t0 = nowMs();
    const endAt = t0 + o.minutes * 60_000;
    const running = () => nowMs() < endAt;

    // RSS of each node every rssSampleMs, from the start of the load.
    const rssSamples = new Map<string, { s: number; mb: number }[]>(MEMBERS.map((id) => [id, []]));
    const sampleRss = () => {
      for (const m of all) {
        const mem = processMemory(m.child.pid);
        if (mem) rssSamples.get(m.id)?.push({ s: (nowMs() - t0) / 1000, mb: mb(mem.rss) });
      }
    };
    const rssLoop = (async () => {
      for (let k = 0; running(); k++) {
        sampleRss();
        await delay(Math.max(0, t0 + (k + 1) * o.rssSampleMs - nowMs()));
      }
    })();

    // Checks: a closed loop of checkConcurrency workers, spread over the three nodes.
    const checkLatencies: number[] = [];
    let checksListed = 0;
    const published: string[] = [];
    const checkWorker = async (i: number) => {
      const client = (all[i % all.length] as Member).client;
      while (running()) {
        const pan = published.length > 0 && Math.random() < 0.1 ? (published[Math.floor(Math.random() * published.length)] as string) : cardNumber('4929');
        const started = nowMs();
        try {
          const result = await client.checkCard(pan);
          if (result.degraded) countError(result.degradedReason ?? 'DEGRADED');
          else {
            checkLatencies.push(nowMs() - started);
            if (result.listed) checksListed++;
          }
        } catch (error) {
          countError(error);
        }
      }
    };

    // Publications: one small batch per publisher every publishIntervalMs, on a fixed schedule.
    const publishLatencies: number[] = [];
    const pending: { origin: string; seq: number; at: number }[] = [];
    const lastSeq: Record<string, number> = {};
    const publisher = async (id: string, bin: string) => {
      const client = member(id).client;
      for (let k = 0; running(); k++) {
        const pans = Array.from({ length: o.publishBatch }, () => cardNumber(bin));
        const started = nowMs();
        try {
          const response = await client.publishCompromisedCards(pans, { reason: 'merchant-breach' });
          publishLatencies.push(nowMs() - started);
          published.push(...pans);
          lastSeq[id] = Math.max(lastSeq[id] ?? 0, response.seq);
          pending.push({ origin: id, seq: response.seq, at: nowMs() });
        } catch (error) {
          countError(error);
        }
        await delay(Math.max(0, t0 + (k + 1) * o.publishIntervalMs - nowMs()));
      }
    };

    // Replication lag: the third member's feed heads, sampled every 50 ms.
    const lags: number[] = [];
    // Runs until the publishers have returned, not merely until the clock ends: a publication
    // in flight at the end of the load is added to pending after running() turns false.
    let publishersDone = false;
    const lagLoop = (async () => {
      const replica = member(REPLICA).client;
      while (!publishersDone || pending.length > 0) {
        try {
          const status = await replica.status();
          const at = nowMs();
          for (let i = pending.length - 1; i >= 0; i--) {
            const p = pending[i] as { origin: string; seq: number; at: number };
            if ((status.feeds.find((f) => f.origin === p.origin)?.seq ?? 0) >= p.seq) {
              lags.push(at - p.at);
              pending.splice(i, 1);
            }
          }
        } catch (error) {
          countError(error);
        }
        if (publishersDone && nowMs() > endAt + 120_000) break;
        await delay(50);
      }
    })();

    const progress = setInterval(() => {
      const s = (nowMs() - t0) / 1000;
      o.log(`${s.toFixed(0)} s: ${checkLatencies.length} checks (${(checkLatencies.length / s).toFixed(0)}/s), ${publishLatencies.length} publications, RSS ${all.map((m) => `${m.id} ${(rssSamples.get(m.id)?.at(-1)?.mb ?? 0).toFixed(0)} MB`).join(', ')}`);
    }, 30_000);
    await Promise.all([...Array.from({ length: o.checkConcurrency }, (_, i) => checkWorker(i)), publisher('psp-c', '4539'), publisher('acquirer-b', '5299')]);
    publishersDone = true;
    clearInterval(progress);
    const seconds = (nowMs() - t0) / 1000;
    sampleRss();
    await rssLoop;

    // Every node holds every publisher's last entry, and the third member lists every card published.
    const loadEnd = nowMs();
    const nodesUpDuringLoad = all.every((m) => isRunning(m.child));
    for (;;) {
      const statuses = await Promise.all(all.map((m) => m.client.status().catch(() => undefined)));
      const converged = statuses.every((s) => s && PUBLISHERS.every((p) => (s.feeds.find((f) => f.origin === p)?.seq ?? 0) >= (lastSeq[p] ?? 0)));
      if (converged || nowMs() - loadEnd > 120_000) break;
      await delay(100);
    }
    const convergedAfterSeconds = (nowMs() - loadEnd) / 1000;
    await lagLoop;
    let notReplicatedCards = 0;
    const replica = member(REPLICA).client;
    for (let i = 0; i < published.length; i += 2000) {
      const results = await replica.checkCards(published.slice(i, i + 2000));
      notReplicatedCards += results.filter((r) => !r.listed).length;
    }

    const rss: Record<string, NodeRss> = {};
    for (const m of all) {
      const samples = rssSamples.get(m.id) ?? [];
      const half = seconds / 2;
      rss[m.id] = {
        pid: m.child.pid as number,
        startMB: samples[0]?.mb ?? NaN,
        endMB: samples.at(-1)?.mb ?? NaN,
        maxMB: Math.max(...samples.map((x) => x.mb)),
        secondHalfSlopeMBPerMin: slopePerMinute(samples.filter((x) => x.s >= half)),
        samples,
      };
    }
    const nodesUp = nodesUpDuringLoad && all.every((m) => isRunning(m.child));
    const warnOrErrorLogLines: Record<string, number> = {};
    for (const m of all) {
      m.client.close();
      if (isRunning(m.child)) await stopNode(m.child, m.logFile);
      else o.log(`${m.id} had exited: ${tail(m.logFile, 10)}`);
      warnOrErrorLogLines[m.id] = problemLogLines(m.child, m.logFile).length;
    }
    return {
      minutes: o.minutes,
      seconds,
      checks: checkLatencies.length,
      checksPerSecond: checkLatencies.length / seconds,
      checkP50Ms: percentile(checkLatencies, 50),
      checkP99Ms: percentile(checkLatencies, 99),
      checksListed,
      publications: publishLatencies.length,
      publishedCards: published.length,
      publicationsPerSecond: publishLatencies.length / seconds,
      publishP99Ms: percentile(publishLatencies, 99),
      replicationLagP50Ms: percentile(lags, 50),
      replicationLagP99Ms: percentile(lags, 99),
      lagObserved: lags.length,
      errors,
      notReplicatedCards,
      convergedAfterSeconds,
      nodesUp,
      warnOrErrorLogLines,
      rss,
    };
  } finally {
    for (const m of all) {
      m.client.close();
      if (isRunning(m.child)) m.child.kill('SIGKILL');
    }
    if (!o.keep) fs.rmSync(tempDir, { recursive: true, force: true });
  }
}

export function formatSoak(r: SoakResult): string {
  const lines = [
    `soak: ${r.minutes} min of mixed load on three nodes (${r.seconds.toFixed(0)} s)`,
    `  checks        ${r.checks} (${r.checksPerSecond.toFixed(0)}/s), p50 ${r.checkP50Ms.toFixed(2)} ms, p99 ${r.checkP99Ms.toFixed(2)} ms, ${r.checksListed} listed`,
    `  publications  ${r.publications} entries, ${r.publishedCards} cards (${r.publicationsPerSecond.toFixed(1)} entries/s), publish p99 ${r.publishP99Ms.toFixed(1)} ms`,
    `  replication   lag to ${REPLICA} p50 ${r.replicationLagP50Ms.toFixed(0)} ms, p99 ${r.replicationLagP99Ms.toFixed(0)} ms (${r.lagObserved} observed); converged ${r.convergedAfterSeconds.toFixed(1)} s after the load; ${r.notReplicatedCards} cards not listed at ${REPLICA}`,
    `  errors        ${JSON.stringify(r.errors)}; nodes up: ${r.nodesUp}; warn/error log lines ${JSON.stringify(r.warnOrErrorLogLines)}`,
  ];
  for (const [id, n] of Object.entries(r.rss)) {
    lines.push(`  RSS ${id.padEnd(10)} start ${n.startMB.toFixed(1)} MB, end ${n.endMB.toFixed(1)} MB, max ${n.maxMB.toFixed(1)} MB, second-half slope ${n.secondHalfSlopeMBPerMin.toFixed(2)} MB/min`);
  }
  return lines.join('\n');
}

function parseArgs(argv: string[]): { options: Partial<SoakOptions>; json?: string } {
  const options: Partial<SoakOptions> = {};
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--minutes') {
      options.minutes = Number(argv[++i]);
      if (!(options.minutes > 0)) throw new Error('--minutes: expected a positive number');
    } else if (a === '--json') json = argv[++i];
    else if (a === '--keep') options.keep = true;
    else throw new Error(`unknown option ${a}; usage: soak [--minutes 3] [--json FILE] [--keep]`);
  }
  return { options, json };
}

if (require.main === module) {
  const { options, json } = parseArgs(process.argv.slice(2));
  runSoak(options).then(
    (result) => {
      console.log(formatSoak(result));
      if (json) fs.writeFileSync(json, JSON.stringify(result, null, 2) + '\n');
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
