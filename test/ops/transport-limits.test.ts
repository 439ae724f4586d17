// Transport rules of a node, as a reviewer reads them in docs/security.md and docs/operations.md: `mamori start` refuses a
// member-local API beyond loopback and replication without TLS (real processes); the gRPC
// message-size cap holds in both directions; a connection is recycled at its maximum age;
// Heads and Fetch are rate-limited per peer member; and the server options carry the
// keepalive and connection-age defaults.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { panSelector } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { limitsOf, serverOptions } from '../../node/src/rpc/limits';
import { bearer, freePort, makeConsortium, memberOf, nodeConfigVariant, rawCall, rawExchange, runCli, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { grpcError, memberTlsTarget, runMemberNode, sample, scrape } from '../helpers/ops';
import { waitFor } from '../helpers/wait';

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('operations: transport rules at start (`mamori start` processes)', function () {
  let layout: DevConsortiumLayout;

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
  });

  it('refuses a member-local API (listen) beyond loopback, naming the field, and serves nothing', async () => {
    const port = await freePort();
    const file = nodeConfigVariant(layout, 'psp-c', 'node-open-listen.json', { listen: `0.0.0.0:${port}`, metricsListen: undefined });
    const run = await runCli(['start', '--config', file], { timeoutMs: 60_000 });
    expect(run.code).to.equal(1);
    expect(run.stderr).to.contain('listen: "0.0.0.0" is not a loopback address');
    expect(await listening(port)).to.equal(false);
  });

  it('refuses to serve peers without TLS unless insecureDev, and insecureDev beyond loopback', async () => {
    const withoutTls = nodeConfigVariant(layout, 'psp-c', 'node-no-tls.json', { tls: undefined, metricsListen: undefined });
    const refused = await runCli(['start', '--config', withoutTls], { timeoutMs: 60_000 });
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.contain('tls: is required to serve peers on peerListen');

    const peerPort = await freePort();
    const openPeer = nodeConfigVariant(layout, 'psp-c', 'node-open-peer.json', { peerListen: `0.0.0.0:${peerPort}`, metricsListen: undefined });
    const insecure = await runCli(['start', '--config', openPeer, '--insecure-dev'], { timeoutMs: 60_000 });
    expect(insecure.code).to.equal(1);
    expect(insecure.stderr).to.contain('peerListen: insecureDev serves peers on loopback only');
    expect(await listening(peerPort)).to.equal(false);
  });
});

describe('operations: message-size cap, both directions (a node in this process)', function () {
  const CAP = 64 * 1024; // the smallest maxMessageBytes the config accepts
  let layout: DevConsortiumLayout;
  let n: InProcessNode;
  let key: Uint8Array;

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    n = await startInProcessNode(layout, 'psp-c', { maxMessageBytes: CAP });
    key = (await n.client.hashingKeys())[0]?.key as Uint8Array;
  });
  after(async () => {
    await n?.stop();
  });

  const publication = (digests: Buffer[]) => ({
    kind: 'INDICATOR_KIND_COMPROMISED_CARD',
    reason: 'REASON_CODE_PHISHING',
    exposed: ['DATA_ELEMENT_PAN', 'DATA_ELEMENT_EXPIRY', 'DATA_ELEMENT_CVV'],
    confidence: 80,
    eventId: 'incident-2026-000000000000000000001',
    validFromMs: Date.now(),
    validUntilMs: Date.now() + 86_400_000,
    indicators: digests.map((digest) => ({ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest }] })),
  });
  const selectorsOf = (digests: Buffer[]) => digests.map((digest) => ({ type: 'SELECTOR_TYPE_PAN', digest }));

  it('refuses a request larger than maxMessageBytes with RESOURCE_EXHAUSTED, and stores nothing of it', async () => {
    const stub = rawExchange(n.target);
    try {
      const before = await n.client.status();
      const digests = randomPans(2_000).map((pan) => panSelector(key, pan)); // ~80 KB encoded
      const error = await grpcError(rawCall(stub, 'Publish', { publication: publication(digests), keyEpoch: 1 }, bearer(n.token)));
      expect(error.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      expect(error.details).to.contain('Received message larger than max');
      const after = await n.client.status();
      expect(after.indicators).to.equal(before.indicators);
      expect(after.ownFeed?.seq ?? 0).to.equal(before.ownFeed?.seq ?? 0);
    } finally {
      stub.close();
    }
  });

  it('refuses to send a response larger than maxMessageBytes (RESOURCE_EXHAUSTED), and keeps serving', async () => {
    const stub = rawExchange(n.target);
    try {
      // 1,200 listed cards: the Check request (~46 KB) fits, the answer with evidence per card does not.
      const digests = randomPans(1_200).map((pan) => panSelector(key, pan));
      const published = await rawCall<{ accepted: number }>(stub, 'Publish', { publication: publication(digests), keyEpoch: 1 }, bearer(n.token));
      expect(published.accepted).to.equal(digests.length);
      const error = await grpcError(rawCall(stub, 'Check', { selectors: selectorsOf(digests) }, bearer(n.token)));
      expect(error.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      expect(error.details).to.contain('Sent message larger than max');
      // A smaller check of the same cards is answered.
      const answered = await rawCall<{ results: { listed: boolean }[] }>(stub, 'Check', { selectors: selectorsOf(digests.slice(0, 100)) }, bearer(n.token));
      expect(answered.results.every((r) => r.listed)).to.equal(true);
    } finally {
      stub.close();
    }
  });

  it('serves the filter snapshot to an SDK mirror in chunks of at most half the message-size cap', async () => {
    const stub = rawExchange(n.target);
    try {
      const stream = stub.MirrorFilter({}, bearer(n.token));
      let totalBytes = 0;
      let received = 0;
      let largestChunk = 0;
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (m: { header?: { totalBytes: string | number }; bitsChunk?: Buffer }) => {
          if (m.header) totalBytes = Number(m.header.totalBytes);
          if (m.bitsChunk) {
            received += m.bitsChunk.length;
            largestChunk = Math.max(largestChunk, m.bitsChunk.length);
            if (totalBytes > 0 && received === totalBytes) resolve();
          }
        });
        stream.on('error', reject);
        stream.on('end', () => reject(new Error('the snapshot stream ended before all bits arrived')));
      });
      expect(totalBytes).to.be.greaterThan(64 * 1024); // the filter is larger than one message
      expect(largestChunk).to.be.at.most(32 * 1024);
      stream.cancel();
    } finally {
      stub.close();
    }
  });
});

describe('operations: connection age (a node in this process)', function () {
  let n: InProcessNode;

  before(async () => {
    await sodiumReady();
    n = await startInProcessNode(await makeConsortium(), 'acquirer-b', { limits: { maxConnectionAgeMs: 1_000, maxConnectionAgeGraceMs: 0 } });
  });
  after(async () => {
    await n?.stop();
  });

  it('ends a connection at maxConnectionAgeMs: a stream on it is cut, a new call gets a new connection', async () => {
    const stub = rawExchange(n.target);
    try {
      const opened = Date.now();
      const stream = stub.MirrorFilter({}, bearer(n.token));
      let endedAfterMs: number | undefined;
      stream.on('data', () => undefined);
      stream.on('error', () => undefined); // the cut surfaces as an error status
      stream.on('status', () => (endedAfterMs = Date.now() - opened));
      const took = await waitFor(() => endedAfterMs, 'the mirror stream to be cut at the connection age', 30_000, 25);
      expect(took).to.be.at.least(850); // 1 s less at most 10 % jitter, plus the time to open the stream
      const status = await rawCall<{ member: string }>(stub, 'Status', {}, bearer(n.token));
      expect(status).to.be.an('object');
    } finally {
      stub.close();
    }
  });
});

describe('operations: Replication rate limits per peer member (`mamori start` in this process)', function () {
  let layout: DevConsortiumLayout;
  let psp: Awaited<ReturnType<typeof runMemberNode>>;

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    psp = await runMemberNode(layout, 'psp-c', {
      metricsListen: '127.0.0.1:0',
      limits: { rates: { heads: { perSecond: 0.001, burst: 2 }, fetches: { perSecond: 0.001, burst: 1 } } },
    });
  });
  after(async () => {
    await psp?.stop();
  });

  it('answers a peer over its Heads or Fetch rate with RESOURCE_EXHAUSTED and counts it', async () => {
    const at = memberTlsTarget(layout, 'acquirer-b', memberOf(layout, 'psp-c').endpoint);
    const client = new (loadGrpcTypes().mamori.v1.Replication)(at.target, at.credentials, at.options);
    const heads = () =>
      new Promise<unknown>((resolve, reject) =>
        client.Heads({}, { deadline: Date.now() + 10_000 }, (error: grpc.ServiceError | null, value?: unknown) => (error ? reject(error) : resolve(value))),
      );
    const fetch = () =>
      new Promise<number>((resolve, reject) => {
        let entries = 0;
        const call = client.Fetch({ origin: 'psp-c', fromSeq: 1 }, { deadline: Date.now() + 10_000 });
        call.on('data', () => entries++);
        call.on('error', reject);
        call.on('end', () => resolve(entries));
      });
    try {
      await heads();
      await heads();
      const refused = await grpcError(heads());
      expect(refused.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      await fetch();
      expect((await grpcError(fetch())).code).to.equal(grpc.status.RESOURCE_EXHAUSTED);

      const body = (await scrape(psp.metrics?.address ?? '')).body;
      expect(sample(body, 'mamori_rate_limited_total', { scope: 'heads' })).to.be.at.least(1);
      expect(sample(body, 'mamori_rate_limited_total', { scope: 'fetches' })).to.be.at.least(1);
    } finally {
      client.close();
    }
  });
});

describe('limits: gRPC server options from the limits defaults', function () {
  it('caps messages both ways and sets streams, keepalive and connection age as docs/operations.md states', () => {
    const options = serverOptions(limitsOf({}), 8 * 1024 * 1024);
    expect(options).to.deep.include({
      'grpc.max_receive_message_length': 8_388_608,
      'grpc.max_send_message_length': 8_388_608,
      'grpc.max_concurrent_streams': 100,
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 20_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 10_000,
      'grpc.max_connection_age_ms': 3_600_000,
      'grpc.max_connection_age_grace_ms': 300_000,
    });
    expect(options.interceptors).to.have.length(1); // the deadline rule
    expect(serverOptions({ ...limitsOf({}), requireDeadline: false }, 65_536).interceptors).to.have.length(0);
  });
});
