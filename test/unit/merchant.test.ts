import { expect } from 'chai';
import {
  corporateNumberCheckDigit,
  merchantSelectors,
  normalizeAcquirerMid,
  normalizeAddress,
  normalizeCorporateNumber,
  normalizeDomain,
  normalizeJapaneseText,
  normalizeMerchantFields,
  normalizeMerchantName,
  normalizeNameAddress,
  normalizePhone,
  normalizeRepresentative,
  type MerchantFields,
  type NormalizeResult,
} from '../../proto/ts/merchant';
import { hashSelector } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';

function value(r: NormalizeResult): string {
  if (!r.ok) throw new Error(`expected success, got rejection: ${r.reason}`);
  return r.value;
}

/** Asserts a rejection whose reason does not echo the input, and returns the reason. */
function reason(r: NormalizeResult, ...inputs: string[]): string {
  expect(r.ok, `expected a rejection, got ${JSON.stringify(r)}`).to.equal(false);
  const why = (r as { ok: false; reason: string }).reason;
  expect(why).to.be.a('string').and.not.equal('');
  for (const input of inputs) {
    const trimmed = input.trim();
    if (trimmed.length >= 3) expect(why).not.to.include(trimmed);
  }
  return why;
}

describe('unit: merchant identity normalization', () => {
  describe('normalizeCorporateNumber (法人番号)', () => {
    // Published corporate numbers: 国税庁 (NTA) 7000012050002, 国立国会図書館 1000011000005,
    // 日本税理士会連合会 7010705000725, トヨタ自動車 1180301018771.
    const published = ['7000012050002', '1000011000005', '7010705000725', '1180301018771'];

    it('accepts published corporate numbers', () => {
      for (const n of published) expect(value(normalizeCorporateNumber(n)), n).to.equal(n);
    });

    it('computes the check digit per 財務省令第70号 第2条 (worked example: base 123456789012 sums to 74 → 7)', () => {
      expect(corporateNumberCheckDigit('123456789012')).to.equal(7);
      expect(corporateNumberCheckDigit('000012050002')).to.equal(7); // NTA: Σ = 11, 9 − 2
      for (const n of published) expect(corporateNumberCheckDigit(n.slice(1))).to.equal(Number(n[0]));
      expect(() => corporateNumberCheckDigit('12345')).to.throw();
    });

    it('accepts full-width digits, spaces and hyphen variants', () => {
      expect(value(normalizeCorporateNumber('７００００１２０５０００２'))).to.equal('7000012050002');
      expect(value(normalizeCorporateNumber(' 7-0000-1205-0002 '))).to.equal('7000012050002');
      expect(value(normalizeCorporateNumber('7 0000 1205 0002'))).to.equal('7000012050002');
      expect(value(normalizeCorporateNumber('７ー００００−１２０５‐０００２'))).to.equal('7000012050002');
      expect(value(normalizeCorporateNumber('7\u30000000\u30001205\u30000002'))).to.equal('7000012050002');
    });

    it('rejects a bad check digit (every wrong leading digit) and a changed base digit', () => {
      for (let d = 0; d <= 9; d++) {
        if (d === 7) continue;
        const n = `${d}000012050002`;
        expect(reason(normalizeCorporateNumber(n), n)).to.equal('check digit does not match');
      }
      expect(reason(normalizeCorporateNumber('7000012050003'), '7000012050003')).to.equal('check digit does not match');
    });

    it('rejects wrong lengths, letters, a T prefix and empty input', () => {
      expect(reason(normalizeCorporateNumber('000012050002'), '000012050002')).to.match(/12 digits/);
      expect(reason(normalizeCorporateNumber('70000120500020'), '70000120500020')).to.match(/14 digits/);
      expect(reason(normalizeCorporateNumber('T7000012050002'), 'T7000012050002')).to.match(/characters other than digits/);
      expect(reason(normalizeCorporateNumber('7000O12050002'))).to.match(/characters other than digits/);
      expect(reason(normalizeCorporateNumber(''))).to.equal('is empty');
      expect(reason(normalizeCorporateNumber(' - '))).to.equal('is empty');
      expect(reason(normalizeCorporateNumber(7000012050002 as unknown as string))).to.equal('is not a string');
    });
  });

  describe('normalizeDomain', () => {
    it('lower-cases, strips the trailing dot and a leading www.', () => {
      expect(value(normalizeDomain('WWW.Example.COM.'))).to.equal('example.com');
      expect(value(normalizeDomain('example.com'))).to.equal('example.com');
      expect(value(normalizeDomain('Shop.Example.co.jp'))).to.equal('shop.example.co.jp');
    });

    it('strips scheme, user info, port, path, query and fragment', () => {
      expect(value(normalizeDomain('https://www.example.com/shop/cart?x=1#top'))).to.equal('example.com');
      expect(value(normalizeDomain('http://user:secret@example.com:8080/'))).to.equal('example.com');
      expect(value(normalizeDomain('example.com:443'))).to.equal('example.com');
      expect(value(normalizeDomain('//example.com/path'))).to.equal('example.com');
      expect(value(normalizeDomain('  HTTPS://EXAMPLE.COM  '))).to.equal('example.com');
    });

    it('converts IDN to punycode (例え.jp → xn--r8jz45g.jp), also from full-width and ideographic dots', () => {
      expect(value(normalizeDomain('例え.jp'))).to.equal('xn--r8jz45g.jp');
      expect(value(normalizeDomain('https://www.例え.jp/'))).to.equal('xn--r8jz45g.jp');
      expect(value(normalizeDomain('例え。ｊｐ'))).to.equal('xn--r8jz45g.jp');
      expect(value(normalizeDomain('xn--r8jz45g.jp'))).to.equal('xn--r8jz45g.jp');
      expect(value(normalizeDomain('ＷＷＷ．ＥＸＡＭＰＬＥ．ＣＯＭ'))).to.equal('example.com');
    });

    it('strips www. only once and only when a dot remains', () => {
      expect(value(normalizeDomain('www.com'))).to.equal('www.com');
      expect(value(normalizeDomain('www.www.example.com'))).to.equal('www.example.com');
      expect(value(normalizeDomain('www2.example.com'))).to.equal('www2.example.com');
      expect(value(normalizeDomain('wwwexample.com'))).to.equal('wwwexample.com');
    });

    it('rejects empty, invalid, single-label, IP and over-long input', () => {
      expect(reason(normalizeDomain(''))).to.equal('is empty');
      expect(reason(normalizeDomain('https://'))).to.equal('is empty');
      expect(reason(normalizeDomain('localhost'), 'localhost')).to.match(/single label/);
      expect(reason(normalizeDomain('exa mple.com'), 'exa mple.com')).to.match(/whitespace/);
      expect(reason(normalizeDomain('exa_mple.com'), 'exa_mple.com')).to.match(/label/);
      expect(reason(normalizeDomain('-example.com'), '-example.com')).to.match(/label/);
      expect(reason(normalizeDomain('example..com'), 'example..com')).to.match(/label/);
      expect(reason(normalizeDomain('example.com..'), 'example.com..')).to.match(/label/);
      expect(reason(normalizeDomain('xn--zz.com'), 'xn--zz.com')).to.equal('is not a valid domain name');
      expect(reason(normalizeDomain('192.168.0.1'), '192.168.0.1')).to.match(/IP address/);
      expect(reason(normalizeDomain('http://[::1]:80/'))).to.match(/IP address/);
      expect(reason(normalizeDomain(`${'a'.repeat(64)}.com`))).to.match(/label/);
      expect(reason(normalizeDomain(`${'abcdefghi.'.repeat(26)}com`))).to.match(/too long/);
    });
  });

  describe('normalizePhone', () => {
    it('gives one E.164 value for different formats of the same number', () => {
      for (const input of ['03-1234-5678', '+81 3 1234 5678', '０３（１２３４）５６７８', '(03) 1234-5678', '0312345678', '+81-3-1234-5678', 'tel:+81-3-1234-5678', '＋８１ ３ １２３４ ５６７８']) {
        expect(value(normalizePhone(input)), input).to.equal('+81312345678');
      }
    });

    it('handles mobile, toll-free and IP-phone numbers, foreign numbers and another default region', () => {
      expect(value(normalizePhone('090-1234-5678'))).to.equal('+819012345678');
      expect(value(normalizePhone('0120-123-456'))).to.equal('+81120123456');
      expect(value(normalizePhone('050-1234-5678'))).to.equal('+815012345678');
      expect(value(normalizePhone('+1 212-555-0123'))).to.equal('+12125550123');
      expect(value(normalizePhone('010 1 212 555 0123'))).to.equal('+12125550123'); // JP international prefix
      expect(value(normalizePhone('(212) 555-0123', 'US'))).to.equal('+12125550123');
      expect(value(normalizePhone('+44 20 7946 0958'))).to.equal('+442079460958');
    });

    it('drops an extension', () => {
      expect(value(normalizePhone('03-1234-5678 ext. 12'))).to.equal('+81312345678');
    });

    it('rejects invalid numbers, text around a number and an unknown default region', () => {
      expect(reason(normalizePhone('03-1234-567'), '03-1234-567')).to.match(/not a valid phone number|impossible length/);
      expect(reason(normalizePhone('00-0000-0000'), '00-0000-0000')).to.match(/not a valid phone number|impossible length/);
      expect(reason(normalizePhone('12'))).to.match(/phone number|length/);
      expect(reason(normalizePhone('call me maybe'), 'call me maybe')).to.equal('is not a phone number');
      expect(reason(normalizePhone('Support: 03-1234-5678'), '03-1234-5678')).to.match(/phone number/);
      expect(reason(normalizePhone('+999 1234 5678'), '+999 1234 5678')).to.match(/country calling code/);
      expect(reason(normalizePhone(''))).to.equal('is empty');
      expect(reason(normalizePhone('03-1234-5678', 'XX'))).to.match(/default region/);
    });
  });

  describe('normalizeJapaneseText', () => {
    it('maps half-width katakana to full-width: ｶﾌﾞｼｷｶﾞｲｼｬ = カブシキガイシャ', () => {
      expect(value(normalizeJapaneseText('ｶﾌﾞｼｷｶﾞｲｼｬ'))).to.equal('カブシキガイシャ');
      expect(value(normalizeJapaneseText('カブシキガイシャ'))).to.equal('カブシキガイシャ');
      expect(value(normalizeJapaneseText('ﾔﾏﾀﾞ ﾀﾛｳ'))).to.equal('ヤマダタロウ');
    });

    it('maps full-width Latin and digits to half-width, then lower case', () => {
      expect(value(normalizeJapaneseText('ＡＢＣ　Ｔｒａｄｉｎｇ　１２３'))).to.equal('abc trading 123');
      expect(value(normalizeJapaneseText('ABC Trading 123'))).to.equal('abc trading 123');
    });

    it('collapses whitespace, removes spaces next to Japanese characters and invisible characters, trims', () => {
      expect(value(normalizeJapaneseText('  山田\u3000 太郎 \t\n'))).to.equal('山田太郎');
      expect(value(normalizeJapaneseText('abc   def'))).to.equal('abc def');
      expect(value(normalizeJapaneseText('ABC 商事'))).to.equal('abc商事');
      expect(value(normalizeJapaneseText('スマ\u200Bイル\uFEFF'))).to.equal('スマイル');
    });

    it('is idempotent', () => {
      for (const s of ['ｶﾌﾞｼｷｶﾞｲｼｬ ｽﾏｲﾙ', 'ＡＢＣ　Ｔｒａｄｉｎｇ', 'İstanbul Ωhm ﬁ', '㈱スマイル ① ㍻']) {
        const once = value(normalizeJapaneseText(s));
        expect(value(normalizeJapaneseText(once)), s).to.equal(once);
      }
    });

    it('rejects empty, whitespace-only, non-string and ill-formed input', () => {
      expect(reason(normalizeJapaneseText(''))).to.equal('is empty');
      expect(reason(normalizeJapaneseText(' \u3000\t'))).to.equal('is empty');
      expect(reason(normalizeJapaneseText(undefined as unknown as string))).to.equal('is not a string');
      expect(reason(normalizeJapaneseText('ab\uD800cd'))).to.match(/well-formed/);
      expect(reason(normalizeJapaneseText('あ'.repeat(1025)))).to.match(/too long/);
    });

    it('normalizes a representative the same way', () => {
      expect(value(normalizeRepresentative('ﾔﾏﾀﾞ　ﾀﾛｳ'))).to.equal(value(normalizeRepresentative('ヤマダ タロウ')));
      expect(value(normalizeRepresentative('Taro YAMADA'))).to.equal('taro yamada');
    });
  });

  describe('normalizeMerchantName', () => {
    it('gives one value for 株式会社 before or after the name, (株), ㈱ and （株）', () => {
      const spellings = ['株式会社スマイル商店', 'スマイル商店株式会社', '株式会社 スマイル商店', 'スマイル商店 株式会社', '(株)スマイル商店', 'スマイル商店(株)', '㈱スマイル商店', 'スマイル商店㈱', '（株）スマイル商店', 'スマイル商店'];
      for (const s of spellings) expect(value(normalizeMerchantName(s)), s).to.equal('スマイル商店');
    });

    it('gives one value for half-width and full-width katakana', () => {
      expect(value(normalizeMerchantName('ｽﾏｲﾙｼｮｳﾃﾝ'))).to.equal(value(normalizeMerchantName('スマイルショウテン')));
      expect(value(normalizeMerchantName('ｶﾌﾞｼｷｶﾞｲｼｬ ｽﾏｲﾙ'))).to.equal(value(normalizeMerchantName('スマイル株式会社')));
    });

    it('removes other Japanese legal forms', () => {
      expect(value(normalizeMerchantName('有限会社スマイル'))).to.equal('スマイル');
      expect(value(normalizeMerchantName('スマイル(有)'))).to.equal('スマイル');
      expect(value(normalizeMerchantName('㈲スマイル'))).to.equal('スマイル');
      expect(value(normalizeMerchantName('合同会社スマイル'))).to.equal('スマイル');
      expect(value(normalizeMerchantName('合資会社スマイル'))).to.equal('スマイル');
      expect(value(normalizeMerchantName('合名会社スマイル'))).to.equal('スマイル');
      expect(value(normalizeMerchantName('一般社団法人スマイル協会'))).to.equal('スマイル協会');
    });

    it('removes Latin legal forms as whole words', () => {
      for (const s of ['Smile Co., Ltd.', 'SMILE CO.,LTD.', 'Smile Co. Ltd', 'Smile Co.Ltd', 'Smile co ltd', 'Smile Ltd.', 'Smile, Inc.', 'Smile Inc', 'Smile K.K.', 'Smile LLC', 'Smile Corporation', 'Smile Corp.', 'ＳＭＩＬＥ　Ｃｏ．，Ｌｔｄ．', 'smile']) {
        expect(value(normalizeMerchantName(s)), s).to.equal('smile');
      }
      expect(value(normalizeMerchantName('Incline Corp.'))).to.equal('incline');
      expect(value(normalizeMerchantName('Coltd Trading'))).to.equal('coltd trading');
      expect(value(normalizeMerchantName('スマイル Co., Ltd.'))).to.equal('スマイル');
    });

    it('keeps near misses apart', () => {
      const base = value(normalizeMerchantName('株式会社スマイル商店'));
      for (const s of ['スマイル商事', 'スマイル商店東京', 'スマイリー商店', 'スマイルショウテン']) {
        expect(value(normalizeMerchantName(s)), s).not.to.equal(base);
      }
      expect(value(normalizeMerchantName('Smiles Inc.'))).not.to.equal(value(normalizeMerchantName('Smile Inc.')));
    });

    it('is idempotent and rejects a name that is only a legal form', () => {
      for (const s of ['株式会社株式会社スマイル', 'Smile Co., Ltd. Inc.', '㈱ スマイル ㈲']) {
        const once = value(normalizeMerchantName(s));
        expect(value(normalizeMerchantName(once)), s).to.equal(once);
      }
      expect(reason(normalizeMerchantName('株式会社'))).to.equal('consists only of legal-form words');
      expect(reason(normalizeMerchantName('Co., Ltd.'))).to.equal('consists only of legal-form words');
      expect(reason(normalizeMerchantName('  '))).to.equal('is empty');
    });
  });

  describe('normalizeAddress and normalizeNameAddress', () => {
    it('maps hyphen variants to "-" and keeps the prolonged sound mark inside words', () => {
      const expected = '東京都港区芝公園1-2-3スマイルタワー201';
      for (const s of ['東京都港区芝公園1-2-3 スマイルタワー201', '東京都港区芝公園１－２－３　スマイルタワー２０１', '東京都 港区 芝公園 1−2−3 ｽﾏｲﾙﾀﾜｰ 201', '東京都港区芝公園1ー2ー3スマイルタワー201', '東京都港区芝公園1‐2–3スマイルタワー201', '東京都港区芝公園1 - 2 - 3 スマイルタワー 201']) {
        expect(value(normalizeAddress(s)), s).to.equal(expected);
      }
      expect(value(normalizeAddress('1-2-3 Shibakoen, Minato-ku'))).to.equal('1-2-3 shibakoen, minato-ku');
      expect(reason(normalizeAddress(''))).to.equal('is empty');
    });

    it('joins name and address with a newline', () => {
      // Version 2 (the default, what is published): the prefecture of a municipality unique nationwide dropped.
      expect(value(normalizeNameAddress('ｽﾏｲﾙ㈱', '東京都港区芝公園１－２－３'))).to.equal('スマイル\n港区芝公園1-2-3');
      expect(value(normalizeNameAddress('株式会社スマイル', '東京都港区芝公園1ー2ー3'))).to.equal('スマイル\n港区芝公園1-2-3');
      // Version 1 (still looked up while its listings are valid).
      expect(value(normalizeNameAddress('ｽﾏｲﾙ㈱', '東京都港区芝公園１－２－３', 1))).to.equal('スマイル\n東京都港区芝公園1-2-3');
      expect(value(normalizeNameAddress('株式会社スマイル', '東京都港区芝公園1ー2ー3', 1))).to.equal('スマイル\n東京都港区芝公園1-2-3');
    });

    it('rejects a missing part, naming which', () => {
      expect(reason(normalizeNameAddress('株式会社', '東京都'))).to.equal('name consists only of legal-form words');
      expect(reason(normalizeNameAddress('スマイル', ' '))).to.equal('address is empty');
    });
  });

  describe('normalizeAcquirerMid', () => {
    it('prefixes the acquirer member id and NFKC-trims the MID, keeping its case', () => {
      expect(value(normalizeAcquirerMid('acq-one', ' ＡＢＣ１２３ '))).to.equal('acq-one:ABC123');
      expect(value(normalizeAcquirerMid('acq-one', '000123456789012'))).to.equal('acq-one:000123456789012');
      expect(value(normalizeAcquirerMid('acq-one', 'abc123'))).not.to.equal(value(normalizeAcquirerMid('acq-two', 'abc123')));
    });

    it('rejects a bad acquirer id and an empty, control-laden or over-long MID', () => {
      expect(reason(normalizeAcquirerMid('ACQ', '1'))).to.match(/member id/);
      expect(reason(normalizeAcquirerMid('a:b', '1'))).to.match(/member id/);
      expect(reason(normalizeAcquirerMid('acq-one', ' '))).to.equal('merchant id is empty');
      expect(reason(normalizeAcquirerMid('acq-one', 'ab\u0000cd'))).to.match(/control/);
      expect(reason(normalizeAcquirerMid('acq-one', 'x'.repeat(65)))).to.match(/too long/);
    });
  });

  describe('protocol vectors (the exact bytes every member must hash)', () => {
    const vectors: [string, () => NormalizeResult, string][] = [
      ['corporate number', () => normalizeCorporateNumber('７０００-０１２０-５０００２'), '7000012050002'],
      ['domain', () => normalizeDomain('https://WWW.例え.JP./x'), 'xn--r8jz45g.jp'],
      ['phone', () => normalizePhone('０３（１２３４）５６７８'), '+81312345678'],
      ['name', () => normalizeMerchantName('ｽﾏｲﾙ ﾄﾚｰﾃﾞｨﾝｸﾞ㈱'), 'スマイルトレーディング'],
      ['name + address (version 1)', () => normalizeNameAddress('Smile Co., Ltd.', '東京都千代田区霞が関３ー１ー１', 1), 'smile\n東京都千代田区霞が関3-1-1'],
      ['name + address (version 2)', () => normalizeNameAddress('Smile Co., Ltd.', '東京都千代田区霞が関三丁目1番1号'), 'smile\n千代田区霞ケ関3-1-1'],
      ['representative', () => normalizeRepresentative(' 山田　太郎 '), '山田太郎'],
      ['acquirer MID', () => normalizeAcquirerMid('acq-one', ' MID-００１ '), 'acq-one:MID-001'],
    ];
    for (const [name, run, expected] of vectors) {
      it(name, () => expect(value(run())).to.equal(expected));
    }
  });

  describe('merchantSelectors', () => {
    let key: Uint8Array;
    before(async () => {
      await sodiumReady();
      key = new Uint8Array(32).fill(7);
    });

    const listing: MerchantFields = {
      corporateNumber: '7000012050002',
      domain: 'WWW.Example.COM.',
      phone: '03-1234-5678',
      name: '株式会社スマイル商店',
      address: '東京都港区芝公園1-2-3',
      representative: '山田 太郎',
      acquirerMid: { acquirer: 'acq-one', mid: 'MID001' },
    };
    const screening: MerchantFields = {
      corporateNumber: '７ ０００ー０１２０ー５０００２',
      domain: 'https://example.com/shop',
      phone: '０３（１２３４）５６７８',
      name: 'ｽﾏｲﾙ商店㈱',
      address: '東京都 港区 芝公園１ー２ー３',
      representative: '山田　太郎',
      acquirerMid: { acquirer: 'acq-one', mid: ' ＭＩＤ００１ ' },
    };

    it('gives one selector per field, in a fixed order, with the matching selector type', () => {
      const { selectors, rejected } = merchantSelectors(key, listing);
      expect(rejected).to.deep.equal([]);
      expect(selectors.map((s) => [s.field, s.type])).to.deep.equal([
        ['corporateNumber', 'SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER'],
        ['domain', 'SELECTOR_TYPE_MERCHANT_DOMAIN'],
        ['phone', 'SELECTOR_TYPE_MERCHANT_PHONE'],
        ['nameAddress', 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS'],
        ['representative', 'SELECTOR_TYPE_MERCHANT_REPRESENTATIVE'],
        ['acquirerMid', 'SELECTOR_TYPE_MERCHANT_ACQUIRER_MID'],
      ]);
      for (const s of selectors) expect(s.digest.length).to.equal(32);
      expect(selectors[1].digest.equals(hashSelector(key, 'SELECTOR_TYPE_MERCHANT_DOMAIN', 'example.com'))).to.equal(true);
    });

    it('gives equal digests for equivalent spellings', () => {
      const a = merchantSelectors(key, listing).selectors;
      const b = merchantSelectors(key, screening).selectors;
      expect(b.map((s) => s.field)).to.deep.equal(a.map((s) => s.field));
      for (let i = 0; i < a.length; i++) expect(b[i].digest.equals(a[i].digest), a[i].field).to.equal(true);
    });

    it('gives different digests for near misses, another key and another acquirer', () => {
      const base = merchantSelectors(key, listing).selectors;
      const near = merchantSelectors(key, {
        corporateNumber: '1000011000005',
        domain: 'example.co.jp',
        phone: '03-1234-5679',
        name: 'スマイル商事',
        address: '東京都港区芝公園1-2-3',
        representative: '山田 次郎',
        acquirerMid: { acquirer: 'acq-two', mid: 'MID001' },
      }).selectors;
      for (let i = 0; i < base.length; i++) expect(near[i].digest.equals(base[i].digest), base[i].field).to.equal(false);
      const otherKey = merchantSelectors(new Uint8Array(32).fill(8), listing).selectors;
      for (let i = 0; i < base.length; i++) expect(otherKey[i].digest.equals(base[i].digest)).to.equal(false);
    });

    it('separates selector types: the same value under two types gives two digests', () => {
      const rep = merchantSelectors(key, { representative: 'スマイル' }).selectors[0];
      const name = merchantSelectors(key, { name: 'スマイル', address: 'x' }).selectors[0];
      expect(rep.digest.equals(hashSelector(key, 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 'スマイル'))).to.equal(false);
      expect(name.digest.equals(rep.digest)).to.equal(false);
    });

    it('forms the name+address selector only when both are present', () => {
      const nameOnly = merchantSelectors(key, { name: 'スマイル', phone: '03-1234-5678' });
      expect(nameOnly.selectors.map((s) => s.field)).to.deep.equal(['phone']);
      expect(nameOnly.rejected).to.deep.equal([{ field: 'name', reason: 'is only used together with an address' }]);
      const addressOnly = merchantSelectors(key, { address: '東京都' });
      expect(addressOnly.selectors).to.deep.equal([]);
      expect(addressOnly.rejected).to.deep.equal([{ field: 'address', reason: 'is only used together with a name' }]);
    });

    it('reports every invalid field without its value and still hashes the valid ones', () => {
      const bad: MerchantFields = {
        corporateNumber: '7000012050003',
        domain: 'not a domain',
        phone: '03-1234-567',
        name: '株式会社',
        address: '東京都港区',
        representative: '   ',
        acquirerMid: { acquirer: 'ACQ!', mid: 'm' },
      };
      const { selectors, rejected } = merchantSelectors(key, { ...bad, corporateNumber: bad.corporateNumber, domain: 'example.com' });
      expect(selectors.map((s) => s.field)).to.deep.equal(['domain']);
      expect(rejected.map((r) => r.field)).to.deep.equal(['corporateNumber', 'phone', 'name', 'address', 'representative', 'acquirerMid']);
      expect(rejected[0].reason).to.equal('check digit does not match');
      expect(rejected.find((r) => r.field === 'address')?.reason).to.equal('is only used together with a valid name');
      const all = normalizeMerchantFields(bad);
      expect(all.values).to.deep.equal([]);
      const text = JSON.stringify(all.rejected);
      for (const v of ['7000012050003', 'not a domain', '03-1234-567', '東京都港区', 'ACQ!']) expect(text).not.to.include(v);
    });

    it('uses the default region for phones and treats undefined/null fields as absent', () => {
      const us = merchantSelectors(key, { phone: '(212) 555-0123' }, { defaultRegion: 'US' }).selectors[0];
      const intl = merchantSelectors(key, { phone: '+1 212 555 0123' }).selectors[0];
      expect(us.digest.equals(intl.digest)).to.equal(true);
      const empty = merchantSelectors(key, { domain: undefined, phone: null as unknown as string });
      expect(empty).to.deep.equal({ selectors: [], rejected: [] });
    });
  });
});
