// The Exchange API of one real node: gRPC on loopback, SQLite in a temp dir.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { MamoriClientError } from '../../client-sdk/src/errors';
import { panSelector } from '../../proto/ts/trust/domains';
import { acceptEntry } from '../../node/src/ledger/acceptance';
import { entryHash } from '../../node/src/crypto/signing';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { bearer, makeConsortium, rawCall, rawExchange, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { randomPan, randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

type Status = { entries: number; indicators: number; ownFeed: { seq: number } };

async function expectGrpcError(promise: Promise<unknown>, code: grpc.status, ...fragments: string[]): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    const e = error as grpc.ServiceError;
    expect(e.code, e.details).to.equal(code);
    for (const f of fragments) expect(e.details).to.contain(f);
    return e;
  }
  throw new Error('expected the call to fail');
}

describe('Exchange API (one node, real gRPC and SQLite)', function () {
  let layout: DevConsortiumLayout;
  let n: InProcessNode;

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    n = await startInProcessNode(layout, 'psp-c');
  });
  after(async () => {
    await n?.stop();
  });

  it('publishes cards, then answers listed with the evidence, and not listed for others', async () => {
    const pans = randomPans(50);
    const published = await n.client.publishCompromisedCards(pans, { reason: 'phishing', exposed: ['pan', 'cvv'], confidence: 90, validDays: 30, eventId: 'evt-2026-11' });
    expect(published.accepted).to.equal(50);
    expect(published.seq).to.be.greaterThan(0);

    const [hit, miss] = await n.client.checkCards([pans[7] as string, randomPan()]);
    expect(hit?.listed).to.equal(true);
    expect(hit?.listingMembers).to.equal(1);
    const e = hit?.evidence[0];
    expect(e?.origin).to.equal('psp-c');
    expect(e?.kind).to.equal('INDICATOR_KIND_COMPROMISED_CARD');
    expect(e?.reason).to.equal('REASON_CODE_PHISHING');
    expect(e?.exposed).to.deep.equal(['DATA_ELEMENT_PAN', 'DATA_ELEMENT_CVV']);
    expect(e?.confidence).to.equal(90);
    expect(e?.eventId).to.equal('evt-2026-11');
    expect(e?.matched).to.equal('SELECTOR_TYPE_PAN');
    expect(e?.firstSeenMs).to.be.within(Date.now() - 60_000, Date.now());
    expect(e?.validUntilMs).to.be.greaterThan(Date.now() + 29 * 86_400_000);
    expect(miss?.listed).to.equal(false);
    expect(miss?.evidence).to.deep.equal([]);
  });

  it('accepts the same card written differently (spaces, dashes, full-width digits)', async () => {
    const pan = randomPan();
    await n.client.publishCompromisedCards([pan], { reason: 'skimming' });
    const spaced = pan.replace(/(.{4})/g, '$1 ').trim();
    const fullWidth = [...pan].map((d) => String.fromCharCode(0xff10 + Number(d))).join('');
    const results = await n.client.checkCards([spaced, pan.replace(/(.{4})(?!$)/g, '$1-'), fullWidth]);
    expect(results.map((r) => r.listed)).to.deep.equal([true, true, true]);
  });

  it('counts duplicates instead of publishing them twice', async () => {
    const pans = randomPans(10);
    const first = await n.client.publishCompromisedCards(pans, { reason: 'malware' });
    expect(first.accepted).to.equal(10);
    const before = (await n.client.status()) as unknown as Status;
    const again = await n.client.publishCompromisedCards([...pans.slice(0, 4), pans[0] as string, randomPan()], { reason: 'malware' });
    expect(again.accepted).to.equal(1);
    expect(again.duplicates).to.equal(5);
    expect(again.duplicateIndices).to.deep.equal([0, 1, 2, 3, 4]);
    const after = (await n.client.status()) as unknown as Status;
    expect(after.indicators - before.indicators).to.equal(1);
  });

  it('groups concurrent publications into commits without losing or duplicating any', async () => {
    const batches = Array.from({ length: 12 }, () => randomPans(200));
    const before = (await n.client.status()) as unknown as Status;
    const results = await Promise.all(batches.map((b) => n.client.publishCompromisedCards(b, { reason: 'merchant-breach' })));
    expect(results.reduce((s, r) => s + r.accepted, 0)).to.equal(2400);
    const seqs = results.map((r) => r.seq).sort((a, b) => a - b);
    expect(seqs).to.deep.equal(Array.from({ length: 12 }, (_, i) => before.ownFeed.seq + 1 + i));
    const after = (await n.client.status()) as unknown as Status;
    expect(after.indicators - before.indicators).to.equal(2400);
    const checks = await n.client.checkCards(batches.map((b) => b[199] as string));
    expect(checks.every((c) => c.listed)).to.equal(true);
  });

  it('retracted cards are no longer listed, and republishing lists them again', async () => {
    const [a, b] = randomPans(2) as [string, string];
    await n.client.publishCompromisedCards([a, b], { reason: 'phishing' });
    const r = await n.client.retractCards([a, randomPan()], 'reissued');
    expect(r.retracted).to.equal(1);
    expect(r.notListed).to.equal(1);
    const [ca, cb] = await n.client.checkCards([a, b]);
    expect(ca?.listed).to.equal(false);
    expect(cb?.listed).to.equal(true);
    const again = await n.client.publishCompromisedCards([a], { reason: 'confirmed-fraud' });
    expect(again.accepted).to.equal(1);
    expect((await n.client.checkCard(a)).evidence[0]?.reason).to.equal('REASON_CODE_CONFIRMED_FRAUD');
  });

  it('cards stay listed, once, after recent selectors merge into the large table', async () => {
    const pans = randomPans(300);
    await n.client.publishCompromisedCards(pans, { reason: 'phishing' });
    const before = (await n.client.status()) as unknown as Status;
    const store = (n.node as unknown as { store: { mergeRecentSelectors(): number; db: { prepare(sql: string): { get(): unknown } } } }).store;
    expect(store.mergeRecentSelectors()).to.be.greaterThan(299);
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM selectors_recent').get()).to.deep.equal({ n: 0 });
    expect(((await n.client.status()) as unknown as Status).indicators).to.equal(before.indicators);
    const checks = await n.client.checkCards(pans);
    expect(checks.every((c) => c.listed && c.listingMembers === 1)).to.equal(true);
    const again = await n.client.publishCompromisedCards(pans.slice(0, 10), { reason: 'phishing' });
    expect(again.duplicates).to.equal(10);
  });

  it('retracting one card written two ways retracts it once, in an entry every peer accepts', async () => {
    const pan = randomPan();
    await n.client.publishCompromisedCards([pan], { reason: 'phishing' });
    const r = await n.client.retractCards([pan, pan.replace(/(.{4})(?!$)/g, '$1-')], 'reissued');
    expect(r.retracted).to.equal(1);
    const node = n.node as unknown as { store: { entryAt(o: string, s: number): { body: Buffer; signature: Buffer } } };
    const stored = node.store.entryAt('psp-c', r.seq);
    const prev = node.store.entryAt('psp-c', r.seq - 1);
    const accepted = acceptEntry(stored, {
      member: (o) => n.parts.membership.memberKeys(o),
      head: () => ({ seq: r.seq - 1, hash: entryHash(prev.body) }),
    });
    expect(accepted.retraction?.selectors.length).to.equal(1);
  });

  it('expired listings never produce a hit', async () => {
    const pan = randomPan();
    await n.client.publishCompromisedCards([pan], { reason: 'phishing', validDays: 1.5 / 86_400 }); // 1.5 s
    expect((await n.client.checkCard(pan)).listed).to.equal(true);
    await waitFor(async () => !(await n.client.checkCard(pan)).listed, 'the listing to expire', 20_000, 100);
  });

  it('refuses well-known public test card numbers before anything is sent', async () => {
    const before = (await n.client.status()) as unknown as Status;
    let error: unknown;
    try {
      await n.client.publishCompromisedCards(['4111 1111 1111 1111'], { reason: 'phishing' });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(MamoriClientError);
    expect((error as MamoriClientError).code).to.equal('INVALID_PAN');
    expect((error as Error).message).to.contain('public test card').and.not.contain('4111');
    expect(((await n.client.status()) as unknown as Status).entries).to.equal(before.entries);
  });

  it('reports invalid card numbers with the reason and never the number', async () => {
    for (const [bad, reason] of [
      ['4545 45ab 1234 5678', 'characters other than digits'],
      ['45454512345', 'too short'],
      ['45454512345678901234', 'too long'],
      ['4545451234567890', 'Luhn'],
      ['', 'empty'],
    ] as const) {
      try {
        await n.client.checkCard(bad);
        expect.fail(`accepted ${reason}`);
      } catch (error) {
        expect((error as MamoriClientError).code).to.equal('INVALID_PAN');
        expect((error as Error).message).to.contain(reason);
        if (bad.length > 0) expect((error as Error).message).to.not.contain(bad.replace(/\D/g, '').slice(0, 8));
      }
    }
  });

  describe('bad requests get INVALID_ARGUMENT naming the field, and change nothing', () => {
    let status: () => Promise<Status>;
    let key: Uint8Array;
    const stub = () => rawExchange(n.target);
    const validPublication = (digest: Buffer) => ({
      kind: 'INDICATOR_KIND_COMPROMISED_CARD',
      reason: 'REASON_CODE_PHISHING',
      exposed: ['DATA_ELEMENT_PAN'],
      confidence: 50,
      validFromMs: Date.now(),
      validUntilMs: Date.now() + 86_400_000,
      indicators: [{ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest }] }],
    });

    before(async () => {
      status = async () => (await n.client.status()) as unknown as Status;
      key = (await n.client.hashingKeys())[0]?.key as Uint8Array;
    });

    const cases: [string, (digest: Buffer) => object, string[]][] = [
      ['a digest of the wrong length', (d) => ({ ...validPublication(d.subarray(0, 31)) }), ['publication.indicators[0].selectors[0].digest', 'must be 32 bytes, got 31']],
      ['an unknown enum value', (d) => ({ ...validPublication(d), reason: 77 }), ['publication.reason', 'unknown value 77']],
      ['a missing kind', (d) => ({ ...validPublication(d), kind: 0 }), ['publication.kind', 'required']],
      ['a merchant reason on a card', (d) => ({ ...validPublication(d), reason: 'REASON_CODE_LAUNDERING' }), ['publication.reason', 'merchant reason']],
      ['confidence over 100', (d) => ({ ...validPublication(d), confidence: 101 }), ['publication.confidence']],
      ['a validity that ends before it starts', (d) => ({ ...validPublication(d), validUntilMs: 1 }), ['publication.validUntilMs']],
      ['free text as event id', (d) => ({ ...validPublication(d), eventId: 'breach at shop on Main St' }), ['publication.eventId', 'not free text']],
      // The review published `--event 3569002484648863`: signed, replicated and shown in clear.
      ['a card number as event id', (d) => ({ ...validPublication(d), eventId: '3569002484648863' }), ['publication.eventId', 'looks like a card number']],
      ['a card number in groups inside an event id', (d) => ({ ...validPublication(d), eventId: 'evt-3569-0024-8464-8863' }), ['publication.eventId', 'looks like a card number']],
      ['a validity starting more than 5 minutes ahead', (d) => ({ ...validPublication(d), validFromMs: Date.now() + 10 * 60_000 }), ['publication.validFromMs', '5 minutes after now']],
      ['a validity ending more than 10 years ahead', (d) => ({ ...validPublication(d), validUntilMs: Date.now() + 11 * 365 * 86_400_000 }), ['publication.validUntilMs', '10 years']],
      ['a validity already past', (d) => ({ ...validPublication(d), validFromMs: 0, validUntilMs: 1 }), ['publication.validUntilMs', 'already past']],
      ['an int64-max validity end', (d) => ({ ...validPublication(d), validUntilMs: '9223372036854775807' }), ['publication.validUntilMs', `from 0 to ${Number.MAX_SAFE_INTEGER}`]],
      ['a non-PAN selector on a card', (d) => ({ ...validPublication(d), indicators: [{ selectors: [{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: d }] }] }), ['publication.indicators[0].selectors[0].type']],
      ['an oversize batch', (d) => ({ ...validPublication(d), indicators: Array.from({ length: 10_001 }, () => ({ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: d }] })) }), ['publication.indicators', 'limit is 10000']],
      ['no indicators', (d) => ({ ...validPublication(d), indicators: [] }), ['publication.indicators', 'at least one']],
    ];
    for (const [name, build, fragments] of cases) {
      it(`Publish with ${name}`, async () => {
        const before = await status();
        const digest = panSelector(key, randomPan());
        const error = await expectGrpcError(rawCall(stub(), 'Publish', { publication: build(digest), keyEpoch: 1 }, bearer(n.token)), grpc.status.INVALID_ARGUMENT, ...fragments);
        expect(error.details).to.not.contain('8863');
        const after = await status();
        expect(after).to.deep.include({ entries: before.entries, indicators: before.indicators });
        expect((await n.client.checkCards([])).length).to.equal(0);
      });
    }

    it('Publish under an epoch that is not active', async () => {
      const digest = panSelector(key, randomPan());
      await expectGrpcError(rawCall(stub(), 'Publish', { publication: validPublication(digest), keyEpoch: 9 }, bearer(n.token)), grpc.status.INVALID_ARGUMENT, 'keyEpoch', 'not active');
    });

    it('Check with a malformed selector or an oversize batch', async () => {
      await expectGrpcError(rawCall(stub(), 'Check', { selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: Buffer.alloc(16) }] }, bearer(n.token)), grpc.status.INVALID_ARGUMENT, 'selectors[0].digest', 'must be 32 bytes, got 16');
      await expectGrpcError(rawCall(stub(), 'Check', { selectors: [{ type: 99, digest: Buffer.alloc(32) }] }, bearer(n.token)), grpc.status.INVALID_ARGUMENT, 'selectors[0].type', 'unknown value 99');
      const many = Array.from({ length: 10_001 }, () => ({ type: 'SELECTOR_TYPE_PAN', digest: Buffer.alloc(32, 1) }));
      await expectGrpcError(rawCall(stub(), 'Check', { selectors: many }, bearer(n.token)), grpc.status.INVALID_ARGUMENT, 'selectors', 'limit is 10000');
    });

    it('Check answers NOT LISTED for a card\'s digest sent as a merchant selector, and refuses a type no kind uses', async () => {
      const pan = randomPan();
      await n.client.publishCompromisedCards([pan], { reason: 'phishing' });
      const digest = panSelector(key, pan);
      const check = (type: string) => rawCall<{ results: { listed: boolean }[] }>(stub(), 'Check', { selectors: [{ type, digest }] }, bearer(n.token));
      expect((await check('SELECTOR_TYPE_PAN')).results[0]?.listed, 'as a PAN selector').to.equal(true);
      for (const type of ['SELECTOR_TYPE_MERCHANT_DOMAIN', 'SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER', 'SELECTOR_TYPE_MERCHANT_ACQUIRER_MID']) {
        expect((await check(type)).results[0]?.listed, type).to.equal(false);
      }
      await expectGrpcError(check('SELECTOR_TYPE_BIN'), grpc.status.INVALID_ARGUMENT, 'selectors[0].type', 'no indicator kind uses');
    });

    it('Retract of a card\'s digest under a merchant kind and type retracts nothing', async () => {
      const pan = randomPan();
      await n.client.publishCompromisedCards([pan], { reason: 'phishing' });
      const before = await status();
      const retraction = { kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT', selectors: [{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: panSelector(key, pan) }], reason: 'RETRACT_REASON_FALSE_POSITIVE' };
      const outcome = await rawCall<{ retracted: number; notListed: number }>(stub(), 'Retract', retraction, bearer(n.token));
      expect(outcome).to.deep.include({ retracted: 0, notListed: 1 });
      expect((await status()).entries).to.equal(before.entries);
      expect((await n.client.checkCard(pan)).listed).to.equal(true);
    });

    it('Retract with a bad reason', async () => {
      const before = await status();
      await expectGrpcError(
        rawCall(stub(), 'Retract', { kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: Buffer.alloc(32, 2) }], reason: 42 }, bearer(n.token)),
        grpc.status.INVALID_ARGUMENT,
        'request.reason',
      );
      expect((await status()).entries).to.equal(before.entries);
    });

    it('a merchant listing by a PSP is refused: only acquirers list merchants', async () => {
      const publication = {
        ...validPublication(Buffer.alloc(32, 3)),
        kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT',
        reason: 'REASON_CODE_LAUNDERING',
        indicators: [{ selectors: [{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: Buffer.alloc(32, 3) }] }],
      };
      await expectGrpcError(rawCall(stub(), 'Publish', { publication, keyEpoch: 1 }, bearer(n.token)), grpc.status.PERMISSION_DENIED, 'psp-c');
    });

    it('calls without the client token, or with a wrong one, are refused', async () => {
      await expectGrpcError(rawCall(stub(), 'Status', {}, new grpc.Metadata()), grpc.status.UNAUTHENTICATED, 'authorization');
      await expectGrpcError(rawCall(stub(), 'GetHashingKeys', {}, bearer('not-the-token-at-all')), grpc.status.UNAUTHENTICATED, 'not accepted');
    });
  });

  it('status reports the feed head, counts and the filter', async () => {
    const s = await n.client.status();
    expect(s.member).to.equal('psp-c');
    expect(s.roles).to.deep.equal(['psp']);
    expect(s.ownFeed?.seq).to.be.greaterThan(5);
    expect(s.ownFeed?.headHash.length).to.equal(32);
    expect(s.indicators).to.be.greaterThan(2400);
    expect(s.filter?.hashes).to.equal(20);
    expect(s.filter?.fill).to.be.greaterThan(0).and.lessThan(0.1);
    expect(s.filter?.estimatedFpRate).to.be.lessThan(1e-6);
    expect(s.keyEpoch).to.equal(1);
  });

  it('a Bloom-filter false positive is confirmed in SQLite: a tiny filter passes a card never listed, and the raw listed flag is false', async () => {
    const tiny = await startInProcessNode(await makeConsortium(), 'issuer-a', { filter: { capacity: 1000, targetFpRate: 0.09 } });
    try {
      const listed = randomPans(1000);
      expect((await tiny.client.publishCompromisedCards(listed, { reason: 'phishing' })).accepted).to.equal(1000);
      expect((await tiny.client.status()).filter?.estimatedFpRate).to.be.greaterThan(0.01);
      const key = (await tiny.client.hashingKeys())[0]?.key as Uint8Array;
      const listedDigests = new Set(listed.map((p) => panSelector(key, p).toString('hex')));
      // About one random card in eleven passes this filter; 2,000 tries miss one with probability ~1e-80.
      let falsePositive: Buffer | undefined;
      for (let i = 0; i < 2000 && !falsePositive; i++) {
        const digest = panSelector(key, randomPan());
        if (!listedDigests.has(digest.toString('hex')) && tiny.parts.index.mayContain(digest)) falsePositive = digest;
      }
      expect(falsePositive, 'a selector the filter passes but no listing has').to.not.equal(undefined);
      const stub = rawExchange(tiny.target);
      const selectors = [{ type: 'SELECTOR_TYPE_PAN', digest: falsePositive }, { type: 'SELECTOR_TYPE_PAN', digest: panSelector(key, listed[0] as string) }];
      const { results } = await rawCall<{ results: { listed: boolean; listingMembers: number; evidence: unknown[] }[] }>(stub, 'Check', { selectors }, bearer(tiny.token));
      stub.close();
      expect(results[0], 'the false positive').to.deep.include({ listed: false, listingMembers: 0, evidence: [] });
      expect(results[1]?.listed, 'a listed card (control)').to.equal(true);
    } finally {
      await tiny.stop();
    }
  });

  it('no internal message leaks when the database fails', async () => {
    const victim = await startInProcessNode(await makeConsortium(), 'issuer-a');
    try {
      // Make every write fail inside SQLite: the client must see a generic INTERNAL.
      (victim.node as unknown as { store: { db: { exec(sql: string): void } } }).store.db.exec('DROP TABLE selectors_recent');
      const error = await expectGrpcError(victim.client.publishCompromisedCards([randomPan()], { reason: 'phishing' }).catch((e: MamoriClientError) => {
        throw Object.assign(new Error(e.message), { code: grpc.status.INTERNAL, details: e.message });
      }), grpc.status.INTERNAL);
      expect(error.details).to.not.match(/selectors|SQLITE|no such table/i);
      expect(victim.logLines.join('\n')).to.match(/no such table/);
    } finally {
      await victim.stop();
    }
  });

});

describe('privacy of a node at rest', function () {
  let p: InProcessNode;
  before(async () => {
    await sodiumReady();
    p = await startInProcessNode(await makeConsortium(), 'issuer-a');
  });
  after(async () => {
    await p?.stop();
  });

  it('keeps key material and card numbers out of the database and the logs', async () => {
    const pans = randomPans(20);
    await p.client.publishCompromisedCards(pans, { reason: 'phishing' });
    await p.client.checkCards(pans);
    const key = Buffer.from((await p.client.hashingKeys())[0]?.key as Uint8Array);
    p.parts.close(); // flush the snapshot, checkpoint nothing more
    const blobs = fs.readdirSync(p.dataDir).map((f) => fs.readFileSync(path.join(p.dataDir, f)));
    const logs = Buffer.from(p.logLines.join('\n'));
    for (const haystack of [...blobs, logs]) {
      for (const pan of pans) expect(haystack.includes(pan)).to.equal(false);
      expect(haystack.includes(key)).to.equal(false);
      expect(haystack.includes(key.toString('hex'))).to.equal(false);
      expect(haystack.includes(key.toString('base64'))).to.equal(false);
    }
    expect(blobs.length).to.be.greaterThan(0);
  });
});
