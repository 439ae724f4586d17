// Figures of the merchant blacklist and of joint-detection alerts:
//
//   merchant-screen - acquirer-b alone, holding N listed merchants (default 1,000,000, each with
//                     four selectors: corporate number, domain, phone, name+address) published
//                     through the SDK in entries of 5,000; then screenMerchant one call at a time
//                     (the SDK normalizes and hashes, the node checks): p50 / p99, half hits
//   alert-latency   - three nodes; issuer-a follows its alerts; psp-c then acquirer-b report card
//                     testing for a BIN range of issuer-a, each pair in its own window: ms from
//                     the acknowledgement of the k-th (second) report to the alert's arrival at
//                     issuer-a's subscriber; p50 / p99 over the rounds
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import type { MamoriAlert } from '../../client-sdk/src/alerts';
import type { MerchantFields } from '../../proto/ts/merchant';
import { corporateNumberCheckDigit } from '../../proto/ts/merchant';
import { startConsortium, stopConsortium, type Member } from './consortium';
import {
  addRow,
  createConsortium,
  details,
  errorText,
  findBasePort,
  mb,
  msSince,
  now,
  onCleanup,
  percentile,
  processMemory,
  progress,
  secondsSince,
  startNodeProcess,
  stopNode,
  tail,
} from './common';

export type DetectionPhase = 'merchant-screen' | 'alert-latency';
export const DETECTION_PHASES: readonly DetectionPhase[] = ['merchant-screen', 'alert-latency'];

export interface DetectionOptions {
  phases: ReadonlySet<DetectionPhase>;
  merchants: number;
  screenings: number;
  alertRounds: number;
  tempDir: string;
}

const MERCHANTS_PER_ENTRY = 5_000;
const PUBLISHES_IN_FLIGHT = 2;
const SELECTORS_PER_MERCHANT = 4;

/** The i-th synthetic merchant: every field distinct per i and valid under the protocol's normalization. */
export function syntheticMerchant(i: number): MerchantFields {
  const base = String(100_000_000_000 + i);
  return {
    corporateNumber: `${corporateNumberCheckDigit(base)}${base}`,
    domain: `merchant-${i}.example.jp`,
    phone: `06-6${String(i).padStart(7, '0')}`,
    name: `株式会社テスト商店${i}`,
    address: `東京都千代田区丸の内${i}番地`,
  };
}

// ---------------------------------------------------------------- merchant-screen

async function merchantScreen(options: DetectionOptions): Promise<void> {
  const basePort = await findBasePort(6);
  const dir = path.join(options.tempDir, 'consortium-merchants');
  await createConsortium(dir, basePort);
  const nodeConfig = path.join(dir, 'acquirer-b/node.json');
  const config = JSON.parse(fs.readFileSync(nodeConfig, 'utf8')) as Record<string, unknown>;
  // Room in the filter for every selector, so no rebuild runs while the figures are taken.
  const capacity = Math.max(1_000_000, Math.ceil(options.merchants * SELECTORS_PER_MERCHANT * 1.25));
  config.filter = { ...(config.filter as object | undefined), capacity, targetFpRate: 1e-6 };
  fs.writeFileSync(nodeConfig, JSON.stringify(config, null, 2));
  const logFile = path.join(options.tempDir, 'merchants-acquirer-b.log');
  const child: ChildProcess = startNodeProcess(nodeConfig, logFile);
  const client = MamoriClient.fromConfigFile(path.join(dir, 'acquirer-b/client.json'), { mode: 'remote', deadlineMs: 30_000, adminDeadlineMs: 300_000 });
  const unregister = onCleanup(() => client.close());
  try {
    await client.waitForReady(60_000);
    progress(`merchant-screen: acquirer-b serving (filter capacity ${capacity.toLocaleString('en-US')}); listing ${options.merchants.toLocaleString('en-US')} merchants in entries of ${MERCHANTS_PER_ENTRY}`);

    const t0 = now();
    const pending = new Set<Promise<void>>();
    let accepted = 0;
    let failure: unknown;
    let nextReport = 100_000;
    for (let start = 0; start < options.merchants; start += MERCHANTS_PER_ENTRY) {
      const batch: MerchantFields[] = [];
      for (let i = start; i < Math.min(options.merchants, start + MERCHANTS_PER_ENTRY); i++) batch.push(syntheticMerchant(i));
      const p: Promise<void> = client
        .publishFraudulentMerchants(batch, { reason: 'excessive-fraud' })
        .then((r) => {
          accepted += r.accepted;
        })
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => pending.delete(p));
      pending.add(p);
      while (pending.size >= PUBLISHES_IN_FLIGHT) await Promise.race(pending);
      if (failure) throw failure;
      if (start + MERCHANTS_PER_ENTRY >= nextReport) {
        progress(`merchant-screen: ${accepted.toLocaleString('en-US')} merchants acknowledged after ${secondsSince(t0).toFixed(1)} s`);
        nextReport += 100_000;
      }
    }
    await Promise.all(pending);
    if (failure) throw failure;
    const listSeconds = secondsSince(t0);
    if (accepted !== options.merchants) throw new Error(`the node accepted ${accepted} of ${options.merchants} merchants`);
    const status = await client.status();
    progress(`merchant-screen: ${accepted.toLocaleString('en-US')} merchants (${status.indicators.toLocaleString('en-US')} selectors) listed in ${listSeconds.toFixed(1)} s`);

    const hits: number[] = [];
    const misses: number[] = [];
    const wrong: string[] = [];
    for (let n = 0; n < options.screenings; n++) {
      const hit = n % 2 === 0;
      const i = hit ? Math.floor(Math.random() * options.merchants) : options.merchants + n;
      const fields = syntheticMerchant(i);
      const s0 = now();
      const result = await client.screenMerchant(fields);
      const ms = msSince(s0);
      (hit ? hits : misses).push(ms);
      if (result.listed !== hit || (hit && result.matched.length !== SELECTORS_PER_MERCHANT)) wrong.push(`merchant ${i}: listed=${result.listed}, matched ${result.matched.join(',')}`);
    }
    if (wrong.length > 0) throw new Error(`${wrong.length} screening(s) answered wrongly, e.g. ${wrong.slice(0, 3).join('; ')}`);
    const all = [...hits, ...misses];
    const rss = processMemory(child.pid);
    addRow(`merchant-screen: listing rate (${options.merchants.toLocaleString('en-US')} merchants, SDK)`, options.merchants / listSeconds, 'merchants/s');
    addRow('merchant-screen: screenMerchant p50', percentile(all, 50), 'ms');
    addRow('merchant-screen: screenMerchant p99', percentile(all, 99), 'ms');
    addRow('merchant-screen: p99 of hits', percentile(hits, 99), 'ms');
    addRow('merchant-screen: p99 of misses', percentile(misses, 99), 'ms');
    if (rss) addRow('merchant-screen: node RSS', mb(rss.rss), 'MB');
    details.merchantScreen = {
      merchants: options.merchants,
      selectors: status.indicators,
      listSeconds,
      screenings: all.length,
      hitsMs: { p50: percentile(hits, 50), p99: percentile(hits, 99), max: Math.max(...hits) },
      missesMs: { p50: percentile(misses, 50), p99: percentile(misses, 99), max: Math.max(...misses) },
      filter: status.filter,
      nodeMemory: rss,
    };
  } catch (error) {
    throw new Error(`merchant-screen: ${errorText(error)}; node log:\n${tail(logFile)}`);
  } finally {
    client.close();
    unregister();
    await stopNode(child, logFile);
  }
}

// ---------------------------------------------------------------- alert-latency

const HOUR_MS = 60 * 60_000;
const ISSUER_RANGES = ['454545', '356900'] as const;
const ALERT_TIMEOUT_MS = 30_000;

/** Alerts as they reach a follower, by (bin, window), with their arrival time. */
class AlertWatch {
  private readonly arrived = new Map<string, bigint>();
  private readonly waiters = new Map<string, () => void>();
  private readonly stop = new AbortController();
  private readonly done: Promise<void>;

  constructor(client: MamoriClient, after: number) {
    this.done = (async () => {
      for await (const alert of client.alerts({ after, follow: true, signal: this.stop.signal })) this.record(alert);
    })().catch((error: unknown) => {
      progress(`WARNING: alert-latency: the alert stream failed: ${errorText(error)}`);
    });
  }

  private record(alert: MamoriAlert): void {
    if (alert.kind !== 'card-testing') return;
    const key = `${alert.bin}@${alert.windowStartMs}`;
    this.arrived.set(key, now());
    this.waiters.get(key)?.();
  }

  /** When the alert of (bin, window) arrived; undefined after the timeout. */
  async arrival(bin: string, windowStartMs: number, timeoutMs: number): Promise<bigint | undefined> {
    const key = `${bin}@${windowStartMs}`;
    const known = this.arrived.get(key);
    if (known !== undefined) return known;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.set(key, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    this.waiters.delete(key);
    return this.arrived.get(key);
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.done;
  }
}

async function alertLatency(options: DetectionOptions): Promise<void> {
  const members = await startConsortium({ tempDir: options.tempDir, antiEntropyMs: undefined }, 'consortium-alerts');
  try {
    const issuer = members.get('issuer-a') as Member;
    const reporters = [members.get('psp-c') as Member, members.get('acquirer-b') as Member];
    let last = 0;
    for await (const a of issuer.client.alerts({})) last = a.id;
    const watch = new AlertWatch(issuer.client, last);
    const latencies: number[] = [];
    try {
      const currentHour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
      for (let round = 0; round < options.alertRounds; round++) {
        const bin = ISSUER_RANGES[round % ISSUER_RANGES.length] as string;
        // A window of its own for every round (past hours, each range in turn).
        const windowStartMs = currentHour - (Math.floor(round / ISSUER_RANGES.length) + 1) * HOUR_MS;
        const [first, kth] = reporters as [Member, Member];
        await first.client.reportCardTesting({ bin: `${bin}01`, attempts: 400, declines: 390, bucketStartMs: windowStartMs });
        await kth.client.reportCardTesting({ bin, attempts: 120, declines: 115, bucketStartMs: windowStartMs + 10 * 60_000 });
        const acknowledged = now();
        const arrived = await watch.arrival(bin, windowStartMs, ALERT_TIMEOUT_MS);
        const ms = arrived === undefined ? Infinity : Math.max(0, Number(arrived - acknowledged) / 1e6);
        latencies.push(ms);
        if (!Number.isFinite(ms)) progress(`WARNING: alert-latency: round ${round + 1}: no alert within ${ALERT_TIMEOUT_MS} ms`);
      }
    } finally {
      await watch.close();
    }
    progress(`alert-latency: ${latencies.length} rounds, ms: ${latencies.map((l) => l.toFixed(0)).join(' ')}`);
    addRow('alert-latency: k-th report ack to alert at issuer p50', percentile(latencies, 50), 'ms', { op: '<', value: 2000 });
    addRow('alert-latency: k-th report ack to alert at issuer p99', percentile(latencies, 99), 'ms', { op: '<', value: 2000 });
    details.alertLatency = { rounds: latencies.length, latenciesMs: latencies };
  } finally {
    await stopConsortium(members).catch((error: unknown) => progress(`WARNING: stopping the consortium: ${errorText(error)}`));
  }
}

export async function runDetectionBench(options: DetectionOptions): Promise<void> {
  if (options.phases.has('merchant-screen')) await merchantScreen(options);
  if (options.phases.has('alert-latency')) await alertLatency(options);
}
