// Card-listing detection against a real SQLite store: one alert per entry of another origin
// with cards in this member's ranges, and entries committed while no detector ran (a crash
// between commit and alert) alerted at the next start, once.
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import pino from 'pino';
import { CardListingDetector } from '../../node/src/detection/card-listings';
import type { AcceptedEntry } from '../../node/src/ledger/acceptance';
import { signNextEntry } from '../../node/src/ledger/entry';
import { AlertStore } from '../../node/src/store/alert-store';
import { LedgerStore } from '../../node/src/store/ledger-store';
import { sodiumReady } from '../../proto/ts/sodium';
import { tempDir } from '../helpers/node-harness';
import { cardPublication, digest, makeMember, MemoryLedger, type TestMember } from '../helpers/unit';

class Commits extends EventEmitter<{ committed: [entries: readonly AcceptedEntry[]] }> {}

describe('unit: card-listing detection', () => {
  let psp: TestMember;
  let issuer: TestMember;
  let ledger: MemoryLedger;
  let store: LedgerStore;
  const silent = pino({ level: 'silent' });

  before(async () => {
    await sodiumReady();
  });
  beforeEach(() => {
    psp = makeMember('psp-c', ['psp']);
    issuer = makeMember('issuer-a', ['issuer']);
    ledger = new MemoryLedger([psp, issuer]);
    store = LedgerStore.open(path.join(tempDir(), 'mamori.db'));
  });
  afterEach(() => store.close());

  const publish = (m: TestMember, cards: { digest: Buffer; bin: string }[]): AcceptedEntry => {
    const publication = cardPublication(cards.map((c) => c.digest));
    publication.indicators = cards.map((c) => ({ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: c.digest }], bin: c.bin }));
    const entry = ledger.accept(signNextEntry(m.id, ledger.head(m.id), 1, { publishIndicators: publication }, m.keys.secretKey));
    store.append(entry);
    return entry;
  };
  const alerts = () => new AlertStore(store.db).alertsAfter('issuer-a', 0, 10);
  const detector = () => new CardListingDetector(new AlertStore(store.db), store.db, 'issuer-a', () => ['45454500', '356900'], silent);

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
});
