// CheckStream (docs/protocol.md#check-stream): Check requests on one open stream, answered by
// id with what unary Check answers, each bad message refused on its own while the stream goes
// on; and the SDK's checkTransport 'stream' against a real node, a node killed and restarted,
// a node that never answers, and an older node without the method.
import { expect } from 'chai';
import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { MamoriClient } from '../../client-sdk/src/client';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { sodiumReady } from '../../proto/ts/sodium';
import { panSelector } from '../../proto/ts/trust/domains';
import { normalizePan } from '../../proto/ts/normalize';
import type { CheckResponse__Output } from '../../proto/gen/mamori/v1/CheckResponse';
import type { CheckRequest__Output } from '../../proto/gen/mamori/v1/CheckRequest';
import type { CheckStreamResponse__Output } from '../../proto/gen/mamori/v1/CheckStreamResponse';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { bearer, filesUnder, makeConsortium, rawCall, rawExchange, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { randomPan, randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';
import { openStalledStream } from '../helpers/fuzz-stalled-stream';
import { MAX_CHECKS_IN_FLIGHT_PER_STREAM } from '../../node/src/rpc/check-stream';
import { childNode, Clients, nodeWithListedCards, timed, type ChildNode } from '../sdk/helpers';

const digitsOf = (pan: string) => (normalizePan(pan) as { digits: string }).digits;

/** A raw CheckStream: messages written as given, answers collected by id, and how the stream ended. */
function openRawStream(target: string, metadata: grpc.Metadata) {
  const stub = rawExchange(target);
  const call = stub.CheckStream(metadata) as grpc.ClientDuplexStream<object, CheckStreamResponse__Output>;
  const answers = new Map<number, CheckStreamResponse__Output>();
  let ended: grpc.StatusObject | undefined;
  call.on('data', (m: CheckStreamResponse__Output) => answers.set(Number(m.id), m));
  call.on('error', () => undefined);
  call.on('status', (s: grpc.StatusObject) => (ended = s));
  return {
    send: (message: object) => call.write(message),
    answer: (id: number) => waitFor(() => answers.get(id), `the answer to message ${id}`, 20_000, 5),
    ended: () => waitFor(() => ended, 'the stream to end', 20_000, 5),
    get open() {
      return ended === undefined;
    },
    close() {
      call.cancel();
      stub.close();
    },
  };
}

describe('CheckStream: checks on one open stream', function () {
  this.timeout(60_000);
  let n: InProcessNode;
  let key: Uint8Array;
  let listed: string[];
  let unlisted: string[];

  before(async () => {
    ({ n, key, listed, unlisted } = await nodeWithListedCards(20, 100));
  });
  after(async () => {
    await n?.stop();
  });

  const digests = () => [...listed, ...unlisted].sort(() => Math.random() - 0.5).map((pan) => panSelector(key, digitsOf(pan)));

  it('answers each message, by its id, with what unary Check answers, in either wire form', async () => {
    const stub = rawExchange(n.target);
    const d = digests();
    const repeatedRequest = { selectors: d.map((digest) => ({ type: 'SELECTOR_TYPE_PAN', digest })) };
    const packedRequest = { packedDigests: Buffer.concat(d), packedType: 'SELECTOR_TYPE_PAN' };
    const unaryRepeated = await rawCall<CheckResponse__Output>(stub, 'Check', repeatedRequest, bearer(n.token));
    const unaryPacked = await rawCall<CheckResponse__Output>(stub, 'Check', packedRequest, bearer(n.token));
    stub.close();
    expect(unaryRepeated.results.filter((r) => r.listed)).to.have.length(listed.length);

    const stream = openRawStream(n.target, bearer(n.token));
    try {
      stream.send({ id: 7, check: repeatedRequest });
      stream.send({ id: 3, check: packedRequest });
      const [repeated, packed] = [await stream.answer(7), await stream.answer(3)];
      expect(repeated).to.deep.include({ errorCode: '', errorMessage: '' });
      expect(repeated.check).to.deep.equal(unaryRepeated);
      expect(packed.check).to.deep.equal(unaryPacked);
      expect(stream.open).to.equal(true);
    } finally {
      stream.close();
    }
  });

  it('refuses a bad message with INVALID_ARGUMENT naming the field, and goes on answering the next ones', async () => {
    const statusBefore = await n.client.status();
    const digest = panSelector(key, digitsOf(listed[0] as string));
    const stream = openRawStream(n.target, bearer(n.token));
    const cases: [object, RegExp][] = [
      [{ id: 1, check: { packedDigests: digest.subarray(0, 31), packedType: 'SELECTOR_TYPE_PAN' } }, /^check\.packedDigests: 31 bytes is not a whole number of 32-byte digests/],
      [{ id: 2, check: { packedDigests: digest } }, /^check\.packedType: is required/],
      [{ id: 3, check: { selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: digest.subarray(0, 5) }] } }, /^check\.selectors\[0\]\.digest: /],
      [{ id: 4 }, /^check: missing/],
    ];
    try {
      for (const [message] of cases) stream.send(message);
      stream.send({ id: 5, check: { packedDigests: digest, packedType: 'SELECTOR_TYPE_PAN' } });
      for (const [message, reason] of cases) {
        const answer = await stream.answer((message as { id: number }).id);
        expect(answer.errorCode, reason.source).to.equal('INVALID_ARGUMENT');
        expect(answer.errorMessage).to.match(reason);
        expect(answer.check).to.equal(null);
      }
      const good = await stream.answer(5);
      expect(good.errorCode).to.equal('');
      expect(good.check?.listedResults).to.have.length(1);
      expect(stream.open, 'the stream stays open').to.equal(true);
    } finally {
      stream.close();
    }
    const statusAfter = await n.client.status();
    expect(statusAfter.entries).to.equal(statusBefore.entries);
    expect(n.logLines.some((l) => l.includes('"level":50')), 'no error logged for a client mistake').to.equal(false);
  });

  it('ends a stream without a token UNAUTHENTICATED', async () => {
    const stream = openRawStream(n.target, new grpc.Metadata());
    try {
      stream.send({ id: 1, check: { packedDigests: Buffer.alloc(32, 1), packedType: 'SELECTOR_TYPE_PAN' } });
      const status = await stream.ended();
      expect(status.code).to.equal(grpc.status.UNAUTHENTICATED);
      expect(status.details).to.match(/authorization/);
    } finally {
      stream.close();
    }
  });

  it('ends a stream whose client sends and does not read RESOURCE_EXHAUSTED once more messages wait than the bound, and keeps serving', async () => {
    const serialize = loadGrpcTypes().mamori.v1.Exchange.service.CheckStream.requestSerialize as (m: object) => Buffer;
    // Answers large enough to fill the client's receive window and the server's write buffer…
    const big = { selectors: Array.from({ length: 1000 }, () => ({ type: 'SELECTOR_TYPE_PAN', digest: randomBytes(32) })) };
    const messages = Array.from({ length: 100 }, (_v, i) => serialize({ id: i + 1, check: big }));
    // …then more small messages than may wait for them.
    for (let i = 0; i <= MAX_CHECKS_IN_FLIGHT_PER_STREAM; i++) messages.push(serialize({ id: 1000 + i }));
    const session = http2.connect(`http://${n.target}`);
    session.on('error', () => undefined);
    try {
      const stalled = openStalledStream(session, '/mamori.v1.Exchange/CheckStream', messages, { authorization: `Bearer ${n.token}` });
      // Read only once the node has given up on the stream: the status waits behind the unread answers.
      await waitFor(() => n.logLines.some((l) => l.includes('check stream ended: its client sends checks and does not read the answers')), 'the node to end the stream');
      const ended = await stalled.drain();
      expect(ended.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
      expect(ended.details).to.match(/more than 1024 checks waiting on one CheckStream/);
    } finally {
      session.close();
    }
    expect(await n.client.checkCard(listed[0] as string)).to.deep.include({ listed: true, degraded: false });
  });

  it("the SDK's stream transport answers as the unary one, counts each request as a Check, and keeps card numbers out of the data directory and log", async () => {
    const clients = new Clients();
    try {
      const viaStream = clients.connect(n, { mode: 'remote', checkTransport: 'stream', deadlineMs: 10_000 });
      const viaUnary = clients.connect(n, { mode: 'remote', checkTransport: 'unary', deadlineMs: 10_000 });
      const pans = [...listed.slice(0, 5), ...unlisted.slice(0, 20)];
      const [streamed, unary] = [await viaStream.checkCards(pans), await viaUnary.checkCards(pans)];
      expect(streamed).to.deep.equal(unary);
      expect(streamed.filter((r) => r.listed)).to.have.length(5);
      // One card at a time, as an authorization flow asks.
      for (const pan of [listed[6] as string, unlisted[30] as string]) {
        expect(await viaStream.checkCard(pan)).to.deep.include({ listed: pan === listed[6], source: 'node', degraded: false });
      }
      expect(viaStream.stats().rpcs.Check).to.equal(3);
    } finally {
      clients.closeAll();
    }
    for (const pan of [...listed, ...unlisted]) {
      expect(n.logLines.some((l) => l.includes(pan)), 'a card number in the log').to.equal(false);
      for (const file of filesUnder(n.dataDir)) expect(fs.readFileSync(file).includes(Buffer.from(digitsOf(pan))), `a card number in ${file}`).to.equal(false);
    }
  });
});

describe('CheckStream in the SDK: the node killed, restarted, stalled, or older', function () {
  this.timeout(120_000);
  let layout: DevConsortiumLayout;
  let node: ChildNode;
  let listedPan: string;
  const clients = new Clients();

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    node = await childNode(layout, 'acquirer-b');
    listedPan = randomPan();
    await clients.connect(node, { mode: 'remote' }).publishCompromisedCards([listedPan], { reason: 'skimming' });
  });
  afterEach(() => {
    clients.closeAll();
    node.resume();
  });
  after(async () => {
    node?.process.child.kill('SIGKILL');
    await node?.process.exited;
  });

  it('checks waiting on the stream when the node is killed get the fail mode at once; once the node is back, the stream is opened again', async () => {
    const client = clients.connect(node, { mode: 'remote', checkTransport: 'stream', failMode: 'closed', deadlineMs: 30_000 });
    await client.waitForReady(10_000);
    expect(await client.checkCard(listedPan)).to.deep.include({ listed: true, source: 'node', degraded: false });

    // Stopped, the node leaves these checks waiting on the open stream; killed, it ends the stream.
    node.pause();
    const waiting = timed(() => Promise.all(randomPans(3).map((pan) => client.checkCard(pan))));
    await waitFor(() => client.stats().batching.inFlight > 0, 'the checks to be sent on the stream');
    await node.kill();
    const { value, ms } = await waiting;
    expect(value.every((r) => r.degraded && r.source === 'fallback' && r.action === 'review' && r.degradedReason === 'UNAVAILABLE')).to.equal(true);
    expect(ms, 'at the end of the stream, long before the 30 s deadline').to.be.below(20_000);

    await node.start();
    const back = await waitFor(
      async () => {
        const r = await client.checkCard(listedPan);
        return r.source === 'node' && !r.degraded ? r : undefined;
      },
      'checks answered by the node again',
      30_000,
      50,
    );
    expect(back).to.deep.include({ listed: true, action: 'step_up' });
  });

  it('a node that does not answer by the deadline: the fail mode, DEADLINE_EXCEEDED; the stream stays usable', async () => {
    const client = clients.connect(node, { mode: 'remote', checkTransport: 'stream', deadlineMs: 200 });
    await client.waitForReady(10_000);
    node.pause();
    const late = await timed(() => client.checkCard(listedPan));
    expect(late.value).to.deep.include({ degraded: true, source: 'fallback', action: 'approve', degradedReason: 'DEADLINE_EXCEEDED' });
    expect(late.ms).to.be.at.least(190);
    node.resume();
    // The late answer is dropped; the next check is answered on the same stream.
    const next = await waitFor(
      async () => {
        const r = await client.checkCard(listedPan, { deadlineMs: 5_000 });
        return r.source === 'node' ? r : undefined;
      },
      'the node to answer again',
      30_000,
      50,
    );
    expect(next).to.deep.include({ listed: true, degraded: false });
  });
});

describe('CheckStream in the SDK: an older node without the method', function () {
  it('falls back to unary Check for good', async () => {
    await sodiumReady();
    const server = new grpc.Server();
    const checks: CheckRequest__Output[] = [];
    // Only what an older node would answer: grpc-js answers UNIMPLEMENTED for CheckStream itself.
    const handlers = {
      GetHashingKeys: (_call: unknown, callback: grpc.sendUnaryData<object>) =>
        callback(null, { keys: [{ epoch: 1, key: Buffer.alloc(32, 1), activeFromMs: 0, retiresAtMs: 0 }], upcoming: [], panSelectors: 'keyed', packedChecks: true }),
      Check: (call: grpc.ServerUnaryCall<CheckRequest__Output, object>, callback: grpc.sendUnaryData<object>) => {
        checks.push(call.request);
        callback(null, { listedBitmap: Buffer.alloc(Math.ceil(call.request.packedDigests.length / 32 / 8)), listedResults: [] });
      },
    };
    server.addService(loadGrpcTypes().mamori.v1.Exchange.service, handlers as unknown as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const client = MamoriClient.connect({ target: `127.0.0.1:${port}`, token: 'a'.repeat(43), mode: 'remote', checkTransport: 'stream', deadlineMs: 10_000 });
    try {
      const first = await client.checkCards(randomPans(4));
      expect(first.every((r) => r.source === 'node' && !r.degraded && !r.listed)).to.equal(true);
      const second = await client.checkCard(randomPan());
      expect(second).to.deep.include({ source: 'node', degraded: false });
      expect(checks.length, 'both by unary Check').to.equal(2);
    } finally {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    }
  });
});
