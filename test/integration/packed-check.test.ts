// The packed form of Check (docs/protocol.md#packed-checks): the same answers as the repeated
// form, refused by field when malformed, sent by the SDK when the node advertises it, and never
// sent to a node that does not.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { MamoriClient } from '../../client-sdk/src/client';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { sodiumReady } from '../../proto/ts/sodium';
import { panSelector } from '../../proto/ts/trust/domains';
import { normalizePan } from '../../proto/ts/normalize';
import { bitIsSet, bitmapBytes } from '../../proto/ts/packed-check';
import type { CheckResponse__Output } from '../../proto/gen/mamori/v1/CheckResponse';
import type { CheckRequest__Output } from '../../proto/gen/mamori/v1/CheckRequest';
import type { GetHashingKeysResponse__Output } from '../../proto/gen/mamori/v1/GetHashingKeysResponse';
import { bearer, filesUnder, makeConsortium, rawCall, rawExchange, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { panForms, randomPans } from '../helpers/cards';
import { grpcError } from '../helpers/ops';
import { countServedChecks, nodeWithListedCards } from '../sdk/helpers';

const digitsOf = (pan: string) => (normalizePan(pan) as { digits: string }).digits;

describe('Check, packed form', function () {
  let n: InProcessNode;
  let key: Uint8Array;
  let listed: string[];
  let unlisted: string[];

  before(async () => {
    ({ n, key, listed, unlisted } = await nodeWithListedCards(40, 400));
  });
  after(async () => {
    await n?.stop();
  });

  /** Listed and unlisted digests interleaved irregularly, with which is which. */
  function mixedDigests(): { digests: Buffer[]; isListed: boolean[] } {
    const digests: Buffer[] = [];
    const isListed: boolean[] = [];
    let l = 0;
    for (let u = 0; u < unlisted.length; u++) {
      if (u % 11 === 3 && l < listed.length) {
        digests.push(panSelector(key, digitsOf(listed[l++] as string)));
        isListed.push(true);
      }
      digests.push(panSelector(key, digitsOf(unlisted[u] as string)));
      isListed.push(false);
    }
    return { digests, isListed };
  }

  it('the node advertises it with the hashing keys', async () => {
    const stub = rawExchange(n.target);
    const keys = await rawCall<GetHashingKeysResponse__Output>(stub, 'GetHashingKeys', {}, bearer(n.token));
    stub.close();
    expect(keys.packedChecks).to.equal(true);
  });

  it('answers a bitmap and the listed results that the repeated form answers for the same selectors', async () => {
    const { digests, isListed } = mixedDigests();
    const stub = rawExchange(n.target);
    const repeated = await rawCall<CheckResponse__Output>(stub, 'Check', { selectors: digests.map((digest) => ({ type: 'SELECTOR_TYPE_PAN', digest })) }, bearer(n.token));
    const packed = await rawCall<CheckResponse__Output>(stub, 'Check', { packedDigests: Buffer.concat(digests), packedType: 'SELECTOR_TYPE_PAN' }, bearer(n.token));
    stub.close();

    expect(repeated.results.map((r) => r.listed)).to.deep.equal(isListed);
    expect(packed.results).to.deep.equal([]);
    expect(packed.listedBitmap.length).to.equal(bitmapBytes(digests.length));
    expect(digests.map((_d, i) => bitIsSet(packed.listedBitmap, i))).to.deep.equal(isListed);
    // Bits past the last digest stay clear.
    for (let i = digests.length; i < packed.listedBitmap.length * 8; i++) expect(bitIsSet(packed.listedBitmap, i)).to.equal(false);
    expect(packed.listedResults).to.deep.equal(repeated.results.filter((r) => r.listed));
    expect(packed.listedResults.every((r) => r.listingMembers === 1 && r.evidence[0]?.origin === 'psp-c')).to.equal(true);
  });

  it('refuses malformed packed checks with INVALID_ARGUMENT naming the field, changes nothing, and keeps serving', async () => {
    const stub = rawExchange(n.target);
    const statusBefore = await rawCall<{ entries: number; indicators: number }>(stub, 'Status', {}, bearer(n.token));
    const digest = panSelector(key, digitsOf(listed[0] as string));
    const check = (request: object) => rawCall<CheckResponse__Output>(stub, 'Check', request, bearer(n.token));
    const cases: [string, object, RegExp][] = [
      ['a length that is not a multiple of 32', { packedDigests: Buffer.concat([digest, digest.subarray(0, 31)]), packedType: 'SELECTOR_TYPE_PAN' }, /^packedDigests: 63 bytes is not a whole number of 32-byte digests/],
      ['more selectors than a check takes', { packedDigests: Buffer.alloc(10_001 * 32, 7), packedType: 'SELECTOR_TYPE_PAN' }, /^packedDigests: has 10001 selectors; the limit is 10000/],
      ['both forms in one request', { selectors: [{ type: 'SELECTOR_TYPE_PAN', digest }], packedDigests: digest, packedType: 'SELECTOR_TYPE_PAN' }, /^packedDigests: give the selectors or packed digests, not both/],
      ['no type', { packedDigests: digest }, /^packedType: is required/],
      ['a type no indicator kind uses', { packedDigests: digest, packedType: 'SELECTOR_TYPE_BIN' }, /^packedType: SELECTOR_TYPE_BIN is a type no indicator kind uses/],
      ['an unknown type number', { packedDigests: digest, packedType: 99 }, /^packedType: unknown value 99/],
    ];
    for (const [what, request, message] of cases) {
      const error = await grpcError(check(request));
      expect(error.code, what).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(error.details, what).to.match(message);
    }
    const answer = await check({ packedDigests: digest, packedType: 'SELECTOR_TYPE_PAN' });
    expect(bitIsSet(answer.listedBitmap, 0)).to.equal(true);
    const statusAfter = await rawCall<{ entries: number; indicators: number }>(stub, 'Status', {}, bearer(n.token));
    stub.close();
    expect(statusAfter.entries).to.equal(statusBefore.entries);
    expect(statusAfter.indicators).to.equal(statusBefore.indicators);
    expect(n.logLines.some((l) => l.includes('"level":50')), 'no error logged for a client mistake').to.equal(false);
  });

  it('the SDK sends its checks packed to this node, with the same answers, and no card number reaches the log or the data files', async () => {
    const client = MamoriClient.connect({ target: n.target, token: n.token, mode: 'remote', deadlineMs: 10_000 });
    try {
      await client.waitForReady(10_000);
      const served = countServedChecks(n);
      const cards = [...listed.slice(0, 20), ...unlisted.slice(0, 100)];
      const one = await Promise.all(cards.map((pan) => client.checkCard(pan)));
      const many = await client.checkCards(cards);
      const expected = cards.map((_p, i) => i < 20);
      expect(one.map((r) => r.listed)).to.deep.equal(expected);
      expect(many.map((r) => r.listed)).to.deep.equal(expected);
      expect([...one, ...many].every((r) => r.source === 'node' && !r.degraded)).to.equal(true);
      expect(one.filter((r) => r.listed).every((r) => r.listingMembers === 1 && r.evidence[0]?.origin === 'psp-c')).to.equal(true);
      expect(served.calls).to.be.greaterThan(0);
      expect(served.packed, 'every Check RPC in the packed form').to.equal(served.calls);
      expect(served.selectors).to.equal(2 * cards.length);
    } finally {
      client.close();
    }
    const files = filesUnder(n.dataDir).map((f) => fs.readFileSync(f));
    for (const pan of unlisted.slice(0, 100)) {
      for (const form of panForms(pan)) {
        expect(n.logLines.some((l) => l.includes(form)), 'in the log').to.equal(false);
        expect(files.some((bytes) => bytes.includes(Buffer.from(form))), 'in the data files').to.equal(false);
      }
    }
  });
});

describe('Check, packed form, under the "oblivious" phase', function () {
  let n: InProcessNode;

  before(async () => {
    await sodiumReady();
    n = await startInProcessNode(await makeConsortium({ panSelectors: 'oblivious' }), 'psp-c');
  });
  after(async () => {
    await n?.stop();
  });

  it('refuses keyed PAN digests as the repeated form does (FAILED_PRECONDITION naming packedType) and answers oblivious ones', async () => {
    const stub = rawExchange(n.target);
    const digests = Buffer.alloc(3 * 32, 9);
    const check = (packedType: string) => rawCall<CheckResponse__Output>(stub, 'Check', { packedDigests: digests, packedType }, bearer(n.token));
    const error = await grpcError(check('SELECTOR_TYPE_PAN'));
    expect(error.code).to.equal(grpc.status.FAILED_PRECONDITION);
    expect(error.details).to.match(/^packedType: keyed PAN selectors are not checked/);
    const answer = await check('SELECTOR_TYPE_PAN_OBLIVIOUS');
    stub.close();
    expect([...answer.listedBitmap]).to.deep.equal([0]);
    expect(answer.listedResults).to.deep.equal([]);
  });
});

describe('Check, packed form: a node that does not advertise it', function () {
  /** An Exchange server that answers GetHashingKeys as an older node (no packed_checks) and records the Check requests it gets. */
  async function olderNode(answer: (request: CheckRequest__Output) => object, packedChecks = false): Promise<{ target: string; checks: CheckRequest__Output[]; stop(): Promise<void> }> {
    await sodiumReady();
    const server = new grpc.Server();
    const checks: CheckRequest__Output[] = [];
    const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback({ code: grpc.status.UNIMPLEMENTED, details: 'not in this test' });
    const handlers: Record<string, unknown> = {};
    // CheckStream is left out: grpc-js answers it UNIMPLEMENTED, as an older node does, and the SDK goes unary.
    for (const name of Object.keys(loadGrpcTypes().mamori.v1.Exchange.service)) if (name !== 'CheckStream') handlers[name] = unimplemented;
    handlers.GetHashingKeys = (_call: unknown, callback: grpc.sendUnaryData<object>) =>
      callback(null, { keys: [{ epoch: 1, key: Buffer.alloc(32, 1), activeFromMs: 0, retiresAtMs: 0 }], upcoming: [], panSelectors: 'keyed', packedChecks });
    handlers.Check = (call: grpc.ServerUnaryCall<CheckRequest__Output, object>, callback: grpc.sendUnaryData<object>) => {
      checks.push(call.request);
      callback(null, answer(call.request));
    };
    server.addService(loadGrpcTypes().mamori.v1.Exchange.service, handlers as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    return { target: `127.0.0.1:${port}`, checks, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
  }

  it('the SDK keeps the repeated form', async () => {
    const older = await olderNode((request) => ({ results: request.selectors.map(() => ({ listed: false, evidence: [], listingMembers: 0 })) }));
    const client = MamoriClient.connect({ target: older.target, token: 'a'.repeat(43), mode: 'remote', deadlineMs: 10_000 });
    try {
      const results = await client.checkCards(randomPans(5));
      expect(results.map((r) => r.listed)).to.deep.equal([false, false, false, false, false]);
      expect(results.every((r) => r.source === 'node' && !r.degraded)).to.equal(true);
      expect(older.checks.length).to.be.greaterThan(0);
      expect(older.checks.every((c) => c.selectors.length > 0 && c.packedDigests.length === 0)).to.equal(true);
    } finally {
      client.close();
      await older.stop();
    }
  });

  it('a packed answer that does not fit the request is an INTERNAL error, not an answer', async () => {
    const older = await olderNode(() => ({ listedBitmap: Buffer.alloc(1, 0xff), listedResults: [] }), true);
    const client = MamoriClient.connect({ target: older.target, token: 'a'.repeat(43), mode: 'remote', deadlineMs: 10_000 });
    try {
      const error = await client.checkCards(randomPans(3)).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      );
      expect(error?.code).to.equal('INTERNAL');
      expect(error?.message).to.match(/packed answer does not fit 3 selectors/);
      expect(older.checks.every((c) => c.selectors.length === 0 && c.packedDigests.length === 3 * 32)).to.equal(true);
    } finally {
      client.close();
      await older.stop();
    }
  });
});
