// Figures measured on a three-member consortium of real `mamori start` processes:
//
//   propagation  - publish of one card at psp-c until a Check at acquirer-b (and issuer-a)
//                  answers listed: p50 / p99 over sequential single publications; node-side
//                  checks (SDK mode 'remote'), and at acquirer-b also the SDK's default mirror mode
//   bulk         - `mamori import cards` of the CSV at psp-c until acquirer-b and issuer-a
//                  hold psp-c's feed up to psp-c's head; RSS of every node at the end
//   slow-reader  - a raw mutual-TLS Fetch of psp-c's feed (from the first entry of the bulk
//                  import) that pauses after the first entry and holds the stream: psp-c's RSS
//                  must stay flat
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MamoriClient } from '../../client-sdk/src/client';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import type { Entry__Output } from '../../proto/gen/mamori/v1/Entry';
import type { ReplicationClient } from '../../proto/gen/mamori/v1/Replication';
import type { StatusResponse__Output } from '../../proto/gen/mamori/v1/StatusResponse';
import {
  addRow,
  createConsortium,
  delay,
  details,
  errorText,
  findBasePort,
  immediate,
  isRunning,
  mb,
  msSince,
  nodeClient,
  now,
  onCleanup,
  percentile,
  problemLogLines,
  processMemory,
  progress,
  randomPan,
  runCli,
  secondsSince,
  startNodeProcess,
  stopNode,
  tail,
  describeUnexpectedExit,
  type ImportSummary,
  type ProcessMemory,
} from './common';

export type ConsortiumPhase = 'propagation' | 'bulk' | 'slow-reader';
export const CONSORTIUM_PHASES: readonly ConsortiumPhase[] = ['propagation', 'bulk', 'slow-reader'];

export interface ConsortiumOptions {
  phases: ReadonlySet<ConsortiumPhase>;
  /** Measured single publications (after `warmup` unmeasured ones). */
  propagations: number;
  warmup: number;
  /** Pause between two Checks of the poll; 0 polls on setImmediate. */
  pollMs: number;
  /** A publication not seen within this time counts as lost (latency Infinity). */
  propagationTimeoutMs: number;
  /** Overrides node.json's antiEntropyIntervalMs when set. */
  antiEntropyMs: number | undefined;
  /** The CSV for the bulk import (written on first use). */
  csv: () => string;
  pans: number;
  bulkTimeoutMs: number;
  slowReaderSeconds: number;
  tempDir: string;
}

const PUBLISHER = 'psp-c';
const READERS = ['acquirer-b', 'issuer-a'] as const;
const MEMBERS = ['issuer-a', 'acquirer-b', PUBLISHER] as const;

export interface Member {
  id: string;
  dir: string;
  nodeConfig: string;
  clientConfig: string;
  peerListen: string;
  logFile: string;
  child: ChildProcess;
  client: MamoriClient;
}

const feedSeq = (status: StatusResponse__Output, origin: string) => status.feeds.find((f) => f.origin === origin)?.seq ?? 0;

function assertRunning(m: Member): void {
  if (!isRunning(m.child)) throw new Error(`${m.id}: ${describeUnexpectedExit(m.child, m.logFile) ?? 'node exited'}; log:\n${tail(m.logFile)}`);
}

// ---------------------------------------------------------------- start and stop

export async function startConsortium(options: Pick<ConsortiumOptions, 'tempDir' | 'antiEntropyMs'>, dirName = 'consortium-3', panSelectors: 'keyed' | 'oblivious' = 'keyed', extraArgs: readonly string[] = []): Promise<Map<string, Member>> {
  const basePort = await findBasePort(6);
  const dir = path.join(options.tempDir, dirName);
  await createConsortium(dir, basePort, panSelectors, extraArgs);
  progress(`consortium of three in ${dir}: member APIs on ${basePort}..${basePort + 2}, peer endpoints on ${basePort + 3}..${basePort + 5}`);
  const members = new Map<string, Member>();
  for (const id of MEMBERS) {
    const nodeConfig = path.join(dir, id, 'node.json');
    const config = JSON.parse(fs.readFileSync(nodeConfig, 'utf8')) as { peerListen: string; antiEntropyIntervalMs: number };
    if (options.antiEntropyMs !== undefined) {
      config.antiEntropyIntervalMs = options.antiEntropyMs;
      fs.writeFileSync(nodeConfig, JSON.stringify(config, null, 2));
    }
    const logFile = path.join(options.tempDir, `${dirName}-${id}.log`);
    const child = startNodeProcess(nodeConfig, logFile);
    const clientConfig = path.join(dir, id, 'client.json');
    const client = nodeClient(clientConfig);
    onCleanup(() => client.close());
    members.set(id, { id, dir: path.join(dir, id), nodeConfig, clientConfig, peerListen: config.peerListen, logFile, child, client });
  }
  details.consortium = {
    antiEntropyIntervalMs: options.antiEntropyMs ?? (JSON.parse(fs.readFileSync(path.join(dir, PUBLISHER, 'node.json'), 'utf8')) as { antiEntropyIntervalMs: number }).antiEntropyIntervalMs,
  };
  const t0 = now();
  await Promise.all(
    [...members.values()].map((m) =>
      Promise.race([
        m.client.waitForReady(60_000),
        new Promise<never>((_, reject) => m.child.once('exit', (code, signal) => reject(new Error(`${m.id} exited during start-up (code ${code}, signal ${signal}); log:\n${tail(m.logFile)}`)))),
      ]),
    ),
  );
  progress(`three nodes serving after ${secondsSince(t0).toFixed(2)} s (pids ${[...members.values()].map((m) => `${m.id} ${m.child.pid}`).join(', ')})`);
  // Every node connected to both peers.
  for (;;) {
    const statuses = await Promise.all([...members.values()].map((m) => m.client.status()));
    if (statuses.every((s) => s.peers.length === 2 && s.peers.every((p) => p.connected))) break;
    if (secondsSince(t0) > 60) {
      throw new Error(`peers not all connected after 60 s: ${statuses.map((s) => `${s.member}: ${s.peers.map((p) => `${p.peer} ${p.connected ? 'up' : `down (${p.lastError})`}`).join(', ')}`).join('; ')}`);
    }
    await delay(50);
  }
  progress(`all peers connected after ${secondsSince(t0).toFixed(2)} s`);
  return members;
}

export async function stopConsortium(members: Map<string, Member>): Promise<void> {
  const statuses: Record<string, unknown> = {};
  for (const m of members.values()) {
    if (!isRunning(m.child)) continue;
    try {
      const s = await m.client.status();
      statuses[m.id] = {
        entries: s.entries,
        indicators: s.indicators,
        feeds: s.feeds.map((f) => ({ origin: f.origin, seq: f.seq })),
        peers: s.peers.map((p) => ({ peer: p.peer, connected: p.connected, entriesBehind: p.entriesBehind, accepted: p.accepted, rejections: p.rejections, lastError: p.lastError })),
        frozenOrigins: s.frozenOrigins,
      };
    } catch (error) {
      statuses[m.id] = { error: errorText(error) };
    }
  }
  const problems: Record<string, string[]> = {};
  for (const m of members.values()) {
    m.client.close();
    const stopped = isRunning(m.child) ? `stopped in ${(await stopNode(m.child, m.logFile)).toFixed(2)} s` : `had already exited (code ${m.child.exitCode}, signal ${m.child.signalCode})`;
    const lines = problemLogLines(m.child, m.logFile);
    problems[m.id] = lines;
    progress(`${m.id} ${stopped}; ${lines.length} warn/error log line(s)`);
    for (const line of lines.slice(0, 10)) progress(`  ${m.id}: ${line.slice(0, 400)}`);
    if (lines.length > 10) progress(`  ${m.id}: … ${lines.length - 10} more`);
  }
  details.consortiumEnd = { statuses, problemLogLines: Object.fromEntries(Object.entries(problems).map(([id, lines]) => [id, lines.slice(0, 50)])) };
}

// ---------------------------------------------------------------- 1. propagation

/** Polls a member's Check until the card is listed: ms from `t0`, Infinity after the timeout, NaN when `cancel.cancelled`. */
async function waitListed(client: MamoriClient, pan: string, t0: bigint, options: ConsortiumOptions, errors: string[], cancel: { cancelled: boolean }): Promise<number> {
  for (;;) {
    if (cancel.cancelled) return NaN;
    try {
      const result = await client.checkCard(pan);
      if (result.listed) return msSince(t0);
      if (result.degraded) errors.push(`degraded answer (${result.degradedReason})`);
    } catch (error) {
      errors.push(errorText(error));
    }
    if (msSince(t0) > options.propagationTimeoutMs) return Infinity;
    await (options.pollMs > 0 ? delay(options.pollMs) : immediate());
  }
}

/** Where a publication is looked for: a member's node (remote checks), or the SDK in its default mirror mode. */
interface Poller {
  key: string;
  client: MamoriClient;
}

async function propagation(members: Map<string, Member>, options: ConsortiumOptions): Promise<void> {
  const publisher = members.get(PUBLISHER) as Member;
  const readers = READERS.map((id) => members.get(id) as Member);
  // The SDK's default mode at acquirer-b: negatives answered in-process by a mirror of the node's
  // filter that the node keeps current over a stream; a possible hit is asked of the node.
  const mirrorMember = readers[0] as Member;
  const mirrorKey = `${mirrorMember.id} (SDK mirror mode)`;
  const mirrorClient = MamoriClient.fromConfigFile(mirrorMember.clientConfig, { mode: 'mirror', deadlineMs: 5_000 });
  const unregister = onCleanup(() => mirrorClient.close());
  try {
    const sdk = await mirrorClient.waitForReady(30_000);
    if (sdk.checksVia !== 'mirror') progress(`WARNING: ${mirrorKey}: the mirror is not usable after 30 s (${sdk.fallbackReason}); its checks go to the node`);
    const pollers: Poller[] = [...readers.map((r) => ({ key: r.id, client: r.client })), { key: mirrorKey, client: mirrorClient }];
    await propagationRuns(members, publisher, pollers, options);
    details.propagationMirror = mirrorClient.sdkStatus();
  } finally {
    mirrorClient.close();
    unregister();
  }
}

async function propagationRuns(members: Map<string, Member>, publisher: Member, pollers: Poller[], options: ConsortiumOptions): Promise<void> {
  const latencies: Record<string, number[]> = Object.fromEntries(pollers.map((p) => [p.key, []]));
  const publishMs: number[] = [];
  const slowest: { i: number; at: string; ms: Record<string, number> }[] = [];
  const checkErrors: string[] = [];
  const publishErrors: string[] = [];
  const total = options.warmup + options.propagations;
  progress(
    `propagation: ${options.warmup} warm-up + ${options.propagations} single publications at ${PUBLISHER}, ` +
      `polling ${pollers.map((p) => p.key).join(', ')} every ${options.pollMs > 0 ? `${options.pollMs} ms` : 'setImmediate'}`,
  );
  const started = now();
  for (let i = 0; i < total; i++) {
    const pan = randomPan(i & 1 ? '5' : '4');
    const at = new Date().toISOString();
    const t0 = now();
    // Poll from the moment of the call: a reader may list the card before the publisher's answer arrives.
    const cancel = { cancelled: false };
    const seen = Promise.all(pollers.map((p) => waitListed(p.client, pan, t0, options, checkErrors, cancel)));
    try {
      const response = await publisher.client.publishCompromisedCards([pan], { reason: 'phishing' });
      if (response.seq <= 0) throw new Error(`publish answered seq ${response.seq}`);
      publishMs.push(msSince(t0));
    } catch (error) {
      cancel.cancelled = true;
      await seen;
      publishErrors.push(errorText(error));
      progress(`WARNING: publication ${i + 1} at ${PUBLISHER} failed: ${errorText(error)}`);
      if (publishErrors.length > 10) throw new Error(`more than 10 publications failed at ${PUBLISHER}; last: ${errorText(error)}`);
      continue;
    }
    const ms = await seen;
    if (i < options.warmup) continue;
    const record: Record<string, number> = {};
    pollers.forEach((p, k) => {
      (latencies[p.key] as number[]).push(ms[k] as number);
      record[p.key] = ms[k] as number;
    });
    const n = i - options.warmup + 1;
    if (ms.some((v) => !Number.isFinite(v))) progress(`WARNING: publication ${n} (${at}) not seen within ${options.propagationTimeoutMs} ms: ${JSON.stringify(record)}`);
    slowest.push({ i: n, at, ms: record });
    slowest.sort((a, b) => Math.max(...Object.values(b.ms)) - Math.max(...Object.values(a.ms)));
    slowest.length = Math.min(slowest.length, 10);
    if (n % 250 === 0 || n === options.propagations) {
      progress(
        `propagation ${n}/${options.propagations}: ` +
          pollers.map((p) => `${p.key} p50 ${percentile(latencies[p.key] as number[], 50).toFixed(1)} ms p99 ${percentile(latencies[p.key] as number[], 99).toFixed(1)} ms`).join('; ') +
          `; publish call p50 ${percentile(publishMs, 50).toFixed(1)} ms`,
      );
    }
    for (const m of members.values()) assertRunning(m);
  }
  const seconds = secondsSince(started);
  for (const [k, p] of pollers.entries()) {
    const values = latencies[p.key] as number[];
    addRow(`propagation: ${PUBLISHER} publish to listed at ${p.key}, p50${k === 0 ? ` (${values.length} cards)` : ''}`, percentile(values, 50), 'ms');
    addRow(`propagation: ${PUBLISHER} publish to listed at ${p.key}, p99`, percentile(values, 99), 'ms', { op: '<', value: 500 });
  }
  addRow(`propagation: publish call at ${PUBLISHER}, p50`, percentile(publishMs, 50), 'ms');
  const lost = Object.values(latencies).reduce((n, values) => n + values.filter((v) => !Number.isFinite(v)).length, 0);
  if (lost > 0) addRow(`propagation: not seen within ${options.propagationTimeoutMs} ms`, lost, 'checks', { op: '<', value: 1 });
  if (checkErrors.length > 0) progress(`WARNING: ${checkErrors.length} Check errors or degraded answers while polling; first: ${checkErrors[0]}`);
  details.propagation = {
    publications: options.propagations,
    warmup: options.warmup,
    pollMs: options.pollMs,
    seconds,
    byReader: Object.fromEntries(
      Object.entries(latencies).map(([id, v]) => [id, { p50Ms: percentile(v, 50), p90Ms: percentile(v, 90), p99Ms: percentile(v, 99), maxMs: Math.max(...v), lost: v.filter((x) => !Number.isFinite(x)).length }]),
    ),
    publishCall: { p50Ms: percentile(publishMs, 50), p99Ms: percentile(publishMs, 99), maxMs: Math.max(...publishMs) },
    slowest,
    checkErrors: { count: checkErrors.length, first: checkErrors.slice(0, 5) },
    publishErrors,
  };
}

// ---------------------------------------------------------------- 2. bulk replication

interface Sample {
  /** When the statuses came back, from the start of the import. */
  ms: number;
  /** How long the three Status calls took together. */
  roundTripMs: number;
  seq: Record<string, number>;
}

async function importAt(publisher: Member, csv: string): Promise<ImportSummary & { wallSeconds: number }> {
  const result = await runCli(['import', 'cards', '--config', publisher.clientConfig, '--file', csv, '--no-progress', '--json']);
  let summary: ImportSummary;
  try {
    summary = JSON.parse(result.stdout) as ImportSummary;
  } catch {
    throw new Error(`import printed no JSON summary (code ${result.code}); stdout: ${result.stdout.slice(0, 2000)} stderr: ${result.stderr.slice(0, 2000)}; node log:\n${tail(publisher.logFile)}`);
  }
  if (result.code !== 0 || summary.error) throw new Error(`import failed (code ${result.code}) after ${summary.imported} imported: ${summary.error ?? result.stderr}; node log:\n${tail(publisher.logFile)}`);
  return { ...summary, wallSeconds: result.seconds };
}

/** Measures the bulk replication; returns the first seq of psp-c's feed the import wrote. */
async function bulk(members: Map<string, Member>, options: ConsortiumOptions): Promise<number> {
  const publisher = members.get(PUBLISHER) as Member;
  const all = [...members.values()];
  const csv = options.csv();
  const startSeq = (await publisher.client.status()).ownFeed?.seq ?? 0;
  const rssBefore = Object.fromEntries(all.map((m) => [m.id, processMemory(m.child.pid)]));
  progress(`bulk: importing ${options.pans.toLocaleString('en-US')} PANs at ${PUBLISHER} (feed at seq ${startSeq}) and waiting for ${READERS.join(' and ')} to hold its head …`);
  const t0 = now();
  let imported: (ImportSummary & { wallSeconds: number }) | undefined;
  let importError: unknown;
  let importEndMs = NaN;
  const importing = importAt(publisher, csv).then(
    (s) => {
      imported = s;
      importEndMs = msSince(t0);
    },
    (error: unknown) => (importError = error),
  );
  const samples: Sample[] = [];
  const statusMs: Record<string, number[]> = {};
  const peakRss: Record<string, number> = {};
  let head: number | undefined;
  const reachedMs: Record<string, number> = {};
  let lastLog = 0;
  for (;;) {
    for (const m of all) {
      assertRunning(m);
      const mem = processMemory(m.child.pid);
      if (mem) peakRss[m.id] = Math.max(peakRss[m.id] ?? 0, mem.rss);
    }
    const asked = msSince(t0);
    const statuses = await Promise.all(
      all.map((m) => {
        const c0 = now();
        return m.client.status().then(
          (s) => {
            (statusMs[m.id] ??= []).push(msSince(c0));
            return s;
          },
          (error: unknown) => error as Error,
        );
      }),
    );
    const ms = msSince(t0);
    const sample: Sample = { ms, roundTripMs: ms - asked, seq: {} };
    statuses.forEach((s, k) => {
      if (!(s instanceof Error)) sample.seq[(all[k] as Member).id] = feedSeq(s, PUBLISHER);
    });
    samples.push(sample);
    if (importError) throw importError;
    if (imported && head === undefined) {
      const s = await publisher.client.status();
      head = s.ownFeed?.seq ?? 0;
      progress(`bulk: import finished after ${(importEndMs / 1000).toFixed(2)} s (${imported.imported} imported, ${imported.entries} entries); ${PUBLISHER} head seq ${head}`);
    }
    if (head !== undefined) {
      for (const id of READERS) if (reachedMs[id] === undefined && (sample.seq[id] ?? 0) >= head) reachedMs[id] = ms;
      if (READERS.every((id) => reachedMs[id] !== undefined)) break;
    }
    if (ms > options.bulkTimeoutMs) {
      throw new Error(`bulk: not replicated after ${options.bulkTimeoutMs / 1000} s: head ${head ?? '(import running)'}, seqs ${JSON.stringify(sample.seq)}`);
    }
    if (ms - lastLog > 5_000) {
      lastLog = ms;
      progress(`bulk: ${(ms / 1000).toFixed(1)} s: ${PUBLISHER} feed seq at ${Object.entries(sample.seq).map(([id, seq]) => `${id} ${seq}`).join(', ')}`);
    }
    await delay(50);
  }
  await importing;
  const summary = imported as ImportSummary & { wallSeconds: number };
  const replicatedSeconds = Math.max(...READERS.map((id) => reachedMs[id] as number)) / 1000;
  const slowStatus = Object.entries(statusMs).map(([id, v]) => `${id} p50 ${percentile(v, 50).toFixed(0)} ms max ${Math.max(...v).toFixed(0)} ms`);
  progress(`bulk: Status calls meanwhile: ${slowStatus.join(', ')}`);
  progress(`bulk: replicated to ${READERS.map((id) => `${id} after ${((reachedMs[id] as number) / 1000).toFixed(2)} s`).join(', ')} (import ended at ${(importEndMs / 1000).toFixed(2)} s)`);
  const rssEnd: Record<string, ProcessMemory | undefined> = Object.fromEntries(all.map((m) => [m.id, processMemory(m.child.pid)]));
  addRow(`bulk: ${options.pans.toLocaleString('en-US')} PANs imported at ${PUBLISHER} until held by both others`, replicatedSeconds, 's', { op: '<', value: 60 });
  addRow(`bulk: import wall time at ${PUBLISHER} (CLI)`, importEndMs / 1000, 's');
  for (const id of READERS) addRow(`bulk: ${id} lag after the import ended`, ((reachedMs[id] as number) - importEndMs) / 1000, 's');
  for (const m of all) addRow(`bulk: RSS at the end, ${m.id}`, mb(rssEnd[m.id]?.rss ?? NaN), 'MB');
  for (const m of all) addRow(`bulk: peak RSS so far (VmHWM), ${m.id}`, mb(rssEnd[m.id]?.hwm ?? NaN), 'MB');
  details.bulk = {
    pans: options.pans,
    import: summary,
    startSeq,
    head,
    importEndSeconds: importEndMs / 1000,
    replicatedSeconds: Object.fromEntries(READERS.map((id) => [id, (reachedMs[id] as number) / 1000])),
    rssBeforeMB: Object.fromEntries(Object.entries(rssBefore).map(([id, m]) => [id, m && mb(m.rss)])),
    rssPeakSampledMB: Object.fromEntries(Object.entries(peakRss).map(([id, v]) => [id, mb(v)])),
    rssEndMB: Object.fromEntries(Object.entries(rssEnd).map(([id, m]) => [id, m && { rss: mb(m.rss), hwm: mb(m.hwm) }])),
    // Status calls answered by each node while it imported / replicated: its member-local API's responsiveness.
    statusCallMs: Object.fromEntries(Object.entries(statusMs).map(([id, v]) => [id, { p50: percentile(v, 50), p99: percentile(v, 99), max: Math.max(...v) }])),
    // The replication curve: every sample where a seq changed (and the last).
    samples: samples
      .filter((s, i) => i === 0 || i === samples.length - 1 || JSON.stringify(s.seq) !== JSON.stringify((samples[i - 1] as Sample).seq))
      .map((s) => ({ s: Math.round(s.ms) / 1000, rtMs: Math.round(s.roundTripMs), ...s.seq })),
  };
  return startSeq + 1;
}

/** Waits (at most `maxMs`) until a process's RSS moved less than 2 MB over the last 2 s (for example after a filter rebuild). */
async function waitRssSettled(pid: number | undefined, maxMs: number): Promise<number> {
  const t0 = now();
  const window: { ms: number; rss: number }[] = [];
  for (;;) {
    const mem = processMemory(pid);
    if (!mem) return msSince(t0);
    const ms = msSince(t0);
    window.push({ ms, rss: mem.rss });
    while (window.length > 0 && (window[0] as { ms: number }).ms < ms - 2_000) window.shift();
    const rss = window.map((w) => w.rss);
    if (ms >= 2_000 && Math.max(...rss) - Math.min(...rss) < 2 * 1024 * 1024) return ms;
    if (ms > maxMs) return ms;
    await delay(200);
  }
}

// ---------------------------------------------------------------- 3. slow reader

/**
 * Fetches psp-c's feed from `fromSeq` (the first entry of the bulk import when it ran, so the
 * stream is made of large entries rather than the single-card ones of the propagation phase).
 */
async function slowReader(members: Map<string, Member>, options: ConsortiumOptions, bulkFromSeq: number | undefined): Promise<void> {
  const publisher = members.get(PUBLISHER) as Member;
  const reader = members.get('acquirer-b') as Member;
  let status = await publisher.client.status();
  let fromSeq = bulkFromSeq ?? 1;
  if (bulkFromSeq === undefined) {
    fromSeq = (status.ownFeed?.seq ?? 0) + 1;
    progress(`slow reader: importing the CSV at ${PUBLISHER} first (not timed), from its feed seq ${fromSeq}`);
    await importAt(publisher, options.csv());
    status = await publisher.client.status();
  }
  const feedEntries = status.ownFeed?.seq ?? 0;
  const tlsDir = path.join(reader.dir, 'tls');
  const credentials = grpc.credentials.createSsl(
    fs.readFileSync(path.join(reader.dir, '..', 'ca', 'ca.cert.pem')),
    fs.readFileSync(path.join(tlsDir, 'node.key.pem')),
    fs.readFileSync(path.join(tlsDir, 'node.cert.pem')),
  );
  const { Replication } = loadGrpcTypes().mamori.v1;
  const client = new Replication(publisher.peerListen, credentials, {
    'grpc.ssl_target_name_override': 'localhost',
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  }) as ReplicationClient;
  const unregister = onCleanup(() => client.close());
  try {
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())));
    // Let the node settle (filter growth, snapshot, replication of the bulk) before the baseline.
    const pid = publisher.child.pid;
    const settledMs = await waitRssSettled(pid, 30_000);
    const before = processMemory(pid);
    if (!before) throw new Error(`${PUBLISHER} (pid ${pid}) has no /proc status`);
    progress(
      `slow reader: Fetch(origin ${PUBLISHER}, from_seq ${fromSeq}) as acquirer-b over mutual TLS; ${PUBLISHER} feed ${feedEntries} entries, ` +
        `RSS ${mb(before.rss).toFixed(1)} MB (settled after ${(settledMs / 1000).toFixed(1)} s)`,
    );
    const holdMs = options.slowReaderSeconds * 1000;
    const call = client.Fetch({ origin: PUBLISHER, fromSeq, limit: 0 }, new grpc.Metadata(), { deadline: Date.now() + holdMs + 120_000 });
    let received = 0;
    let bytes = 0;
    let largestEntryBytes = 0;
    let paused = false;
    let firstAt: bigint | undefined;
    const firstEntry = new Promise<void>((resolve) => {
      call.on('data', (entry: Entry__Output) => {
        received++;
        const size = entry.body.length + entry.signature.length;
        bytes += size;
        largestEntryBytes = Math.max(largestEntryBytes, size);
        if (!firstAt) {
          firstAt = now();
          call.pause();
          paused = true;
          resolve();
        }
      });
    });
    const ended = new Promise<{ error?: string }>((resolve) => {
      call.on('error', (error: grpc.ServiceError) => resolve({ error: `${grpc.status[error.code]}: ${error.details}` }));
      call.on('end', () => resolve({}));
    });
    await Promise.race([firstEntry, ended.then((r) => Promise.reject(new Error(`Fetch ended before its first entry: ${r.error ?? 'no entries'}`)))]);
    const t0 = firstAt as bigint;
    const samples: { ms: number; rss: number }[] = [];
    while (msSince(t0) < holdMs) {
      const mem = processMemory(pid);
      if (!mem) throw new Error(`${PUBLISHER} exited while the reader was paused; log:\n${tail(publisher.logFile)}`);
      samples.push({ ms: msSince(t0), rss: mem.rss });
      await delay(100);
    }
    const receivedWhilePaused = received;
    const rssPaused = samples.map((s) => s.rss);
    const peak = Math.max(...rssPaused);
    const atFirst = rssPaused[0] as number;
    const atEnd = rssPaused[rssPaused.length - 1] as number;
    progress(
      `slow reader: held ${(holdMs / 1000).toFixed(0)} s after the first entry (${receivedWhilePaused} entries delivered to the paused stream): ` +
        `${PUBLISHER} RSS before ${mb(before.rss).toFixed(1)} MB, at the first entry ${mb(atFirst).toFixed(1)} MB, peak ${mb(peak).toFixed(1)} MB, after ${(holdMs / 1000).toFixed(0)} s ${mb(atEnd).toFixed(1)} MB`,
    );
    // Resume and drain: how much the call serves, to compare with the growth.
    const r0 = now();
    paused = false;
    call.resume();
    const result = await ended;
    const drainSeconds = secondsSince(r0);
    if (result.error) progress(`WARNING: the slow reader's Fetch ended with ${result.error} after resuming (${received} entries received)`);
    progress(`slow reader: after resuming, the Fetch served ${received} entries, ${mb(bytes).toFixed(1)} MB, in ${drainSeconds.toFixed(2)} s${result.error ? ` (${result.error})` : ''}`);
    const servedMB = mb(bytes);
    const growth = mb(peak - before.rss);
    addRow(`slow reader: ${PUBLISHER} RSS before the Fetch`, mb(before.rss), 'MB');
    addRow(`slow reader: ${PUBLISHER} peak RSS, reader paused ${options.slowReaderSeconds} s`, mb(peak), 'MB');
    addRow(`slow reader: ${PUBLISHER} RSS growth (the Fetch serves ${servedMB.toFixed(0)} MB)`, growth, 'MB', { op: '<', value: Math.max(8, Math.round(servedMB / 4)) });
    details.slowReader = {
      feedEntries,
      fromSeq,
      settledMs,
      holdSeconds: options.slowReaderSeconds,
      rssBeforeMB: mb(before.rss),
      rssAtFirstEntryMB: mb(atFirst),
      rssPeakMB: mb(peak),
      rssEndOfHoldMB: mb(atEnd),
      entriesDeliveredWhilePaused: receivedWhilePaused,
      served: { entries: received, MB: servedMB, largestEntryBytes, drainSeconds, error: result.error },
      paused,
      rssSamplesMB: samples.filter((_, i) => i % 5 === 0).map((s) => ({ s: Math.round(s.ms) / 1000, rss: Math.round(mb(s.rss) * 10) / 10 })),
    };
  } finally {
    client.close();
    unregister();
  }
}

// ---------------------------------------------------------------- entry

export async function runConsortiumBench(options: ConsortiumOptions): Promise<void> {
  const members = await startConsortium(options);
  try {
    if (options.phases.has('propagation')) await propagation(members, options);
    const bulkFromSeq = options.phases.has('bulk') ? await bulk(members, options) : undefined;
    if (options.phases.has('slow-reader')) await slowReader(members, options, bulkFromSeq);
  } finally {
    await stopConsortium(members).catch((error: unknown) => progress(`WARNING: stopping the consortium: ${errorText(error)}`));
  }
}
