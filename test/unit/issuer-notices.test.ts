// Issuer notices: how a publishing node routes compromised cards to their issuers without a BIN
// in the signed entry, and what acceptance refuses from a peer.
import { expect } from 'chai';
import { generateBoxKeyPair, type BoxKeyPair } from '../../node/src/crypto/epochs';
import { openSealed, sealTo } from '../../node/src/crypto/sealed-box';
import { routeToIssuers } from '../../node/src/exchange/issuer-routing';
import { signNextEntry } from '../../node/src/ledger/entry';
import {
  buildIssuerNotices,
  decodeNoticeIndexes,
  encodeNoticeIndexes,
  MAX_ISSUER_NOTICES_PER_ENTRY,
  type NoticeRecipient,
} from '../../node/src/ledger/issuer-notices';
import { validatePublication } from '../../node/src/ledger/validate';
import type { IssuerNotice__Output } from '../../proto/gen/mamori/v1/IssuerNotice';
import type { PublishIndicators__Output } from '../../proto/gen/mamori/v1/PublishIndicators';
import { sodiumReady } from '../../proto/ts/sodium';
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
  let recipients: NoticeRecipient[];

  before(async () => {
    await sodiumReady();
  });
  beforeEach(() => {
    issuerA = generateBoxKeyPair();
    issuerD = generateBoxKeyPair();
    acquirerB = generateBoxKeyPair();
    recipients = [
      { id: 'issuer-a', binRanges: ['454545', '35690012'], boxPublicKey: issuerA.publicKey },
      { id: 'issuer-d', binRanges: ['520000'], boxPublicKey: issuerD.publicKey },
    ];
  });

  const opened = (notice: { sealed: Buffer } | undefined, box: BoxKeyPair, count: number) => {
    const plaintext = notice && openSealed(notice.sealed, box);
    return plaintext && decodeNoticeIndexes(plaintext, count);
  };

  describe('building', () => {
    it('seals to each issuer the ascending indexes of its cards, matched on the 6-digit prefix', () => {
      const bins = ['454545', '520000', '35690099', '', '454546', '45454512', '52000'];
      const notices = buildIssuerNotices(bins.map((bin) => ({ bin })), recipients);
      expect(notices.map((n) => n.issuer)).to.deep.equal(['issuer-a', 'issuer-d']);
      expect(opened(notices[0], issuerA, bins.length)).to.deep.equal([0, 2, 5]);
      expect(opened(notices[1], issuerD, bins.length)).to.deep.equal([1]);
    });

    it('notifies no one when no card falls in a range, or nobody owns ranges', () => {
      expect(buildIssuerNotices([{ bin: '411111' }, { bin: '' }, {}], recipients)).to.deep.equal([]);
      expect(buildIssuerNotices([{ bin: '454545' }], [])).to.deep.equal([]);
    });

    it('gives two issuers claiming the same range each their own notice', () => {
      const twin = { id: 'issuer-e', binRanges: ['45454599'], boxPublicKey: acquirerB.publicKey };
      const notices = buildIssuerNotices([{ bin: '411111' }, { bin: '45454501' }], [...recipients, twin]);
      expect(notices.map((n) => n.issuer)).to.deep.equal(['issuer-a', 'issuer-e']);
      expect(opened(notices[1], acquirerB, 2)).to.deep.equal([1]);
    });

    it('a notice opens only with its issuer\'s key', () => {
      const [notice] = buildIssuerNotices([{ bin: '454545' }], recipients);
      expect(notice).to.not.equal(undefined);
      expect(openSealed(notice?.sealed ?? Buffer.alloc(0), acquirerB), "acquirer-b's key").to.equal(undefined);
      expect(openSealed(notice?.sealed ?? Buffer.alloc(0), issuerD), "issuer-d's key").to.equal(undefined);
      expect(opened(notice, issuerA, 1)).to.deep.equal([0]);
    });

    it('routeToIssuers clears every BIN and adds notices only to compromised cards', () => {
      const routed = routeToIssuers(cardsWithBins(['454545', '520000']), () => recipients);
      expect(routed.indicators.map((i) => i.bin)).to.deep.equal(['', '']);
      expect(routed.issuerNotices.map((n) => n.issuer)).to.deep.equal(['issuer-a', 'issuer-d']);
      const merchant = { ...cardsWithBins(['454545']), kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT' as const };
      const routedMerchant = routeToIssuers(merchant, () => recipients);
      expect(routedMerchant.issuerNotices).to.deep.equal([]);
      expect(routedMerchant.indicators.map((i) => i.bin)).to.deep.equal(['']);
    });

    it('decoding refuses an empty, ragged, unordered or out-of-range index list', () => {
      expect(decodeNoticeIndexes(new Uint8Array(0), 4)).to.equal(undefined);
      expect(decodeNoticeIndexes(new Uint8Array(5), 4)).to.equal(undefined);
      expect(decodeNoticeIndexes(encodeNoticeIndexes([2, 1]), 4)).to.equal(undefined);
      expect(decodeNoticeIndexes(encodeNoticeIndexes([1, 1]), 4)).to.equal(undefined);
      expect(decodeNoticeIndexes(encodeNoticeIndexes([0, 4]), 4)).to.equal(undefined);
      expect(decodeNoticeIndexes(encodeNoticeIndexes([0, 3]), 4)).to.deep.equal([0, 3]);
    });
  });

  describe('validation', () => {
    let psp: TestMember;
    let ledger: MemoryLedger;
    beforeEach(() => {
      psp = makeMember('psp-c', ['psp']);
      ledger = new MemoryLedger([psp]);
    });
    const accept = (publication: PublishIndicators__Output) =>
      ledger.accept(signNextEntry(psp.id, ledger.head(psp.id), 1, { publishIndicators: publication }, psp.keys.secretKey));
    const notice = (issuer: string, sealedBytes = 52): IssuerNotice__Output => ({ issuer, sealed: Buffer.alloc(sealedBytes, 1) });
    const refusal = (publication: PublishIndicators__Output) => expectMamoriError(() => accept(publication), 'MALFORMED_ENTRY').message;

    it('accepts a routed publication from a peer, notices to members no longer (or never) in the file included', () => {
      const routed = routeToIssuers(cardsWithBins(['454545', '520000', '411111']), () => [
        ...recipients,
        { id: 'issuer-gone', binRanges: ['411111'], boxPublicKey: acquirerB.publicKey },
      ]);
      const entry = accept(routed);
      expect(entry.publication?.issuerNotices.map((n) => n.issuer)).to.deep.equal(['issuer-a', 'issuer-d', 'issuer-gone']);
      expect(entry.publication?.indicators.every((i) => i.bin === '')).to.equal(true);
    });

    it('refuses a signed indicator carrying a BIN, naming the field', () => {
      expect(refusal(cardsWithBins(['', '454545']))).to.match(/publishIndicators\.indicators\[1\]\.bin/);
    });

    it('refuses malformed notices, naming the field', () => {
      const cards = (issuerNotices: IssuerNotice__Output[], count = 2) => ({ ...cardsWithBins(Array.from({ length: count }, () => '')), issuerNotices });
      expect(refusal(cards([notice('Issuer A')]))).to.match(/issuerNotices\[0\]\.issuer/);
      expect(refusal(cards([notice('issuer-a'), notice('issuer-a')]))).to.match(/issuerNotices\[1\]\.issuer/);
      expect(refusal(cards([notice('issuer-a', 48)]))).to.match(/issuerNotices\[0\]\.sealed/);
      expect(refusal(cards([notice('issuer-a', 53)]))).to.match(/issuerNotices\[0\]\.sealed/);
      expect(refusal(cards([notice('issuer-a', 48 + 4 * 3)]))).to.match(/issuerNotices\[0\]\.sealed/);
      const many = Array.from({ length: MAX_ISSUER_NOTICES_PER_ENTRY + 1 }, (_, i) => notice(`issuer-${i}`));
      expect(refusal(cards(many))).to.match(/issuerNotices/);
      const merchant = { ...merchantPublication(), issuerNotices: [notice('issuer-a')] } as PublishIndicators__Output;
      expect(refusal(merchant)).to.match(/issuerNotices/);
    });

    it('accepts at most one notice per issuer up to the limit, each 52..48+4n bytes', () => {
      const many = Array.from({ length: MAX_ISSUER_NOTICES_PER_ENTRY }, (_, i) => notice(`issuer-${i}`, i % 2 === 0 ? 52 : 56));
      expect(accept({ ...cardsWithBins(['', '']), issuerNotices: many }).publication?.issuerNotices).to.have.length(MAX_ISSUER_NOTICES_PER_ENTRY);
    });

    it('a client request keeps its BINs (6-8 digits) and may not send notices', () => {
      expect(validatePublication(cardsWithBins(['45454512', '']), 'publication').indicators[0]?.bin).to.equal('45454512');
      const error = expectMamoriError(() => validatePublication({ ...cardsWithBins(['454545']), issuerNotices: [notice('issuer-a')] }, 'publication'), 'INVALID_ARGUMENT');
      expect(error.field).to.equal('publication.issuerNotices');
      expect(expectMamoriError(() => validatePublication(cardsWithBins(['4545']), 'publication'), 'INVALID_ARGUMENT').field).to.equal('publication.indicators[0].bin');
    });

    it('a notice built for real fits the bounds acceptance checks', () => {
      const sealed = sealTo(encodeNoticeIndexes([0, 1]), issuerA.publicKey);
      expect(accept({ ...cardsWithBins(['', '']), issuerNotices: [{ issuer: 'issuer-a', sealed }] }).seq).to.equal(1);
    });
  });
});
