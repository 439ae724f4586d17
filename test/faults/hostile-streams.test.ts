// Hostile clients of a real `mamori start` process: (a) peers that open Follow and Fetch streams
// and members' clients that open MirrorFilter and Alerts streams, and never read; (b) a burst of
// thousands of streams and unary calls, each cancelled right after it was opened. The node's
// memory stays bounded, other clients' checks keep their latency, followers that fall behind are
// cut off (FOLLOW_QUEUE_LIMIT) and every stalled stream ends with its connection
// (maxConnectionAgeMs); after the burst, handles, descriptors and RSS return near their baseline.
import { expect } from 'chai';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MamoriClient } from '../../client-sdk/src/client';
import { readClientConfig } from '../../client-sdk/src/config';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { editNodeConfig } from '../helpers/consortium-harness';
import { mamoriMethods, type FuzzMethod } from '../helpers/fuzz-client';
import { mamoriProtoRoot } from '../helpers/fuzz-proto';
import { rssBytes, waitForSteadyRss } from '../helpers/fuzz-process';
import { openStalledStream, type StalledStream } from '../helpers/fuzz-stalled-stream';
import { bearer, makeConsortium, memberOf, spawnNode, waitUntilServing, type NodeProcess } from '../helpers/node-harness';
import { memberTlsTarget, sample, scrape } from '../helpers/ops';
import { randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

const MiB = 1024 * 1024;
const FOLLOWERS = 40;
const FETCHERS = 20;
const MIRRORS = 20;
const ALERT_STREAMS = 20;
/** More entries than a follower may have queued (FOLLOW_QUEUE_LIMIT, 2,048) plus what the HTTP/2 windows hold. */
const ENTRIES_PUBLISHED = 3000;
/** Connections live this long, then get this grace: the end of any stream a client never reads. */
const CONNECTION_AGE_MS = 60_000;
const CONNECTION_GRACE_MS = 5_000;
/** limits.streamStallMs: a stream whose client has not read for this long is reset by the node. */
const STREAM_STALL_MS = 5_000;
const BURST_STREAMS = 2000;
const BURST_UNARY = 2000;
/** Each cancelled MirrorFilter call still copied the filter once; freed copies may stay mapped a while. */
const BURST_RSS_BOUND = 128 * MiB;
/**
 * Each stalled MirrorFilter stream holds its copy of the filter (3.6 MB at the dev capacity of
 * 1,000,000 at 1e-6) until it ends; followers hold at most 2,048 entries each. 20 mirrors, 40
 * followers and the publication work stay far below this.
 */
const STALLED_RSS_BOUND = 300 * MiB;

/**
 * A call that ended because its whole HTTP/2 connection went away (Node's HTTP/2 layer closes a
 * session flooded with stream resets): grpc-js reports UNAVAILABLE, or INTERNAL naming the
 * session error. Not an answer of the node's handlers, and the client reconnects.
 */
const connectionLost = (st: { code: number; details: string }) =>
  st.code === grpc.status.UNAVAILABLE || (st.code === grpc.status.INTERNAL && /Session closed with error code|RST_STREAM with code 2 triggered by internal client error/.test(st.details));

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil((p / 100) * values.length) - 1)] as number;

describe('faults: hostile streams against a node process', function () {
  let layout: DevConsortiumLayout;
  let node: NodeProcess;
  let token: string;
  let target: string;
  let peerTarget: string;
  let metricsAddress: string;
  let checker: MamoriClient;
  let methods: Map<string, FuzzMethod>;
  const root = mamoriProtoRoot();
  const encode = (type: string, value: object) => Buffer.from(root.lookupType(type).encode(root.lookupType(type).fromObject(value)).finish());
  const opened: grpc.Client[] = [];
  const sessions: http2.ClientHttp2Session[] = [];

  /** A client on its own connection (grpc-js shares connections between clients by default). */
  const exchangeClient = () => {
    const c = new grpc.Client(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    opened.push(c);
    return c;
  };
  const peerClient = () => {
    const t = memberTlsTarget(layout, 'acquirer-b', peerTarget);
    const c = new grpc.Client(t.target, t.credentials, { ...t.options, 'grpc.use_local_subchannel_pool': 1 });
    opened.push(c);
    return c;
  };
  const stream = (client: grpc.Client, method: string, request: Buffer, metadata = new grpc.Metadata()) => {
    const m = methods.get(method) as FuzzMethod;
    const call = client.makeServerStreamRequest(m.path, (b: Buffer) => b, m.deserialize, request, metadata);
    call.on('error', () => undefined);
    return call;
  };
  const nodeFigures = async () => {
    const body = (await scrape(metricsAddress)).body;
    return {
      handles: sample(body, 'nodejs_active_handles_total') ?? NaN,
      fds: sample(body, 'process_open_fds') ?? NaN,
      heapMB: (sample(body, 'nodejs_heap_size_used_bytes') ?? NaN) / MiB,
      rss: rssBytes(node.child.pid as number),
    };
  };
  const checkLatencies = async (count: number) => {
    const pans = randomPans(count);
    const ms: number[] = [];
    for (const pan of pans) {
      const t0 = process.hrtime.bigint();
      const result = await checker.checkCard(pan);
      expect(result.degraded, 'a check answered by the node, not the fail mode').to.equal(false);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return ms;
  };
  const alive = () => expect(node.child.exitCode === null && node.child.signalCode === null, 'the node process is running').to.equal(true);

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    editNodeConfig(layout, 'psp-c', (c) =>
      Object.assign(c, {
        limits: {
          maxConnectionAgeMs: CONNECTION_AGE_MS,
          maxConnectionAgeGraceMs: CONNECTION_GRACE_MS,
          streamStallMs: STREAM_STALL_MS,
          rates: { fetches: { perSecond: 1e6, burst: 1e7 }, heads: { perSecond: 1e6, burst: 1e7 } },
        },
      }),
    );
    const m = memberOf(layout, 'psp-c');
    node = spawnNode(m.nodeConfig, path.join(layout.dir, 'psp-c', 'node.log'));
    await waitUntilServing(m.clientConfig);
    const config = JSON.parse(fs.readFileSync(m.nodeConfig, 'utf8')) as { peerListen: string; metricsListen: string };
    peerTarget = config.peerListen;
    metricsAddress = config.metricsListen;
    ({ token, target } = readClientConfig(m.clientConfig));
    checker = MamoriClient.fromConfigFile(m.clientConfig, { mode: 'remote', deadlineMs: 30_000 });
    methods = new Map(mamoriMethods().map((x) => [x.name, x]));
  });

  after(async () => {
    checker?.close();
    for (const c of opened) c.close();
    for (const session of sessions) session.destroy();
    if (node && node.child.exitCode === null && node.child.signalCode === null) {
      node.child.kill('SIGTERM');
      await node.exited;
    }
  });

  it('(a) streams never read: memory bounded, checks keep their latency, followers behind are cut, every stalled stream ends with its connection', async () => {
    await checkLatencies(100); // warm-up
    const baselineMs = await checkLatencies(300);
    const rssBefore = await waitForSteadyRss(node.child.pid as number);
    const before = await nodeFigures();

    // Raw HTTP/2 clients that really stop reading (fuzz-stalled-stream.ts), each on its own connection.
    const dir = path.join(layout.dir, 'acquirer-b', 'tls');
    const peerSession = http2.connect(`https://${peerTarget}`, {
      ca: fs.readFileSync(path.join(layout.dir, 'ca', 'ca.cert.pem')),
      key: fs.readFileSync(path.join(dir, 'node.key.pem')),
      cert: fs.readFileSync(path.join(dir, 'node.cert.pem')),
      servername: 'localhost',
    });
    const memberSession = http2.connect(`http://${target}`);
    for (const session of [peerSession, memberSession]) session.on('error', () => undefined);
    sessions.push(peerSession, memberSession);
    const auth = { authorization: `Bearer ${token}` };
    const follows = Array.from({ length: FOLLOWERS }, () => openStalledStream(peerSession, '/mamori.v1.Replication/Follow', Buffer.alloc(0)));
    const fetches = Array.from({ length: FETCHERS }, () => openStalledStream(peerSession, '/mamori.v1.Replication/Fetch', encode('mamori.v1.FetchRequest', { origin: 'psp-c', fromSeq: 1 })));
    const mirrors = Array.from({ length: MIRRORS }, () => openStalledStream(memberSession, '/mamori.v1.Exchange/MirrorFilter', Buffer.alloc(0), auth));
    const alerts = Array.from({ length: ALERT_STREAMS }, () => openStalledStream(memberSession, '/mamori.v1.Exchange/Alerts', encode('mamori.v1.AlertsRequest', { afterId: 0, follow: true }), auth));
    const stalledStreams = [...follows, ...fetches, ...mirrors, ...alerts];
    let closedCount = 0;
    for (const st of stalledStreams) void st.closed.then(() => closedCount++);
    const openedAt = Date.now();
    // Each mirror stalls on its first messages (the filter is megabytes): reset after the stall
    // limit, long before the connection's age ends it, and counted.
    let mirrorsClosed = 0;
    for (const st of mirrors) void st.closed.then(() => mirrorsClosed++);
    await waitFor(() => mirrorsClosed === MIRRORS, 'every stalled mirror stream to be reset after limits.streamStallMs', CONNECTION_AGE_MS - 10_000, 200);
    const mirrorsResetAfterMs = Date.now() - openedAt;
    expect(mirrorsResetAfterMs).to.be.at.least(STREAM_STALL_MS - 500);
    expect(sample((await scrape(metricsAddress)).body, 'mamori_stalled_streams_reset_total')).to.be.at.least(MIRRORS);
    console.log(`      ${MIRRORS} stalled mirror streams reset ${(mirrorsResetAfterMs / 1000).toFixed(1)} s after they opened (streamStallMs ${STREAM_STALL_MS})`);
    let rssPeak = 0;
    const peakSampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssBytes(node.child.pid as number))), 250);

    // Entries committed one card each, 16 publications in flight: every follower's queue overflows.
    const publisher = MamoriClient.fromConfigFile(memberOf(layout, 'psp-c').clientConfig, { mode: 'remote', deadlineMs: 60_000 });
    const pans = randomPans(ENTRIES_PUBLISHED);
    let nextPan = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = nextPan++; i < pans.length; i = nextPan++) await publisher.publishCompromisedCards([pans[i] as string], { reason: 'phishing' });
      }),
    );
    publisher.close();
    console.log(`      ${ENTRIES_PUBLISHED} entries published ${((Date.now() - openedAt) / 1000).toFixed(1)} s after the streams opened`);
    const cut = await waitFor(
      () => {
        const n = fs.readFileSync(node.logFile, 'utf8').split('\n').filter((l) => l.includes('a follower fell too far behind')).length;
        return n >= FOLLOWERS ? n : undefined;
      },
      'every stalled follower to be cut off (warning in the node log)',
      120_000,
      200,
    );
    const stalledMs = await checkLatencies(300);
    clearInterval(peakSampler);
    const rssStalled = Math.max(rssPeak, rssBytes(node.child.pid as number));
    const stalled = await nodeFigures();
    alive();
    const p99 = (v: number[]) => percentile(v, 99);
    console.log(`      check p99 ${p99(baselineMs).toFixed(2)} ms before the streams, ${p99(stalledMs).toFixed(2)} ms with ${FOLLOWERS + FETCHERS + MIRRORS + ALERT_STREAMS} stalled streams`);
    console.log(`      node RSS ${(rssBefore / MiB).toFixed(1)} MB before, ${(rssStalled / MiB).toFixed(1)} MB at most while stalled; heap ${before.heapMB.toFixed(1)} -> ${stalled.heapMB.toFixed(1)} MB; handles ${before.handles} -> ${stalled.handles}; followers cut: ${cut}`);
    expect(rssStalled - rssBefore, 'RSS growth with stalled streams').to.be.below(STALLED_RSS_BOUND);
    // "Normal latency" on a busy 2-core machine: within 5x the baseline p99 plus 100 ms of scheduling noise.
    expect(p99(stalledMs)).to.be.below(5 * p99(baselineMs) + 100);

    // A cut-off follower that reads at last finds part of the entries, then ABORTED.
    const first = await (follows[0] as StalledStream).drain();
    expect(grpc.status[first.code], first.details).to.equal('ABORTED');
    expect(first.details).to.contain('resume with Fetch');

    // The node closes each connection after maxConnectionAgeMs + grace: every stalled stream ends
    // (mirror heartbeat timers are freed, descriptors closed) and RSS returns near its baseline.
    await waitFor(() => closedCount === stalledStreams.length, 'every stalled stream to be closed by the node', CONNECTION_AGE_MS + CONNECTION_GRACE_MS + 90_000, 200);
    console.log(`      every stalled stream closed ${((Date.now() - openedAt) / 1000).toFixed(0)} s after it was opened (maxConnectionAgeMs ${CONNECTION_AGE_MS} + grace ${CONNECTION_GRACE_MS})`);
    // Sockets, streams and timers released: handles and descriptors back near their baseline.
    // RSS is not expected to fall back (freed heap and malloc arenas stay mapped); it must not climb.
    const settled = await waitFor(
      async () => {
        const f = await nodeFigures();
        return f.handles <= before.handles + 5 && f.fds <= before.fds + 5 ? f : undefined;
      },
      'handles and descriptors back near their baseline',
      90_000,
      500,
    );
    console.log(
      `      after the streams ended: handles ${settled.handles} (baseline ${before.handles}), fds ${settled.fds} (${before.fds}), heap ${settled.heapMB.toFixed(1)} MB (${before.heapMB.toFixed(1)}), RSS ${(settled.rss / MiB).toFixed(1)} MB`,
    );
    expect(settled.rss - rssBefore, 'RSS after the stalled streams ended').to.be.below(STALLED_RSS_BOUND);
    alive();
  });

  it('(b) a burst of thousands of streams and unary calls cancelled right after opening leaks nothing', async () => {
    await waitForSteadyRss(node.child.pid as number);
    const before = await nodeFigures();
    const peers = peerClient();
    const members = exchangeClient();
    const check = methods.get('Check') as FuzzMethod;
    const checkRequest = encode('mamori.v1.CheckRequest', { selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: crypto.randomBytes(32) }] });
    const kinds = [
      () => stream(peers, 'Follow', Buffer.alloc(0)),
      () => stream(peers, 'Fetch', encode('mamori.v1.FetchRequest', { origin: 'psp-c', fromSeq: 1 })),
      () => stream(members, 'MirrorFilter', Buffer.alloc(0), bearer(token)),
      () => stream(members, 'Alerts', encode('mamori.v1.AlertsRequest', { afterId: 0, follow: true }), bearer(token)),
    ];
    const t0 = Date.now();
    const ended = new Map<string, number>();
    const odd: string[] = [];
    let lostWithConnection = 0;
    const record = (outcome: string) => ended.set(outcome, (ended.get(outcome) ?? 0) + 1);
    // Waves of 50, each call cancelled at once or soon after the server answered.
    for (let wave = 0; wave < (BURST_STREAMS + BURST_UNARY) / 50; wave++) {
      if (process.env.MAMORI_FAULTS_VERBOSE) console.log(`      wave ${wave} ${JSON.stringify(Object.fromEntries(ended))}`);
      await Promise.all(
        Array.from({ length: 50 }, (_, i) => {
          const n = wave * 50 + i;
          const early = n % 3 === 0;
          return new Promise<void>((resolve) => {
            if (n % 2 === 0) {
              const kind = (n >> 1) % kinds.length;
              const s = (kinds[kind] as () => grpc.ClientReadableStream<unknown>)();
              s.on('status', (st: grpc.StatusObject) => {
                record(grpc.status[st.code] as string);
                if (connectionLost(st)) lostWithConnection++;
                else if (st.code !== grpc.status.CANCELLED && st.code !== grpc.status.OK) odd.push(`stream kind ${kind} (${early ? 'early' : 'late'}): ${grpc.status[st.code]} ${st.details}`);
                resolve();
              });
              if (early) setImmediate(() => s.cancel());
              else {
                // Cancelled once the server answered its headers; Alerts with nothing to send never
                // does, so at the latest after 100 ms.
                s.on('metadata', () => s.cancel());
                setTimeout(() => s.cancel(), 100);
              }
              s.on('data', () => s.cancel());
            } else {
              const call = members.makeUnaryRequest(check.path, (b: Buffer) => b, check.deserialize, checkRequest, bearer(token), { deadline: Date.now() + 30_000 }, (error) => {
                record(error ? (grpc.status[error.code] as string) : 'OK');
                if (error && connectionLost(error)) lostWithConnection++;
                else if (error && error.code !== grpc.status.CANCELLED) odd.push(`unary Check (${early ? 'early' : 'late'}): ${grpc.status[error.code]} ${error.details}`);
                resolve();
              });
              if (early) call.cancel();
              else setImmediate(() => call.cancel());
            }
          });
        }),
      );
    }
    console.log(`      ${BURST_STREAMS} streams and ${BURST_UNARY} unary calls opened and cancelled in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(Object.fromEntries(ended))}`);
    console.log(`      ${lostWithConnection} calls ended with their connection (the HTTP/2 session closed under the reset burst; grpc-js reports that client-side)`);
    for (const line of odd.slice(0, 10)) console.log(`      UNEXPECTED ${line}`);
    expect(odd, 'calls that ended other than CANCELLED or OK').to.deep.equal([]);
    alive();
    peers.close();
    members.close();
    const settled = await waitFor(
      async () => {
        const f = await nodeFigures();
        return f.handles <= before.handles + 5 && f.fds <= before.fds + 5 && f.rss < before.rss + BURST_RSS_BOUND ? f : undefined;
      },
      'handles, descriptors and RSS back near their baseline after the burst',
      90_000,
      500,
    );
    console.log(
      `      after the burst: handles ${settled.handles} (baseline ${before.handles}), fds ${settled.fds} (${before.fds}), heap ${settled.heapMB.toFixed(1)} MB (${before.heapMB.toFixed(1)}), RSS ${(settled.rss / MiB).toFixed(1)} MB (${(before.rss / MiB).toFixed(1)})`,
    );
    expect((await checker.checkCard(randomPans(1)[0] as string)).degraded).to.equal(false);
    alive();
  });
});

