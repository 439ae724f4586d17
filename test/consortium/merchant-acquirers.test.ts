// Two acquirers list the same terminated merchant, each by the fields it knows, in real node
// processes over mutual TLS. Screening at a third member names both listings with their own
// fields and reasons; neither acquirer can retract or amend the other's listing; a listing
// retracted by its own acquirer disappears at every node; an issuer cannot list a merchant.
import { expect } from 'chai';
import { MamoriClientError } from '../../client-sdk/src/errors';
import type { MerchantScreenResult } from '../../client-sdk/src/screening';
import type { DevMember } from '../../node/src/runtime/dev-consortium';
import { corporateNumberCheckDigit, type MerchantFields } from '../../proto/ts/merchant';
import { startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { waitFor } from '../helpers/wait';

const SECOND_ACQUIRER: DevMember = { id: 'acquirer-e', roles: ['acquirer'], binRanges: [] };
const MEMBERS = ['issuer-a', 'acquirer-b', 'psp-c', 'acquirer-e'];

const base = '401234567890';
const corporateNumber = `${corporateNumberCheckDigit(base)}${base}`;
/** What acquirer-b knows of the merchant: its corporate number, domain and phone. */
const knownToB: MerchantFields = { corporateNumber, domain: 'lucky-gift.example.jp', phone: '03-5555-0101' };
/** What acquirer-e knows: the same domain (another spelling), a name and address, another phone. */
const knownToE: MerchantFields = { domain: 'WWW.Lucky-Gift.Example.JP', name: '株式会社ラッキーギフト', address: '大阪府大阪市北区梅田1-1-1', phone: '06-6666-0202' };
/** What a third member screens with: everything either acquirer knows, in yet other spellings. */
const screened: MerchantFields = {
  corporateNumber: corporateNumber.replace(/(\d{4})/g, '$1-').replace(/-$/, ''),
  domain: 'lucky-gift.example.jp.',
  name: 'ﾗｯｷｰｷﾞﾌﾄ 株式会社',
  address: '大阪府大阪市北区梅田１－１－１',
  phone: '+81 3 5555 0101',
};

/** Each listing acquirer's matched fields and reasons, in a canonical order (origin, then sorted). */
const byOrigin = (result: MerchantScreenResult) =>
  Object.fromEntries(
    [...result.matches].sort((x, y) => x.origin.localeCompare(y.origin)).map((m) => [m.origin, { fields: [...m.fields].sort(), reasons: [...m.reasons].sort() }]),
  );

describe('consortium: two acquirers list the same merchant', function () {
  this.timeout(300_000);
  let c: ConsortiumProcesses;

  before(async () => {
    c = await startConsortium({ extraMembers: [SECOND_ACQUIRER] });
  });
  after(async () => {
    await c?.stopAll();
  });

  /** Waits until every member's node screens the merchant as expected (replication is asynchronous). */
  async function screeningEverywhere(expected: Record<string, { fields: string[]; reasons: string[] }>, what: string): Promise<void> {
    for (const member of MEMBERS) {
      await waitFor(
        async () => JSON.stringify(byOrigin(await c.client(member).screenMerchant(screened))) === JSON.stringify(expected),
        `${what} at ${member}`,
        60_000,
      );
    }
  }

  const listingOfB = { fields: ['corporateNumber', 'domain', 'phone'], reasons: ['REASON_CODE_EXCESSIVE_CHARGEBACKS'] };
  const listingOfE = { fields: ['domain', 'nameAddress'], reasons: ['REASON_CODE_LAUNDERING'] };

  it('a third member sees 2 distinct acquirers, each listing with its own matched fields and reason', async () => {
    const b = await c.client('acquirer-b').publishFraudulentMerchant(knownToB, { reason: 'excessive-chargebacks' });
    const e = await c.client('acquirer-e').publishFraudulentMerchant(knownToE, { reason: 'laundering' });
    expect(b.accepted).to.equal(1);
    expect(e.accepted).to.equal(1);
    await waitForFeed(c.client('psp-c'), 'acquirer-b', b.seq);
    await waitForFeed(c.client('psp-c'), 'acquirer-e', e.seq);

    const result = await c.client('psp-c').screenMerchant(screened);
    expect(result).to.deep.include({ listed: true, listingMembers: 2, action: 'decline' });
    expect(byOrigin(result)).to.deep.equal({ 'acquirer-b': listingOfB, 'acquirer-e': listingOfE });
    expect([...result.matched].sort()).to.deep.equal(['corporateNumber', 'domain', 'nameAddress', 'phone']);
    // acquirer-e's phone is not the one screened: it matched nothing.
    expect((await c.client('psp-c').screenMerchant({ phone: knownToE.phone })).matches.map((m) => m.origin)).to.deep.equal(['acquirer-e']);
    await screeningEverywhere({ 'acquirer-b': listingOfB, 'acquirer-e': listingOfE }, 'both listings');
  });

  it('acquirer-e cannot retract or amend acquirer-b\'s listing: not_listed, and the listing stands everywhere', async () => {
    const acquirerE = c.client('acquirer-e');
    // Only acquirer-b lists these two selectors: acquirer-e has nothing to retract.
    const retract = await acquirerE.retractMerchant({ corporateNumber, phone: knownToB.phone }, 'false-positive');
    expect(retract).to.include({ retracted: 0, notListed: 2 });
    // An amendment is a retraction then a new listing: the new listing is acquirer-e's own,
    // acquirer-b's keeps its fields and reason.
    const amend = await acquirerE.publishFraudulentMerchant({ corporateNumber }, { reason: 'collusion' });
    expect(amend.accepted).to.equal(1);
    const listingOfEAmended = { fields: ['corporateNumber', 'domain', 'nameAddress'], reasons: ['REASON_CODE_COLLUSION', 'REASON_CODE_LAUNDERING'] };
    await waitForFeed(c.client('issuer-a'), 'acquirer-e', amend.seq);
    const atIssuer = byOrigin(await c.client('issuer-a').screenMerchant(screened));
    expect(atIssuer['acquirer-b']).to.deep.equal(listingOfB);
    expect(atIssuer['acquirer-e']).to.deep.equal(listingOfEAmended);
    // acquirer-e takes back only what it listed: its corporate-number listing.
    expect(await acquirerE.retractMerchant({ corporateNumber }, 'false-positive')).to.include({ retracted: 1, notListed: 0 });
    await screeningEverywhere({ 'acquirer-b': listingOfB, 'acquirer-e': listingOfE }, 'acquirer-b\'s listing unchanged');
  });

  it('acquirer-b retracts its own listing: every node then shows only acquirer-e\'s', async () => {
    const retract = await c.client('acquirer-b').retractMerchant(knownToB, 'false-positive');
    expect(retract).to.include({ retracted: 3, notListed: 0 });
    await screeningEverywhere({ 'acquirer-e': listingOfE }, 'only acquirer-e\'s listing');
    const result = await c.client('psp-c').screenMerchant(screened);
    expect(result).to.deep.include({ listed: true, listingMembers: 1, action: 'review' });
    expect([...result.matched].sort()).to.deep.equal(['domain', 'nameAddress']);
  });

  it('an issuer listing a merchant is refused with PERMISSION_DENIED; nothing is signed', async () => {
    const issuer = c.client('issuer-a');
    const seqBefore = (await issuer.status()).ownFeed?.seq ?? 0;
    const error = await issuer.publishFraudulentMerchant({ domain: 'issuer-listed.example.jp' }, { reason: 'laundering' }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(MamoriClientError);
    expect((error as MamoriClientError).code).to.equal('PERMISSION_DENIED');
    expect((await issuer.status()).ownFeed?.seq ?? 0).to.equal(seqBefore);
    expect((await c.client('psp-c').screenMerchant({ domain: 'issuer-listed.example.jp' })).listed).to.equal(false);
  });
});
