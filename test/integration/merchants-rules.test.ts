// Merchant screening rules beyond the first match: near-misses that must not match, expiry
// enforced at check time (screenMerchant, Check, and card checks alike), amendment by the
// listing acquirer (retract, then list again), and who may list at all.
import { expect } from 'chai';
import { MamoriClientError } from '../../client-sdk/src/errors';
import type { CheckResponse__Output } from '../../proto/gen/mamori/v1/CheckResponse';
import { corporateNumberCheckDigit, merchantSelectors, type MerchantFields } from '../../proto/ts/merchant';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { randomPan } from '../helpers/cards';
import { bearer, makeConsortium, rawCall, rawExchange, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { waitFor } from '../helpers/wait';

const corporateNumber = (base: string) => `${corporateNumberCheckDigit(base)}${base}`;
/** A listing that lasts this long: short enough to watch it expire. */
const SHORT_MS = 3_000;
const shortDays = SHORT_MS / (24 * 3600 * 1000);

describe('merchant blacklist: near-misses, expiry, amendment, roles', function () {
  this.timeout(60_000);
  let layout: DevConsortiumLayout;
  let acquirer: InProcessNode;

  const listed: MerchantFields = {
    corporateNumber: corporateNumber('700000000001'),
    name: '株式会社さくら商事',
    address: '大阪府大阪市北区梅田1-1-1',
    phone: '06-6123-4567',
    domain: 'shop.example',
  };

  /** The Check RPC itself, for merchant selectors hashed under the node's newest key. */
  async function rawCheck(fields: MerchantFields): Promise<CheckResponse__Output> {
    const [key] = await acquirer.client.hashingKeys();
    const { selectors } = merchantSelectors((key as { key: Uint8Array }).key, fields);
    const stub = rawExchange(acquirer.target);
    try {
      return await rawCall<CheckResponse__Output>(stub, 'Check', { selectors: selectors.map((s) => ({ type: s.type, digest: s.digest })) }, bearer(acquirer.token));
    } finally {
      stub.close();
    }
  }

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    acquirer = await startInProcessNode(layout, 'acquirer-b');
    expect((await acquirer.client.publishFraudulentMerchant(listed, { reason: 'laundering' })).accepted).to.equal(1);
    expect((await acquirer.client.screenMerchant(listed)).matched).to.have.length(4);
  });
  after(async () => {
    await acquirer?.stop();
  });

  it('does not match near-misses: another valid 法人番号, a domain sharing a suffix, a phone one digit off, the name at another address', async () => {
    const nearMisses: [string, MerchantFields][] = [
      ['another corporate number with a valid check digit', { corporateNumber: corporateNumber('700000000002') }],
      ['a domain that only ends like the listed one', { domain: 'evil-shop.example' }],
      ['a subdomain-like prefix', { domain: 'myshop.example' }],
      ['a phone one digit off', { phone: '06-6123-4568' }],
      ['the same name at another address', { name: listed.name as string, address: '大阪府大阪市北区梅田1-1-2' }],
      ['a similar name at the same address', { name: '株式会社さくら商店', address: listed.address as string }],
    ];
    for (const [what, fields] of nearMisses) {
      const screened = await acquirer.client.screenMerchant(fields);
      expect(screened, what).to.deep.include({ listed: false, action: 'approve', listingMembers: 0, matched: [] });
    }
    // The controls: the listed values themselves, one by one, still match.
    for (const field of ['corporateNumber', 'domain', 'phone'] as const) {
      expect((await acquirer.client.screenMerchant({ [field]: listed[field] })).matched, field).to.deep.equal([field]);
    }
  });

  it('stops returning a listing once its validity ends, through screenMerchant and Check; card listings too', async () => {
    const shortLived: MerchantFields = { domain: 'short-lived.example', phone: '06-6999-0001' };
    await acquirer.client.publishFraudulentMerchant(shortLived, { reason: 'excessive-fraud', validDays: shortDays });
    const card = randomPan('520000');
    await acquirer.client.publishCompromisedCards([card], { reason: 'skimming', validDays: shortDays });

    const before = await acquirer.client.screenMerchant(shortLived);
    // The listing may already be gone on a very slow machine; what must hold is that it goes.
    if (before.listed) expect(before.matches[0]?.validUntilMs).to.be.at.most(Date.now() + SHORT_MS);

    await waitFor(async () => !(await acquirer.client.screenMerchant(shortLived)).listed, 'the short listing to expire for screenMerchant', 30_000, 100);
    const checked = await rawCheck(shortLived);
    expect(checked.results.map((r) => r.listed)).to.deep.equal([false, false]);
    await waitFor(async () => !(await acquirer.client.checkCard(card)).listed, 'the short card listing to expire for checks', 30_000, 100);

    // The long listing of the same acquirer is still there.
    expect((await rawCheck({ domain: listed.domain })).results[0]?.listed).to.equal(true);
  });

  it('the listing acquirer amends its listing by retracting and listing again; republishing as is changes nothing', async () => {
    const merchant: MerchantFields = { domain: 'amend-me.example', phone: '06-6777-0002' };
    const first = await acquirer.client.publishFraudulentMerchant(merchant, { reason: 'excessive-chargebacks' });
    expect(first.accepted).to.equal(1);
    const again = await acquirer.client.publishFraudulentMerchant(merchant, { reason: 'collusion' });
    expect(again).to.include({ accepted: 0, duplicates: 1 });
    expect((await acquirer.client.screenMerchant(merchant)).matches[0]?.reasons).to.deep.equal(['REASON_CODE_EXCESSIVE_CHARGEBACKS']);

    expect((await acquirer.client.retractMerchant(merchant, 'false-positive')).retracted).to.equal(2);
    expect((await acquirer.client.publishFraudulentMerchant(merchant, { reason: 'collusion' })).accepted).to.equal(1);
    const amended = await acquirer.client.screenMerchant(merchant);
    expect(amended.listingMembers).to.equal(1);
    expect(amended.matches[0]?.reasons).to.deep.equal(['REASON_CODE_COLLUSION']);
  });

  it('lists many merchants in one signed entry; a field that does not normalize is refused by index before anything is sent', async () => {
    const batch: MerchantFields[] = [1, 2, 3].map((i) => ({ domain: `batch-${i}.example`, phone: `06-6555-000${i}` }));
    const headBefore = (await acquirer.client.status()).ownFeed?.seq ?? 0;
    const published = await acquirer.client.publishFraudulentMerchants(batch, { reason: 'identity-theft' });
    expect(published).to.include({ accepted: 3, seq: headBefore + 1 });
    for (const fields of batch) expect((await acquirer.client.screenMerchant(fields)).matched.sort()).to.deep.equal(['domain', 'phone']);
    expect((await acquirer.client.screenMerchant({ domain: 'batch-4.example' })).listed).to.equal(false);

    const bad = await acquirer.client
      .publishFraudulentMerchants([{ domain: 'fine.example' }, { corporateNumber: `${(corporateNumberCheckDigit('700000000009') + 1) % 10}700000000009` }], { reason: 'laundering' })
      .catch((e: unknown) => e);
    expect((bad as MamoriClientError).code).to.equal('INVALID_ARGUMENT');
    expect((bad as Error).message).to.match(/^merchants\[1\]\.corporateNumber: /);
    expect((await acquirer.client.status()).ownFeed?.seq).to.equal(headBefore + 1);
  });

  it('an issuer cannot list a merchant (PERMISSION_DENIED): nothing is signed', async () => {
    const issuer = await startInProcessNode(layout, 'issuer-a');
    try {
      const error = await issuer.client.publishFraudulentMerchant({ domain: 'listed-by-issuer.example' }, { reason: 'laundering' }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(MamoriClientError);
      expect((error as MamoriClientError).code).to.equal('PERMISSION_DENIED');
      expect((await issuer.client.screenMerchant({ domain: 'listed-by-issuer.example' })).listed).to.equal(false);
      expect((await issuer.client.status()).ownFeed?.seq).to.equal(0);
    } finally {
      await issuer.stop();
    }
  });
});
