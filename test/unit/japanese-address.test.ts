// Japanese address forms under the name+address selector version 2 (proto/ts/jp-address.ts):
// spellings of one address give one value and one selector; near-misses — another 番地, 号,
// 丁目, town or municipality — do not. And the dual lookup: a listing published under version 1
// is still found by a lookup, a new listing is published under version 2 only.
import { expect } from 'chai';
import { merchantSelectors, normalizeAddress, normalizeAddressV2, normalizeNameAddress } from '../../proto/ts/merchant';
import { hashSelector, selectorTagName } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';

const value = (r: { ok: true; value: string } | { ok: false; reason: string }): string => {
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r.value;
};

/** Each group: spellings that are one address, and the value they all give. */
const SAME: readonly { value: string; forms: readonly string[] }[] = [
  {
    value: '千代田区丸の内1-1-1',
    forms: [
      '東京都千代田区丸の内１－１－１',
      '東京都千代田区丸の内1丁目1番1号',
      '東京都千代田区丸の内一丁目1-1',
      '千代田区丸の内1-1-1',
      '東京都千代田区丸の内一丁目一番一号',
      '東京都千代田区丸の内1丁目1番地1',
      '東京都千代田区丸の内1丁目1番地の1',
      '東京都千代田区丸の内1の1の1',
      '東京都千代田区丸ノ内1-1-1',
      '東京都千代田区丸の内1ー1ー1',
      '東京都千代田区丸の内1‐1‐1',
      '東京都千代田区丸の内1−1−1',
      '東京都 千代田区 丸の内 1-1-1',
      '〒100-0005 東京都千代田区丸の内1-1-1',
      '東京都千代田区丸の内1-1-1 パレスビル5階',
      '東京都千代田区丸の内1丁目1番1号 パレスビル 5F',
      '千代田区丸の内一丁目1番1号丸の内ビルディング35階',
      '東京都千代田区丸の内1-1-1-501',
      '東京都千代田区丸の内1丁目1番1-501号室',
      '東京都千代田区丸の内１丁目１番１号',
    ],
  },
  {
    value: '千代田区霞ケ関3-1-1',
    forms: ['東京都千代田区霞が関3-1-1', '東京都千代田区霞ヶ関三丁目1番1号', '千代田区霞ケ関3ー1ー1', '東京都千代田区霞ガ関3の1の1'],
  },
  {
    value: '港区芝公園4-2-8',
    forms: ['東京都港区芝公園4-2-8', '東京都港区芝公園四丁目2番8号', '港区芝公園4丁目2-8 東京タワー', '東京都港区芝公園４－２－８'],
  },
  {
    value: '札幌市中央区北1条西2-1',
    forms: ['北海道札幌市中央区北1条西2丁目1番地', '札幌市中央区北一条西二丁目1', '北海道札幌市中央区北１条西２－１'],
  },
  {
    value: '大阪市北区梅田1-1-1',
    forms: ['大阪府大阪市北区梅田1-1-1', '大阪市北区梅田一丁目1番1号', '大阪府大阪市北区梅田1丁目1-1 梅田ビル10F'],
  },
  {
    value: '府中町大通3-5-1',
    forms: ['広島県安芸郡府中町大通3-5-1', '府中町大通3丁目5番1号', '安芸郡府中町大通三丁目5-1', '広島県府中町大通3-5-1'],
  },
  {
    value: '鎌ケ谷市新鎌ケ谷1-1-1',
    forms: ['千葉県鎌ケ谷市新鎌ヶ谷1-1-1', '鎌ヶ谷市新鎌ケ谷一丁目1番1号', '千葉県鎌ヶ谷市新鎌ヶ谷1の1の1'],
  },
  {
    value: '千代田区一番町10-1',
    forms: ['東京都千代田区一番町10-1', '千代田区一番町十番地1', '東京都千代田区一番町10番1号'],
  },
  {
    value: '新宿区西新宿2-8-1',
    forms: ['東京都新宿区西新宿2丁目8番1号 都庁第一本庁舎', '新宿区西新宿二丁目八番一号', '東京都新宿区西新宿2-8-1'],
  },
  {
    value: '東京都府中市宮町1-100',
    forms: ['東京都府中市宮町1-100', '東京都府中市宮町一丁目100番地', '東京都府中市宮町1丁目百番地'],
  },
  {
    value: '那覇市泉崎1-2-2',
    forms: ['沖縄県那覇市泉崎1-2-2', '那覇市泉崎一丁目2番2号', '沖縄県那覇市泉崎１丁目２－２'],
  },
];

/** Pairs that must NOT give one value: [listing, near-miss, what differs]. */
const DIFFERENT: readonly [string, string, string][] = [
  ['東京都千代田区丸の内1-1-1', '東京都千代田区丸の内1-1-2', 'another 号'],
  ['東京都千代田区丸の内1-1-1', '東京都千代田区丸の内1丁目2番1号', 'another 番地'],
  ['東京都千代田区丸の内1-1-1', '東京都千代田区丸の内二丁目1番1号', 'another 丁目'],
  ['東京都千代田区丸の内1-1-1', '東京都千代田区大手町1-1-1', 'another town'],
  ['東京都千代田区丸の内1-1-1', '東京都中央区丸の内1-1-1', 'another municipality'],
  ['東京都千代田区丸の内1-1-1', '千代田区丸の内1-1', 'a number left out'],
  ['東京都千代田区丸の内1-1-1', '東京都千代田区丸の内11-1', 'numbers run together'],
  ['東京都千代田区丸の内1-1-1', '大阪府千代田区丸の内1-1-1', 'a prefecture that does not have the municipality'],
  ['東京都府中市宮町1-1', '府中市宮町1-1', 'prefecture left out of a municipality name two prefectures have'],
  ['東京都府中市宮町1-1', '広島県府中市宮町1-1', 'another prefecture, same municipality name'],
  ['東京都千代田区一番町1-1', '東京都千代田区二番町1-1', '一番町 and 二番町 (numerals in a town name)'],
  ['北海道札幌市中央区北1条西2-1', '北海道札幌市中央区北2条西2-1', 'another 条'],
  ['東京都千代田区霞が関3-1-1', '東京都千代田区霞が関3-1-10', '号 1 and 10'],
  ['大阪府大阪市北区梅田1-1-1', '大阪府大阪市中央区梅田1-1-1', 'another ward'],
];

describe('Japanese addresses: name+address selector version 2', () => {
  before(async () => {
    await sodiumReady();
  });

  it(`gives one value for the spellings of one address (${SAME.reduce((n, g) => n + g.forms.length, 0)} forms)`, () => {
    for (const group of SAME) {
      for (const form of group.forms) expect(value(normalizeAddressV2(form)), form).to.equal(group.value);
    }
  });

  it(`keeps near-misses apart (${DIFFERENT.length} pairs)`, () => {
    for (const [listing, near, what] of DIFFERENT) {
      expect(value(normalizeAddressV2(near)), `${near}: ${what}`).to.not.equal(value(normalizeAddressV2(listing)));
    }
    // And across groups: no two addresses above share a value.
    const values = SAME.map((g) => g.value);
    expect(new Set(values).size).to.equal(values.length);
  });

  it('finds the listing of the issue under every form it names, and under none of the near-misses', () => {
    const key = new Uint8Array(32).fill(7);
    const listing = merchantSelectors(key, { name: '株式会社スマイル', address: '東京都千代田区丸の内１－１－１' }).selectors[0];
    for (const form of ['東京都千代田区丸の内1丁目1番1号', '東京都千代田区丸の内一丁目1-1', '千代田区丸の内1-1-1']) {
      const lookup = merchantSelectors(key, { name: 'スマイル', address: form }, { purpose: 'lookup' }).selectors;
      expect(lookup.some((s) => s.digest.equals(listing?.digest ?? Buffer.alloc(0))), form).to.equal(true);
    }
    for (const [, near] of DIFFERENT.filter(([l]) => l === '東京都千代田区丸の内1-1-1')) {
      const lookup = merchantSelectors(key, { name: 'スマイル', address: near }, { purpose: 'lookup' }).selectors;
      expect(lookup.some((s) => s.digest.equals(listing?.digest ?? Buffer.alloc(0))), near).to.equal(false);
    }
  });

  it('publishes under version 2 only, and looks up version 2 and version 1 (listings made before keep matching)', () => {
    const key = new Uint8Array(32).fill(9);
    const fields = { name: 'スマイル', address: '東京都千代田区丸の内1丁目1番1号' };
    const published = merchantSelectors(key, fields).selectors;
    expect(published.map((s) => [s.field, s.version])).to.deep.equal([['nameAddress', 2]]);
    expect(published[0]?.digest.equals(hashSelector(key, 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 'スマイル\n千代田区丸の内1-1-1', 2))).to.equal(true);

    const lookup = merchantSelectors(key, fields, { purpose: 'lookup' }).selectors;
    expect(lookup.map((s) => [s.field, s.type, s.version])).to.deep.equal([
      ['nameAddress', 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 2],
      ['nameAddress', 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 1],
    ]);
    // A version-1 listing of the same spelling is still found.
    const v1Listing = hashSelector(key, 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', value(normalizeNameAddress('スマイル', '東京都千代田区丸の内1丁目1番1号', 1)));
    expect(lookup[1]?.digest.equals(v1Listing)).to.equal(true);
    expect(value(normalizeNameAddress('スマイル', '東京都千代田区丸の内1丁目1番1号', 1))).to.equal('スマイル\n東京都千代田区丸の内1丁目1番1号');
  });

  it('tags version 2 apart from version 1: one value, two digests', () => {
    const key = new Uint8Array(32).fill(3);
    expect(selectorTagName('SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 2)).to.equal('merchant.name_address.v2');
    const v1 = hashSelector(key, 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 'x\ny');
    const v2 = hashSelector(key, 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 'x\ny', 2);
    expect(v1.equals(v2)).to.equal(false);
    expect(() => hashSelector(key, 'SELECTOR_TYPE_MERCHANT_PHONE', '+81312345678', 2)).to.throw(/no version 2/);
  });

  it('leaves addresses without Japanese characters as version 1 normalizes them', () => {
    for (const a of ['1-2-3 Shibakoen, Minato-ku', '350 Fifth Avenue, New York', '10 Downing St']) {
      expect(value(normalizeAddressV2(a)), a).to.equal(value(normalizeAddress(a)));
    }
  });
});
