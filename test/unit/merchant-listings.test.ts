// Two acquirers list the same merchant (the dev consortium has one acquirer, so this runs at
// the acceptance level: signed entries, a real SQLite store, the verdict a check returns).
// Each listing is its own, counted once per acquirer; one acquirer's retraction or new
// listing never changes the other's; nobody can sign an entry in another acquirer's feed.
import { expect } from 'chai';
import * as path from 'node:path';
import { verdictFromListings } from '../../node/src/verdict/evidence';
import type { AcceptedEntry } from '../../node/src/ledger/acceptance';
import { signNextEntry } from '../../node/src/ledger/entry';
import { LedgerStore } from '../../node/src/store/ledger-store';
import { sodiumReady } from '../../proto/ts/sodium';
import { tempDir } from '../helpers/node-harness';
import { digest, expectMamoriError, makeMember, MemoryLedger, merchantPublication, type TestMember } from '../helpers/unit';

describe('unit: the same merchant listed by two acquirers', () => {
  let first: TestMember;
  let second: TestMember;
  let issuer: TestMember;
  let ledger: MemoryLedger;
  let store: LedgerStore;
  const domain = digest();
  const phone = digest();
  const now = () => Date.now();

  before(async () => {
    await sodiumReady();
  });
  beforeEach(() => {
    first = makeMember('acquirer-b', ['acquirer']);
    second = makeMember('acquirer-d', ['acquirer']);
    issuer = makeMember('issuer-a', ['issuer']);
    ledger = new MemoryLedger([first, second, issuer]);
    store = LedgerStore.open(path.join(tempDir(), 'mamori.db'));
  });
  afterEach(() => store.close());

  const commit = (m: TestMember, operation: Parameters<typeof signNextEntry>[3], signer = m): AcceptedEntry => {
    const entry = ledger.accept(signNextEntry(m.id, ledger.head(m.id), 1, operation, signer.keys.secretKey));
    store.append(entry);
    return entry;
  };
  const list = (m: TestMember, reason: string, selectors = [domain, phone]) =>
    commit(m, {
      publishIndicators: merchantPublication({
        reason: reason as never,
        validFromMs: now() - 1000,
        validUntilMs: now() + 3_600_000,
        indicators: [{ selectors: selectors.map((d, i) => ({ type: i === 0 ? 'SELECTOR_TYPE_MERCHANT_DOMAIN' : 'SELECTOR_TYPE_MERCHANT_PHONE', digest: d })), bin: '' }],
      }),
    });
  const retract = (m: TestMember) =>
    commit(m, { retract: { kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT', reason: 'RETRACT_REASON_FALSE_POSITIVE', selectors: [{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: domain }] } });
  const verdict = (d = domain) => verdictFromListings(store.listings(d), now());
  /** (origin, reason) of each listing member, by origin (entries signed in one millisecond have no order by time). */
  const byOrigin = (d = domain) => verdict(d).evidence.map((e) => [e.origin, e.reason]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));

  it('a second acquirer listing the same merchant adds its own listing: two distinct listing members, each with its reason', () => {
    list(first, 'REASON_CODE_LAUNDERING');
    list(second, 'REASON_CODE_EXCESSIVE_FRAUD');
    expect(verdict().listingMembers).to.equal(2);
    expect(byOrigin()).to.deep.equal([
      ['acquirer-b', 'REASON_CODE_LAUNDERING'],
      ['acquirer-d', 'REASON_CODE_EXCESSIVE_FRAUD'],
    ]);
  });

  it("the second acquirer's retraction and new listing leave the first acquirer's listing as it was", () => {
    list(first, 'REASON_CODE_LAUNDERING');
    retract(second); // retracting what it never listed: accepted, changes nothing
    expect(byOrigin()).to.deep.equal([['acquirer-b', 'REASON_CODE_LAUNDERING']]);

    list(second, 'REASON_CODE_COLLUSION');
    retract(second);
    expect(byOrigin()).to.deep.equal([['acquirer-b', 'REASON_CODE_LAUNDERING']]);
    // Only the domain was retracted by acquirer-d: its phone listing stands beside acquirer-b's.
    expect(verdict(phone).listingMembers).to.equal(2);
  });

  it('the first acquirer amends its own listing (retract, list again) without touching the second one', () => {
    list(first, 'REASON_CODE_LAUNDERING');
    list(second, 'REASON_CODE_EXCESSIVE_FRAUD');
    retract(first);
    list(first, 'REASON_CODE_IDENTITY_THEFT', [domain]);
    expect(byOrigin()).to.deep.equal([
      ['acquirer-b', 'REASON_CODE_IDENTITY_THEFT'],
      ['acquirer-d', 'REASON_CODE_EXCESSIVE_FRAUD'],
    ]);
  });

  it("no entry in the first acquirer's feed can be signed by the second (BAD_SIGNATURE), and an issuer's merchant listing is refused", () => {
    list(first, 'REASON_CODE_LAUNDERING');
    const forged = signNextEntry(first.id, ledger.head(first.id), 1, { retract: { kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT', reason: 'RETRACT_REASON_FALSE_POSITIVE', selectors: [{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: domain }] } }, second.keys.secretKey);
    expectMamoriError(() => ledger.accept(forged), 'BAD_SIGNATURE');
    const byIssuer = signNextEntry(issuer.id, ledger.head(issuer.id), 1, { publishIndicators: merchantPublication() }, issuer.keys.secretKey);
    expectMamoriError(() => ledger.accept(byIssuer), 'ROLE_FORBIDS');
    expect(verdict().evidence.map((e) => e.origin)).to.deep.equal(['acquirer-b']);
  });
});
