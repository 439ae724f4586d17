// Card-listing detection against a real SQLite store: one alert per entry of another origin
// with a notice sealed to this member, and entries committed while no detector ran (a crash
// between commit and alert) alerted at the next start, once. Entries are built as a publishing
// node builds them: cards' BINs turned into issuer notices, no BIN left in the signed body.
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import pino from 'pino';
import { generateBoxKeyPair, type BoxKeyPair } from '../../node/src/crypto/epochs';
import { openSealed, sealTo } from '../../node/src/crypto/sealed-box';
import { CardListingDetector } from '../../node/src/detection/card-listings';
import { IssuerNoticeKeys, routeToIssuers } from '../../node/src/exchange/issuer-routing';
import { encodeNoticeIndexes, findIssuerNotice, noticeSlots } from '../../node/src/ledger/issuer-notices';
import { issuerNoticeTag } from '../../proto/ts/trust/domains';
import type { AcceptedEntry } from '../../node/src/ledger/acceptance';
import { signNextEntry } from '../../node/src/ledger/entry';
import { AlertStore } from '../../node/src/store/alert-store';
import { LedgerStore } from '../../node/src/store/ledger-store';
import { sodiumReady } from '../../proto/ts/sodium';
import { tempDir } from '../helpers/node-harness';
import { cardPublicationOutput, digest, makeMember, MemoryLedger, type TestMember } from '../helpers/unit';
import type { IssuerNotice__Output } from '../../proto/gen/mamori/v1/IssuerNotice';

class Commits extends EventEmitter<{ committed: [entries: readonly AcceptedEntry[]] }> {}

describe('unit: card-listing detection', () => {
  let psp: TestMember;
  let issuer: TestMember;
  let ledger: MemoryLedger;
  let store: LedgerStore;
  let issuerBox: BoxKeyPair;
  let otherIssuerBox: BoxKeyPair;
  let pspBox: BoxKeyPair;
  let noticeKeys: (box: BoxKeyPair) => IssuerNoticeKeys;
  const silent = pino({ level: 'silent' });

  before(async () => {
    await sodiumReady();
  });
  beforeEach(() => {
    psp = makeMember('psp-c', ['psp']);
    issuer = makeMember('issuer-a', ['issuer']);
    ledger = new MemoryLedger([psp, issuer]);
    store = LedgerStore.open(path.join(tempDir(), 'mamori.db'));
    issuerBox = generateBoxKeyPair();
    otherIssuerBox = generateBoxKeyPair();
    pspBox = generateBoxKeyPair();
    const boxKeys = new Map([
      ['psp-c', pspBox.publicKey],
      ['issuer-a', issuerBox.publicKey],
      ['issuer-d', otherIssuerBox.publicKey],
    ]);
    noticeKeys = (box) => new IssuerNoticeKeys(box, (id) => boxKeys.get(id));
  });
  afterEach(() => store.close());

  const recipients = () => [
    { id: 'issuer-a', binRanges: ['45454500', '356900'], boxPublicKey: issuerBox.publicKey },
    { id: 'issuer-d', binRanges: ['520000'], boxPublicKey: otherIssuerBox.publicKey },
  ];
  const signAndStore = (m: TestMember, publication: ReturnType<typeof cardPublicationOutput>): AcceptedEntry => {
    const entry = ledger.accept(signNextEntry(m.id, ledger.head(m.id), 1, { publishIndicators: publication }, m.keys.secretKey));
    store.append(entry);
    return entry;
  };
  const publish = (m: TestMember, cards: { digest: Buffer; bin: string }[]): AcceptedEntry => {
    const request = cardPublicationOutput({}, cards.map((c) => [{ type: 'SELECTOR_TYPE_PAN', digest: c.digest }]));
    request.indicators.forEach((indicator, i) => (indicator.bin = cards[i]?.bin ?? ''));
    return signAndStore(m, routeToIssuers(request, recipients, noticeKeys(m.id === 'psp-c' ? pspBox : issuerBox)));
  };
  const publishWithNotices = (m: TestMember, cards: number, issuerNotices: IssuerNotice__Output[]): AcceptedEntry =>
    signAndStore(m, cardPublicationOutput({ issuerNotices }, Array.from({ length: cards }, () => [{ type: 'SELECTOR_TYPE_PAN' as const, digest: digest() }])));
  const alerts = () => new AlertStore(store.db).alertsAfter('issuer-a', 0, 10);
  const detector = () =>
    new CardListingDetector(new AlertStore(store.db), store.db, 'issuer-a', () => ['45454500', '356900'], silent, noticeKeys(issuerBox));

  it('alerts once per entry with the digests of cards whose 6-digit BIN is in a range of this member', async () => {
    const commits = new Commits();
    const d = detector();
    d.attach(commits);
    await d.reexamined;
    const ours = [{ digest: digest(), bin: '454545' }, { digest: digest(), bin: '35690012' }];
    const entry = publish(psp, [{ digest: digest(), bin: '520000' }, ...ours, { digest: digest(), bin: '' }, { digest: digest(), bin: '454546' }]);
    commits.emit('committed', [entry]);
    commits.emit('committed', [entry]);
    const raised = alerts();
    expect(raised).to.have.length(1);
    expect(raised[0]?.payload).to.include({ origin: 'psp-c', seq: 1, cards: 2, keyEpoch: 1, reason: 'REASON_CODE_PHISHING' });
    expect(raised[0]?.payload.panDigests).to.deep.equal(ours.map((c) => c.digest.toString('hex')));
  });

  it("ignores this member's own listings and entries without its cards", async () => {
    const commits = new Commits();
    const d = detector();
    d.attach(commits);
    await d.reexamined;
    commits.emit('committed', [publish(issuer, [{ digest: digest(), bin: '454545' }]), publish(psp, [{ digest: digest(), bin: '411111' }])]);
    expect(alerts()).to.deep.equal([]);
  });

  it('alerts at start-up for entries committed while no detector ran, and only once across starts', async () => {
    publish(psp, [{ digest: digest(), bin: '454545' }]);
    publish(psp, [{ digest: digest(), bin: '520000' }]);
    publish(psp, [{ digest: digest(), bin: '356900' }, { digest: digest(), bin: '356900' }]);
    const first = detector();
    first.attach(new Commits());
    expect(await first.reexamined).to.equal(3);
    expect(alerts().map((a) => [a.payload.seq, a.payload.cards])).to.deep.equal([[1, 1], [3, 2]]);
    const second = detector();
    second.attach(new Commits());
    expect(await second.reexamined, 'entries still without an alert').to.equal(1);
    expect(alerts()).to.have.length(2);
  });
  /** A notice in the tagged form, tagged by psp-c for `to` and sealed to `sealTo` (a different key models a wrong box). */
  const taggedNotice = (indexes: number[], slots: number, to: BoxKeyPair, sealedTo = to): IssuerNotice__Output => {
    const sealed = sealTo(encodeNoticeIndexes(indexes, slots), sealedTo.publicKey);
    return { issuer: '', tag: issuerNoticeTag(noticeKeys(pspBox).tagKeyTo(to.publicKey), sealed.subarray(0, 32)), sealed };
  };

  it('ignores a tagged notice sealed to another key or naming an index past the last card, and still alerts on the next entry', async () => {
    const commits = new Commits();
    const d = detector();
    d.attach(commits);
    await d.reexamined;
    const wrongKey = publishWithNotices(psp, 2, [taggedNotice([0], 4, issuerBox, otherIssuerBox)]);
    const pastTheEnd = publishWithNotices(psp, 2, [taggedNotice([0, 2], 4, issuerBox)]);
    const unordered = publishWithNotices(psp, 2, [taggedNotice([1, 0], 4, issuerBox)]);
    const good = publish(psp, [{ digest: digest(), bin: '454545' }]);
    commits.emit('committed', [wrongKey, pastTheEnd, unordered, good]);
    expect(alerts().map((a) => a.payload.seq)).to.deep.equal([good.seq]);
  });

  it('older entries (named notices, no padding): still accepted, still alert, and malformed ones are ignored', async () => {
    const commits = new Commits();
    const d = detector();
    d.attach(commits);
    await d.reexamined;
    const named = (indexes: number[], box: BoxKeyPair, issuerId = 'issuer-a') => ({ issuer: issuerId, tag: Buffer.alloc(0), sealed: sealTo(encodeNoticeIndexes(indexes), box.publicKey) });
    const wrongKey = publishWithNotices(psp, 2, [named([0], otherIssuerBox)]);
    const pastTheEnd = publishWithNotices(psp, 2, [named([0, 2], issuerBox)]);
    const unordered = publishWithNotices(psp, 2, [named([1, 0], issuerBox)]);
    const old = publishWithNotices(psp, 3, [named([0], otherIssuerBox, 'issuer-d'), named([1, 2], issuerBox)]);
    commits.emit('committed', [wrongKey, pastTheEnd, unordered, old]);
    const raised = alerts();
    expect(raised.map((a) => [a.payload.seq, a.payload.cards])).to.deep.equal([[old.seq, 2]]);
    expect(raised[0]?.payload.panDigests).to.deep.equal(old.publication?.indicators.slice(1).map((i) => Buffer.from(i.selectors[0]?.digest ?? []).toString('hex')));
  });

  it('an older named-form entry committed while no detector ran alerts at start-up', async () => {
    publishWithNotices(psp, 1, [{ issuer: 'issuer-a', tag: Buffer.alloc(0), sealed: sealTo(encodeNoticeIndexes([0]), issuerBox.publicKey) }]);
    const d = detector();
    d.attach(new Commits());
    expect(await d.reexamined).to.equal(1);
    expect(alerts().map((a) => a.payload.cards)).to.deep.equal([1]);
  });

  it('a one-card entry: the notice names no issuer and its size is the smallest bucket; only the issuer alerts', async () => {
    const entry = publish(psp, [{ digest: digest(), bin: '454545' }]);
    const [notice, ...rest] = entry.publication?.issuerNotices ?? [];
    expect(rest).to.deep.equal([]);
    expect(notice?.issuer).to.equal('');
    expect(notice?.sealed.length).to.equal(48 + 4 * noticeSlots(1));
    expect(findIssuerNotice(entry.publication?.issuerNotices, 'psp-c', 'issuer-d', noticeKeys(otherIssuerBox)), "issuer-d's node").to.equal(undefined);
    const d = detector();
    d.attach(new Commits());
    await d.reexamined;
    expect(alerts().map((a) => a.payload.cards)).to.deep.equal([1]);
  });

  it('signs no BIN: the notice to another issuer does not open with this issuer\'s key', () => {
    const entry = publish(psp, [{ digest: digest(), bin: '520000' }, { digest: digest(), bin: '454545' }]);
    const publication = entry.publication;
    expect(publication?.indicators.map((i) => i.bin)).to.deep.equal(['', '']);
    const toOther = findIssuerNotice(publication?.issuerNotices, 'psp-c', 'issuer-d', noticeKeys(otherIssuerBox));
    expect(toOther, 'notice for issuer-d').to.not.equal(undefined);
    expect(openSealed(Buffer.from(toOther?.sealed ?? []), issuerBox)).to.equal(undefined);
    expect(openSealed(Buffer.from(toOther?.sealed ?? []), otherIssuerBox)).to.deep.equal(new Uint8Array(encodeNoticeIndexes([0], 4)));
  });
});
