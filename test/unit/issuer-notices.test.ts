// Issuer notices: how a publishing node routes compromised cards to their issuers without a BIN
// in the signed entry, what the notices reveal to other members (no issuer, a bucket size), and
// what acceptance refuses from a peer. Older entries in the named form still verify and open.
import { expect } from 'chai';
import { generateBoxKeyPair, type BoxKeyPair } from '../../node/src/crypto/epochs';
import { openSealed, sealTo } from '../../node/src/crypto/sealed-box';
import { IssuerNoticeKeys, routeToIssuers } from '../../node/src/exchange/issuer-routing';
import { signNextEntry } from '../../node/src/ledger/entry';
import {
  buildIssuerNotices,
  decodeNoticeIndexes,
  encodeNoticeIndexes,
  findIssuerNotice,
  MAX_ISSUER_NOTICES_PER_ENTRY,
  noticeSlots,
  openIssuerNotice,
  type IssuerNotice,
  type NoticeRecipient,
} from '../../node/src/ledger/issuer-notices';
import { validatePublication } from '../../node/src/ledger/validate';
import type { IssuerNotice__Output } from '../../proto/gen/mamori/v1/IssuerNotice';
import type { PublishIndicators__Output } from '../../proto/gen/mamori/v1/PublishIndicators';
import { sodiumReady } from '../../proto/ts/sodium';
import { issuerNoticeTag } from '../../proto/ts/trust/domains';
import { cardPublicationOutput, digest, expectMamoriError, makeMember, MemoryLedger, merchantPublication, type TestMember } from '../helpers/unit';

const cardsWithBins = (bins: string[]): PublishIndicators__Output => {
  const p = cardPublicationOutput({}, bins.map(() => [{ type: 'SELECTOR_TYPE_PAN', digest: digest() }]));
  p.indicators.forEach((indicator, i) => (indicator.bin = bins[i] ?? ''));
  return p;
};

describe('unit: issuer notices', () => {
  let issuerA: BoxKeyPair;
  let issuerD: BoxKeyPair;
  let acquirerB: BoxKeyPair;
  let pspBox: BoxKeyPair;
  let recipients: NoticeRecipient[];
  /** Each member's notice keys, with every member's box key as the consortium file gives it. */
  let keys: (box: BoxKeyPair) => IssuerNoticeKeys;
  let psp: IssuerNoticeKeys;

  before(async () => {
    await sodiumReady();
  });
  beforeEach(() => {
    issuerA = generateBoxKeyPair();
    issuerD = generateBoxKeyPair();
    acquirerB = generateBoxKeyPair();
    pspBox = generateBoxKeyPair();
    const boxKeys = new Map<string, Uint8Array>([
      ['issuer-a', issuerA.publicKey],
      ['issuer-d', issuerD.publicKey],
      ['acquirer-b', acquirerB.publicKey],
      ['psp-c', pspBox.publicKey],
    ]);
    keys = (box) => new IssuerNoticeKeys(box, (id) => boxKeys.get(id));
    psp = keys(pspBox);
    recipients = [
      { id: 'issuer-a', binRanges: ['454545', '35690012'], boxPublicKey: issuerA.publicKey },
      { id: 'issuer-d', binRanges: ['520000'], boxPublicKey: issuerD.publicKey },
    ];
  });

  /** The indexes psp-c's notices give `member` (holding `box`), as its node finds and opens them. */
  const indexesFor = (notices: readonly IssuerNotice[], member: string, box: BoxKeyPair, count: number, origin = 'psp-c') =>
    openIssuerNotice(notices, origin, member, count, keys(box));

  describe('building', () => {
    it('seals to each issuer the ascending indexes of its cards, matched on the 6-digit prefix', () => {
      const bins = ['454545', '520000', '35690099', '', '454546', '45454512', '52000'];
      const notices = buildIssuerNotices(bins.map((bin) => ({ bin })), recipients, psp);
      expect(notices).to.have.length(2);
      expect(indexesFor(notices, 'issuer-a', issuerA, bins.length)).to.deep.equal([0, 2, 5]);
      expect(indexesFor(notices, 'issuer-d', issuerD, bins.length)).to.deep.equal([1]);
    });

    it('notifies no one when no card falls in a range, or nobody owns ranges', () => {
      expect(buildIssuerNotices([{ bin: '411111' }, { bin: '' }, {}], recipients, psp)).to.deep.equal([]);
      expect(buildIssuerNotices([{ bin: '454545' }], [], psp)).to.deep.equal([]);
    });

    it('gives two issuers claiming the same range each their own notice', () => {
      const twin = { id: 'acquirer-b', binRanges: ['45454599'], boxPublicKey: acquirerB.publicKey };
      const notices = buildIssuerNotices([{ bin: '411111' }, { bin: '45454501' }], [...recipients, twin], psp);
      expect(notices).to.have.length(2);
      expect(indexesFor(notices, 'acquirer-b', acquirerB, 2)).to.deep.equal([1]);
      expect(indexesFor(notices, 'issuer-a', issuerA, 2)).to.deep.equal([1]);
      expect(indexesFor(notices, 'issuer-d', issuerD, 2)).to.equal(undefined);
    });

    it('a notice opens only with its issuer\'s key', () => {
      const [notice] = buildIssuerNotices([{ bin: '454545' }], recipients, psp);
      expect(notice).to.not.equal(undefined);
      expect(openSealed(notice?.sealed ?? Buffer.alloc(0), acquirerB), "acquirer-b's key").to.equal(undefined);
      expect(openSealed(notice?.sealed ?? Buffer.alloc(0), issuerD), "issuer-d's key").to.equal(undefined);
      expect(decodeNoticeIndexes(openSealed(notice?.sealed ?? Buffer.alloc(0), issuerA) ?? new Uint8Array(0), 1)).to.deep.equal([0]);
    });

    it('routeToIssuers clears every BIN and adds notices only to compromised cards', () => {
      const routed = routeToIssuers(cardsWithBins(['454545', '520000']), () => recipients, psp);
      expect(routed.indicators.map((i) => i.bin)).to.deep.equal(['', '']);
      expect(routed.issuerNotices).to.have.length(2);
      const merchant = { ...cardsWithBins(['454545']), kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT' as const };
      const routedMerchant = routeToIssuers(merchant, () => recipients, psp);
      expect(routedMerchant.issuerNotices).to.deep.equal([]);
      expect(routedMerchant.indicators.map((i) => i.bin)).to.deep.equal(['']);
    });

    it('refuses a publication whose cards would notify more issuers than a peer accepts, before sealing', () => {
      const many = Array.from({ length: MAX_ISSUER_NOTICES_PER_ENTRY + 1 }, (_, i) => ({ id: `issuer-${i}`, binRanges: [String(400000 + i)], boxPublicKey: acquirerB.publicKey }));
      const error = expectMamoriError(() => buildIssuerNotices(many.map((r) => ({ bin: r.binRanges[0] })), many, psp), 'INVALID_ARGUMENT');
      expect(error.message).to.match(/65 issuers/);
      expect(buildIssuerNotices(many.slice(1).map((r) => ({ bin: r.binRanges[0] })), many, psp)).to.have.length(MAX_ISSUER_NOTICES_PER_ENTRY);
    });

    it('decoding refuses an empty, ragged, unordered or out-of-range index list, or an index after padding', () => {
      expect(decodeNoticeIndexes(new Uint8Array(0), 4)).to.equal(undefined);
      expect(decodeNoticeIndexes(new Uint8Array(5), 4)).to.equal(undefined);
      expect(decodeNoticeIndexes(encodeNoticeIndexes([2, 1]), 4)).to.equal(undefined);
      expect(decodeNoticeIndexes(encodeNoticeIndexes([1, 1]), 4)).to.equal(undefined);
      expect(decodeNoticeIndexes(encodeNoticeIndexes([0, 4]), 4)).to.equal(undefined);
      expect(decodeNoticeIndexes(encodeNoticeIndexes([0, 3]), 4)).to.deep.equal([0, 3]);
      expect(decodeNoticeIndexes(encodeNoticeIndexes([0, 3], 8), 4)).to.deep.equal([0, 3]);
      expect(decodeNoticeIndexes(encodeNoticeIndexes([], 4), 4), 'padding only').to.equal(undefined);
      const indexAfterPadding = Buffer.concat([encodeNoticeIndexes([0], 2), encodeNoticeIndexes([1])]);
      expect(decodeNoticeIndexes(indexAfterPadding, 4)).to.equal(undefined);
    });
  });

  describe('what other members see (issue 12, point 7)', () => {
    it('a notice names no issuer: only its issuer recognises it, by a tag keyed by the origin and the issuer', () => {
      const bins = ['454545', '520000', '454545'];
      const notices = buildIssuerNotices(bins.map((bin) => ({ bin })), recipients, psp);
      expect(notices.map((n) => n.issuer)).to.deep.equal(['', '']);
      expect(notices.every((n) => n.tag.length === 16)).to.equal(true);
      const a = findIssuerNotice(notices, 'psp-c', 'issuer-a', keys(issuerA));
      const d = findIssuerNotice(notices, 'psp-c', 'issuer-d', keys(issuerD));
      expect(a).to.not.equal(undefined);
      expect(d).to.not.equal(undefined);
      expect(a).to.not.equal(d);
      // A member that is sent nothing recognises nothing, and cannot open what is there.
      expect(findIssuerNotice(notices, 'psp-c', 'acquirer-b', keys(acquirerB))).to.equal(undefined);
      expect(notices.map((n) => openSealed(n.sealed, acquirerB))).to.deep.equal([undefined, undefined]);
      // Sorted by tag: the order says nothing of the consortium file's order of issuers.
      expect(Buffer.compare(notices[0]?.tag ?? Buffer.alloc(0), notices[1]?.tag ?? Buffer.alloc(0))).to.equal(-1);
    });

    it('tags are fresh per notice: an issuer\'s notices in two entries share no tag, and neither is recognised under another origin', () => {
      const first = buildIssuerNotices([{ bin: '454545' }], recipients, psp);
      const second = buildIssuerNotices([{ bin: '454545' }], recipients, psp);
      expect(first[0]?.tag.equals(second[0]?.tag ?? Buffer.alloc(0))).to.equal(false);
      // acquirer-b copying psp-c's notice into its own entry: issuer-a derives acquirer-b's key, no match.
      expect(findIssuerNotice(first, 'acquirer-b', 'issuer-a', keys(issuerA))).to.equal(undefined);
      expect(findIssuerNotice(first, 'psp-c', 'issuer-a', keys(issuerA))).to.not.equal(undefined);
      // An origin whose box key is unknown: nothing recognised, nothing thrown.
      expect(findIssuerNotice(first, 'issuer-gone', 'issuer-a', keys(issuerA))).to.equal(undefined);
    });

    it('the sealed size shows a power-of-two bucket of at least 4 cards, not the count', () => {
      expect([1, 2, 3, 4, 5, 8, 9, 16, 17, 100, 10_000].map(noticeSlots)).to.deep.equal([4, 4, 4, 4, 8, 8, 16, 16, 32, 128, 16_384]);
      const sizeFor = (cards: number) => {
        const notices = buildIssuerNotices(Array.from({ length: cards }, () => ({ bin: '454545' })), recipients, psp);
        return notices[0]?.sealed.length;
      };
      expect([1, 2, 3, 4].map(sizeFor), 'one to four cards').to.deep.equal([64, 64, 64, 64]);
      expect([5, 8].map(sizeFor)).to.deep.equal([80, 80]);
      expect(sizeFor(100)).to.equal(48 + 4 * 128);
      // The padding opens to the same indexes.
      const [notice] = buildIssuerNotices(Array.from({ length: 5 }, () => ({ bin: '454545' })), recipients, psp);
      expect(indexesFor(notice ? [notice] : [], 'issuer-a', issuerA, 5)).to.deep.equal([0, 1, 2, 3, 4]);
    });

    it('an older entry\'s named notice (issuer in clear, no padding) is still found and opened by its issuer', () => {
      const named: IssuerNotice__Output[] = [
        { issuer: 'issuer-d', tag: Buffer.alloc(0), sealed: sealTo(encodeNoticeIndexes([0]), issuerD.publicKey) },
        { issuer: 'issuer-a', tag: Buffer.alloc(0), sealed: sealTo(encodeNoticeIndexes([1, 2]), issuerA.publicKey) },
      ];
      expect(openIssuerNotice(named, 'psp-c', 'issuer-a', 3, keys(issuerA))).to.deep.equal([1, 2]);
      expect(openIssuerNotice(named, 'psp-c', 'acquirer-b', 3, keys(acquirerB))).to.equal(undefined);
    });
  });

  describe('validation', () => {
    let pspMember: TestMember;
    let ledger: MemoryLedger;
    beforeEach(() => {
      pspMember = makeMember('psp-c', ['psp']);
      ledger = new MemoryLedger([pspMember]);
    });
    const accept = (publication: PublishIndicators__Output) =>
      ledger.accept(signNextEntry(pspMember.id, ledger.head(pspMember.id), 1, { publishIndicators: publication }, pspMember.keys.secretKey));
    const notice = (issuer: string, sealedBytes = 52): IssuerNotice__Output => ({ issuer, tag: Buffer.alloc(0), sealed: Buffer.alloc(sealedBytes, 1) });
    const tagged = (tagByte: number, sealedBytes = 64, tagBytes = 16): IssuerNotice__Output => ({ issuer: '', tag: Buffer.alloc(tagBytes, tagByte), sealed: Buffer.alloc(sealedBytes, 1) });
    const refusal = (publication: PublishIndicators__Output) => expectMamoriError(() => accept(publication), 'MALFORMED_ENTRY').message;
    const cards = (issuerNotices: IssuerNotice__Output[], count = 2) => ({ ...cardsWithBins(Array.from({ length: count }, () => '')), issuerNotices });

    it('accepts a routed publication from a peer, notices to members no longer (or never) in the file included', () => {
      const routed = routeToIssuers(
        cardsWithBins(['454545', '520000', '411111']),
        () => [...recipients, { id: 'issuer-gone', binRanges: ['411111'], boxPublicKey: acquirerB.publicKey }],
        psp,
      );
      const entry = accept(routed);
      expect(entry.publication?.issuerNotices).to.have.length(3);
      expect(entry.publication?.issuerNotices.map((n) => n.issuer)).to.deep.equal(['', '', '']);
      expect(entry.publication?.indicators.every((i) => i.bin === '')).to.equal(true);
      expect(openIssuerNotice(entry.publication?.issuerNotices, 'psp-c', 'issuer-a', 3, keys(issuerA))).to.deep.equal([0]);
    });

    it('refuses a signed indicator carrying a BIN, naming the field', () => {
      expect(refusal(cardsWithBins(['', '454545']))).to.match(/publishIndicators\.indicators\[1\]\.bin/);
    });

    it('refuses malformed tagged notices: an issuer named, a tag not 16 bytes, tags out of order or repeated, a size off the buckets', () => {
      expect(refusal(cards([{ ...tagged(1), issuer: 'issuer-a' }]))).to.match(/issuerNotices\[0\]\.issuer/);
      expect(refusal(cards([tagged(1, 64, 15)]))).to.match(/issuerNotices\[0\]\.tag/);
      expect(refusal(cards([tagged(1, 64, 32)]))).to.match(/issuerNotices\[0\]\.tag/);
      expect(refusal(cards([tagged(2), tagged(1)]))).to.match(/issuerNotices\[1\]\.tag/);
      expect(refusal(cards([tagged(1), tagged(1)]))).to.match(/issuerNotices\[1\]\.tag/);
      expect(refusal(cards([tagged(1, 52)])), 'one slot: below the smallest bucket').to.match(/issuerNotices\[0\]\.sealed/);
      expect(refusal(cards([tagged(1, 48 + 4 * 6)], 8)), 'six slots: not a power of two').to.match(/issuerNotices\[0\]\.sealed/);
      expect(refusal(cards([tagged(1, 48 + 4 * 8)], 4)), 'a bucket above the entry\'s own').to.match(/issuerNotices\[0\]\.sealed/);
      expect(refusal(cards([tagged(1, 65)]))).to.match(/issuerNotices\[0\]\.sealed/);
      // One form per entry.
      expect(refusal(cards([tagged(1), notice('issuer-a')]))).to.match(/issuerNotices\[1\]\.issuer/);
      expect(refusal(cards([notice('issuer-a'), tagged(1, 52)]))).to.match(/issuerNotices\[1\]\.tag/);
      const many = Array.from({ length: MAX_ISSUER_NOTICES_PER_ENTRY + 1 }, (_, i) => tagged(i));
      expect(refusal(cards(many))).to.match(/issuerNotices/);
      const merchant = { ...merchantPublication(), issuerNotices: [tagged(1)] } as PublishIndicators__Output;
      expect(refusal(merchant)).to.match(/issuerNotices/);
    });

    it('accepts tagged notices up to the limit, each a bucket from 4 slots to the entry\'s own', () => {
      const many = Array.from({ length: MAX_ISSUER_NOTICES_PER_ENTRY }, (_, i) => tagged(i, i % 2 === 0 ? 64 : 80));
      expect(accept(cards(many, 5)).publication?.issuerNotices).to.have.length(MAX_ISSUER_NOTICES_PER_ENTRY);
      expect(accept(cards([tagged(1, 48 + 4 * 16_384)], 10_000)).seq).to.equal(2);
    });

    it('older entries: refuses malformed named notices, naming the field', () => {
      expect(refusal(cards([notice('Issuer A')]))).to.match(/issuerNotices\[0\]\.issuer/);
      expect(refusal(cards([notice('issuer-a'), notice('issuer-a')]))).to.match(/issuerNotices\[1\]\.issuer/);
      expect(refusal(cards([notice('issuer-a', 48)]))).to.match(/issuerNotices\[0\]\.sealed/);
      expect(refusal(cards([notice('issuer-a', 53)]))).to.match(/issuerNotices\[0\]\.sealed/);
      expect(refusal(cards([notice('issuer-a', 48 + 4 * 3)]))).to.match(/issuerNotices\[0\]\.sealed/);
      const many = Array.from({ length: MAX_ISSUER_NOTICES_PER_ENTRY + 1 }, (_, i) => notice(`issuer-${i}`));
      expect(refusal(cards(many))).to.match(/issuerNotices/);
    });

    it('older entries: accepts at most one named notice per issuer up to the limit, each 52..48+4n bytes', () => {
      const many = Array.from({ length: MAX_ISSUER_NOTICES_PER_ENTRY }, (_, i) => notice(`issuer-${i}`, i % 2 === 0 ? 52 : 56));
      expect(accept({ ...cardsWithBins(['', '']), issuerNotices: many }).publication?.issuerNotices).to.have.length(MAX_ISSUER_NOTICES_PER_ENTRY);
    });

    it('a client request keeps its BINs (6-8 digits) and may not send notices', () => {
      expect(validatePublication(cardsWithBins(['45454512', '']), 'publication').indicators[0]?.bin).to.equal('45454512');
      const error = expectMamoriError(() => validatePublication({ ...cardsWithBins(['454545']), issuerNotices: [tagged(1)] }, 'publication'), 'INVALID_ARGUMENT');
      expect(error.field).to.equal('publication.issuerNotices');
      expect(expectMamoriError(() => validatePublication(cardsWithBins(['4545']), 'publication'), 'INVALID_ARGUMENT').field).to.equal('publication.indicators[0].bin');
    });

    it('notices built for real fit the bounds acceptance checks, in both forms', () => {
      const named = sealTo(encodeNoticeIndexes([0, 1]), issuerA.publicKey);
      expect(accept({ ...cardsWithBins(['', '']), issuerNotices: [{ issuer: 'issuer-a', tag: Buffer.alloc(0), sealed: named }] }).seq).to.equal(1);
      const bins = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? '520000' : '454545'));
      const routed = routeToIssuers(cardsWithBins(bins), () => recipients, psp);
      expect(routed.issuerNotices.map((n) => n.sealed.length).sort((x, y) => x - y)).to.deep.equal([48 + 4 * 128, 48 + 4 * 256]);
      expect(accept(routed).seq).to.equal(2);
      // The tag is over the box's ephemeral key: swapping sealed bodies between notices breaks recognition.
      const [first, second] = routed.issuerNotices;
      const swapped = first && second ? [{ ...first, sealed: second.sealed }] : [];
      expect(findIssuerNotice(swapped, 'psp-c', 'issuer-a', keys(issuerA))).to.equal(undefined);
      expect(findIssuerNotice(swapped, 'psp-c', 'issuer-d', keys(issuerD))).to.equal(undefined);
      expect(issuerNoticeTag(Buffer.alloc(32), Buffer.alloc(32))).to.have.length(16);
    });
  });
});
