// Merchant blacklist: an acquirer lists a terminated merchant; screening by whatever fields
// one has matches across spellings, and says which fields matched and why.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MamoriClientError } from '../../client-sdk/src/errors';
import { sodiumReady } from '../../proto/ts/sodium';
import { corporateNumberCheckDigit, normalizeNameAddress } from '../../proto/ts/merchant';
import { hashSelector } from '../../proto/ts/trust/domains';
import { merchantPublication } from '../../client-sdk/src/merchants';
import { bearer, makeConsortium, rawCall, rawExchange, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';

describe('merchant blacklist screening', function () {
  let layout: DevConsortiumLayout;
  let acquirer: InProcessNode;
  const base = '123456789012';
  const corporateNumber = `${corporateNumberCheckDigit(base)}${base}`;

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    acquirer = await startInProcessNode(layout, 'acquirer-b');
  });
  after(async () => {
    await acquirer?.stop();
  });

  it('an acquirer lists a merchant; screening with other spellings matches, naming the fields and the reason', async () => {
    const listed = await acquirer.client.publishFraudulentMerchant(
      {
        corporateNumber,
        name: '株式会社スマイル商店',
        address: '東京都港区芝公園4-2-8',
        phone: '03-1234-5678',
        domain: 'smile-shop.example.jp',
      },
      { reason: 'excessive-chargebacks' },
    );
    expect(listed.accepted).to.equal(1);

    const screened = await acquirer.client.screenMerchant({
      name: 'ｽﾏｲﾙ商店 株式会社',
      address: '東京都港区芝公園４－２－８',
      phone: '+81 3 1234 5678',
      domain: 'WWW.Smile-Shop.Example.JP.',
    });
    expect(screened.listed).to.equal(true);
    expect(screened.action).to.equal('review');
    expect(screened.listingMembers).to.equal(1);
    expect(screened.matches[0]?.origin).to.equal('acquirer-b');
    expect(screened.matches[0]?.reasons).to.deep.equal(['REASON_CODE_EXCESSIVE_CHARGEBACKS']);
    expect([...screened.matched].sort()).to.deep.equal(['domain', 'nameAddress', 'phone']);

    const byNumber = await acquirer.client.screenMerchant({ corporateNumber: corporateNumber.replace(/(\d{4})/g, '$1-').replace(/-$/, '') });
    expect(byNumber.matched).to.deep.equal(['corporateNumber']);

    const other = await acquirer.client.screenMerchant({ domain: 'another-shop.example.jp', phone: '03-9999-0000' });
    expect(other).to.deep.include({ listed: false, action: 'approve', listingMembers: 0 });

    // Merchant identities are hashed in the client: the node's log never holds them in clear.
    const log = Buffer.from(acquirer.logLines.join('\n'));
    const files = fs.readdirSync(acquirer.dataDir).map((f) => fs.readFileSync(path.join(acquirer.dataDir, f)));
    for (const haystack of [log, ...files]) {
      for (const clear of ['スマイル', 'smile-shop', '1234-5678', '12345678', '芝公園', corporateNumber]) expect(haystack.includes(clear)).to.equal(false);
    }
  });

  it('refuses a field that does not normalize, naming it, before any I/O', async () => {
    const error = await acquirer.client.screenMerchant({ corporateNumber: `${(corporateNumberCheckDigit(base) + 1) % 10}${base}` }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(MamoriClientError);
    expect((error as MamoriClientError).code).to.equal('INVALID_ARGUMENT');
    expect((error as Error).message).to.contain('corporateNumber').and.contain('check digit');
  });

  it('only acquirers may list merchants, and only the listing acquirer can retract', async () => {
    const psp = await startInProcessNode(layout, 'psp-c');
    try {
      const error = await psp.client.publishFraudulentMerchant({ domain: 'bad.example.jp' }, { reason: 'laundering' }).catch((e: unknown) => e);
      expect((error as MamoriClientError).code).to.equal('PERMISSION_DENIED');
      const notOurs = await psp.client.retractMerchant({ domain: 'smile-shop.example.jp' }, 'false-positive');
      expect(notOurs.retracted).to.equal(0);
    } finally {
      await psp.stop();
    }
    const retracted = await acquirer.client.retractMerchant({ domain: 'smile-shop.example.jp' }, 'false-positive');
    expect(retracted.retracted).to.equal(1);
    const after = await acquirer.client.screenMerchant({ domain: 'smile-shop.example.jp', phone: '03-1234-5678' });
    expect(after.matched).to.deep.equal(['phone']);
  });
  it('finds a Japanese address under its other forms, and a listing published under name+address version 1 until it is retracted', async () => {
    // Listed (version 2) at one form, screened at the others of the issue: all match, near-misses do not.
    const listed = await acquirer.client.publishFraudulentMerchant({ name: '丸の内商会', address: '東京都千代田区丸の内１－１－１' }, { reason: 'collusion' });
    expect(listed.accepted).to.equal(1);
    for (const address of ['東京都千代田区丸の内1丁目1番1号', '東京都千代田区丸の内一丁目1-1', '千代田区丸の内1-1-1', '東京都千代田区丸の内1-1-1 丸の内ビル3F']) {
      expect((await acquirer.client.screenMerchant({ name: '丸の内商会', address })).matched, address).to.deep.equal(['nameAddress']);
    }
    for (const address of ['東京都千代田区丸の内1-1-2', '東京都千代田区丸の内2-1-1', '東京都千代田区大手町1-1-1', '東京都中央区丸の内1-1-1']) {
      expect((await acquirer.client.screenMerchant({ name: '丸の内商会', address })).listed, address).to.equal(false);
    }

    // A listing an older client published under version 1 (its own tag, its own normalization).
    const [key] = await acquirer.client.hashingKeys();
    if (!key) throw new Error('no hashing key');
    const v1 = normalizeNameAddress('霞が関物産', '東京都千代田区霞が関3-1-1', 1);
    if (!v1.ok) throw new Error(v1.reason);
    const old = merchantPublication(
      [{ field: 'nameAddress', type: 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', version: 1, digest: hashSelector(key.key, 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', v1.value) }],
      { reason: 'collusion' },
    );
    const stub = rawExchange(acquirer.target);
    try {
      expect((await rawCall<{ accepted: number }>(stub, 'Publish', { publication: old, keyEpoch: key.epoch }, bearer(acquirer.token))).accepted).to.equal(1);
    } finally {
      stub.close();
    }
    // The same spelling still matches (the version-1 selector of the lookup); another spelling
    // only version 2 reads as one does not — that listing was made under version 1.
    expect((await acquirer.client.screenMerchant({ name: '霞が関物産', address: '東京都千代田区霞が関3-1-1' })).matched).to.deep.equal(['nameAddress']);
    expect((await acquirer.client.screenMerchant({ name: '霞が関物産', address: '千代田区霞ヶ関三丁目1番1号' })).listed).to.equal(false);
    // Retraction looks up both versions: the old listing ends.
    await acquirer.client.retractMerchant({ name: '霞が関物産', address: '東京都千代田区霞が関3-1-1' }, 'false-positive');
    expect((await acquirer.client.screenMerchant({ name: '霞が関物産', address: '東京都千代田区霞が関3-1-1' })).listed).to.equal(false);
  });
});
