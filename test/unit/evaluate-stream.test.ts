// The peer EvaluateStream on real gRPC servers over loopback: the node's link (rpc/evaluator-link.ts)
// against a Replication server whose EvaluateStream is the node's own answer-stream handler
// (rpc/answer-stream.ts) with a stand-in evaluation behind it. Answers are matched by id when
// they come out of order, errors are per message, a peer without the method is asked by unary
// Evaluate for good, requests beyond the bound go by unary calls, and a stream that ends fails
// what waits on it and is opened again for the next request.
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import type { PeerEvaluateRequest__Output } from '../../proto/gen/mamori/v1/PeerEvaluateRequest';
import type { PeerEvaluateStreamRequest__Output } from '../../proto/gen/mamori/v1/PeerEvaluateStreamRequest';
import type { PeerEvaluateStreamResponse } from '../../proto/gen/mamori/v1/PeerEvaluateStreamResponse';
import { MamoriError } from '../../node/src/ledger/errors';
import { answerStreamHandler } from '../../node/src/rpc/answer-stream';
import { dialEvaluator, EVALUATE_STREAM_MAX_WAITING } from '../../node/src/rpc/evaluator-link';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { StreamWatch } from '../../node/src/rpc/streams';
import type { EvaluatorLink } from '../../node/src/evaluation/selector-evaluation';
import { waitFor } from '../helpers/wait';

const NOT_HERE = (_call: unknown, callback: (error: Partial<grpc.StatusObject>) => void) => callback({ code: grpc.status.UNIMPLEMENTED });
const NO_STREAM = (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', { code: grpc.status.UNIMPLEMENTED });

interface Peer {
  port: number;
  unaryCalls: number;
  streamMessages: number;
  streamsOpened: number;
  /** Requests whose answer is held until released (by set id). */
  held: Map<string, () => void>;
  server: grpc.Server;
}

/**
 * The stand-in evaluation: one 32-byte element per item, each byte the item's index; a set id
 * "hold:…" waits until released, "refuse" is refused INVALID_ARGUMENT naming a field.
 */
function answer(peer: Peer, request: PeerEvaluateRequest__Output): Promise<{ elements: Buffer }> {
  if (request.setId === 'refuse') return Promise.reject(MamoriError.invalidArgument('items[0].blinded', 'is not a canonical ristretto255 encoding'));
  const elements = Buffer.concat(request.items.map((_, i) => Buffer.alloc(32, i)));
  if (!request.setId.startsWith('hold:')) return Promise.resolve({ elements });
  return new Promise((resolve) => peer.held.set(request.setId, () => resolve({ elements })));
}

async function startPeer(withStream: boolean, port = 0): Promise<Peer> {
  const server = new grpc.Server();
  const peer: Peer = { port: 0, unaryCalls: 0, streamMessages: 0, streamsOpened: 0, held: new Map(), server };
  const log = pino({ level: 'silent' });
  const stream = answerStreamHandler<PeerEvaluateStreamRequest__Output, PeerEvaluateStreamResponse & { id: number }, string>({
    method: 'EvaluateStream',
    log,
    streams: new StreamWatch(),
    authenticate: () => {
      peer.streamsOpened++;
      return 'acquirer-b';
    },
    answer: async (message) => {
      peer.streamMessages++;
      if (!message.evaluate) throw MamoriError.invalidArgument('evaluate', 'missing');
      return { evaluate: await answer(peer, message.evaluate) };
    },
    maxInFlight: 64,
    tooManyWaiting: 'too many',
    callerName: (p) => p,
    endedForNotReading: 'ended',
  });
  server.addService(loadGrpcTypes().mamori.v1.Replication.service, {
    Heads: NOT_HERE,
    Fetch: NO_STREAM,
    Follow: NO_STREAM,
    GetConsortium: NOT_HERE,
    OfferConsortium: NOT_HERE,
    Evaluate: (call: grpc.ServerUnaryCall<PeerEvaluateRequest__Output, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      peer.unaryCalls++;
      answer(peer, call.request).then(
        (response) => callback(null, response),
        (error: MamoriError) => callback({ code: grpc.status.INVALID_ARGUMENT, details: error.message }),
      );
    },
    EvaluateStream: withStream ? stream : NO_STREAM,
  });
  peer.port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return peer;
}

const request = (setId: string, items: number) => ({ setId, groups: [['2']], items: Array.from({ length: items }, () => ({ bin: '411111', blinded: new Uint8Array(32) })) });

describe('unit: the peer EvaluateStream and the link that uses it', function () {
  this.timeout(30_000);
  const peers: Peer[] = [];
  const links: EvaluatorLink[] = [];
  const link = (port: number) => {
    const l = dialEvaluator({ tls: undefined, member: 'acquirer-b', maxMessageBytes: 8 * 1024 * 1024 }, 'issuer-a', `127.0.0.1:${port}`);
    links.push(l);
    return l;
  };
  const peer = async (withStream: boolean, port?: number) => {
    const p = await startPeer(withStream, port);
    peers.push(p);
    return p;
  };

  afterEach(() => {
    for (const l of links.splice(0)) l.close();
    for (const p of peers.splice(0)) p.server.forceShutdown();
  });

  it('answers requests on one stream by id, also when they come back out of order; an error answers its own request only', async () => {
    const p = await peer(true);
    const l = link(p.port);
    const held = l.evaluate(request('hold:first', 3), Date.now() + 10_000);
    const later = await Promise.all([l.evaluate(request('a', 1), Date.now() + 10_000), l.evaluate(request('b', 2), Date.now() + 10_000)]);
    expect(later.map((b) => b.length)).to.deep.equal([32, 64]);
    expect(later[1]?.subarray(32, 64).every((x) => x === 1)).to.equal(true);
    const refused = await l.evaluate(request('refuse', 1), Date.now() + 10_000).then(
      () => undefined,
      (e: MamoriError) => e,
    );
    expect(refused?.code).to.equal('INVALID_ARGUMENT');
    expect(refused?.message).to.equal('items[0].blinded: is not a canonical ristretto255 encoding');
    p.held.get('hold:first')?.();
    expect((await held).length).to.equal(96);
    expect(p.streamsOpened).to.equal(1);
    expect(p.streamMessages).to.equal(4);
    expect(p.unaryCalls).to.equal(0);
  });

  it('asks a peer without EvaluateStream by unary Evaluate, that request and every later one', async () => {
    const p = await peer(false);
    const l = link(p.port);
    expect((await l.evaluate(request('a', 2), Date.now() + 10_000)).length).to.equal(64);
    expect((await l.evaluate(request('b', 1), Date.now() + 10_000)).length).to.equal(32);
    expect(p.unaryCalls).to.equal(2);
    expect(p.streamMessages).to.equal(0);
  });

  it(`sends requests beyond ${EVALUATE_STREAM_MAX_WAITING} outstanding by unary calls`, async () => {
    const p = await peer(true);
    const l = link(p.port);
    const extra = 3;
    const all = Array.from({ length: EVALUATE_STREAM_MAX_WAITING + extra }, (_, i) => l.evaluate(request(`hold:${i}`, 1), Date.now() + 10_000));
    await waitFor(() => p.held.size === EVALUATE_STREAM_MAX_WAITING + extra, 'every request at the peer');
    for (const release of p.held.values()) release();
    expect((await Promise.all(all)).every((b) => b.length === 32)).to.equal(true);
    expect(p.streamMessages).to.equal(EVALUATE_STREAM_MAX_WAITING);
    expect(p.unaryCalls).to.equal(extra);
  });

  it('keeps counting a request past its deadline until the peer answers it, so that it never sends the peer more than the bound', async () => {
    const p = await peer(true);
    const l = link(p.port);
    const late = Array.from({ length: EVALUATE_STREAM_MAX_WAITING }, (_, i) =>
      l.evaluate(request(`hold:late-${i}`, 1), Date.now() + 100).then(
        () => 'answered',
        (e: MamoriError) => e.code,
      ),
    );
    expect(new Set(await Promise.all(late))).to.deep.equal(new Set(['UNAVAILABLE']));
    // Still outstanding at the peer: the next request goes by a unary call, not on the stream.
    expect((await l.evaluate(request('a', 1), Date.now() + 10_000)).length).to.equal(32);
    expect(p.unaryCalls).to.equal(1);
    // Once the peer answers them, the stream takes requests again.
    for (const release of p.held.values()) release();
    await waitFor(async () => (await l.evaluate(request('b', 1), Date.now() + 10_000)) && p.streamMessages > EVALUATE_STREAM_MAX_WAITING, 'a request on the stream again');
    expect(p.streamsOpened).to.equal(1);
  });

  it('fails what waits on a stream that ends UNAVAILABLE, and opens a new stream for the next request', async () => {
    const p = await peer(true);
    const l = link(p.port);
    expect((await l.evaluate(request('a', 1), Date.now() + 10_000)).length).to.equal(32);
    const waiting = l.evaluate(request('hold:x', 1), Date.now() + 10_000).then(
      () => undefined,
      (e: MamoriError) => e,
    );
    await waitFor(() => p.held.has('hold:x'), 'the request at the peer');
    p.server.forceShutdown();
    const failed = await waiting;
    expect(failed?.code).to.equal('UNAVAILABLE');
    const again = await peer(true, p.port);
    await waitFor(async () => (await l.evaluate(request('b', 2), Date.now() + 2_000).then((b) => b.length, () => 0)) === 64, 'an answer from the restarted peer', 20_000);
    expect(again.streamsOpened).to.equal(1);
    expect(again.unaryCalls).to.equal(0);
  });

  it('rejects a request its peer does not answer by the deadline, and the stream stays usable', async () => {
    const p = await peer(true);
    const l = link(p.port);
    const late = await l.evaluate(request('hold:never', 1), Date.now() + 200).then(
      () => undefined,
      (e: MamoriError) => e,
    );
    expect(late?.code).to.equal('UNAVAILABLE');
    expect(late?.message).to.equal('deadline exceeded');
    expect((await l.evaluate(request('a', 1), Date.now() + 10_000)).length).to.equal(32);
    expect(p.streamsOpened).to.equal(1);
  });
});
