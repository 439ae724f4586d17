// Merchant blacklist: an acquirer lists a terminated merchant; screening by whatever fields
// one has matches across spellings, and says which fields matched and why.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MamoriClientError } from '../../client-sdk/src/errors';
import { sodiumReady } from '../../proto/ts/sodium';
import { corporateNumberCheckDigit } from '../../proto/ts/merchant';
import { makeConsortium, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
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
});
