// Merchant normalization vectors (docs/protocol.md#merchant-selectors): each case is one input
// of one field with the value (or refusal) it gives and, for a selector field, its selector
// under the test key. Cases of one `group` give one value; a case with `differsFrom` is a
// near-miss that must give another value than that group.
import {
  corporateNumberCheckDigit,
  LEGAL_FORMS_JA,
  normalizeAcquirerMid,
  normalizeAddress,
  normalizeAddressV2,
  normalizeCorporateNumber,
  normalizeDomain,
  normalizeMerchantName,
  normalizeNameAddress,
  normalizePhone,
  normalizeRepresentative,
  type NormalizeResult,
} from '../../proto/ts/merchant';
import { hashSelector, selectorTagName, type SelectorTypeName } from '../../proto/ts/trust/domains';
import { hex, TEST_SELECTOR_KEY, vectorFile, type VectorFile } from './common';

/** The fields a merchant case normalizes. name and address alone are parts of the name+address selector. */
export type MerchantField = 'corporateNumber' | 'domain' | 'phone' | 'name' | 'address' | 'nameAddress' | 'representative' | 'acquirerMid';

export type MerchantInput = string | { name: string; address: string } | { acquirer: string; mid: string };

export interface MerchantCase {
  id: string;
  field: MerchantField;
  /** Normalization version: 2 for the name+address selector and addresses of version 2, otherwise 1. */
  version: number;
  input: MerchantInput;
  /** Phone only: the region a national number is read in. */
  defaultRegion?: string;
  expected: { ok: true; value: string; selector?: { type: SelectorTypeName; tag: string; digest: string } } | { ok: false; reason: string };
  group?: string;
  differsFrom?: string;
  note?: string;
}

const SELECTOR_OF_FIELD: Partial<Record<MerchantField, SelectorTypeName>> = {
  corporateNumber: 'SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER',
  domain: 'SELECTOR_TYPE_MERCHANT_DOMAIN',
  phone: 'SELECTOR_TYPE_MERCHANT_PHONE',
  nameAddress: 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS',
  representative: 'SELECTOR_TYPE_MERCHANT_REPRESENTATIVE',
  acquirerMid: 'SELECTOR_TYPE_MERCHANT_ACQUIRER_MID',
};

/** The normalization a case runs, by field and version. */
export function normalizeMerchantCase(c: Pick<MerchantCase, 'field' | 'version' | 'input' | 'defaultRegion'>): NormalizeResult {
  const text = (): string => c.input as string;
  switch (c.field) {
    case 'corporateNumber':
      return normalizeCorporateNumber(text());
    case 'domain':
      return normalizeDomain(text());
    case 'phone':
      return normalizePhone(text(), c.defaultRegion ?? 'JP');
    case 'name':
      return normalizeMerchantName(text());
    case 'address':
      return c.version === 2 ? normalizeAddressV2(text()) : normalizeAddress(text());
    case 'nameAddress': {
      const { name, address } = c.input as { name: string; address: string };
      return normalizeNameAddress(name, address, c.version as 1 | 2);
    }
    case 'representative':
      return normalizeRepresentative(text());
    case 'acquirerMid': {
      const { acquirer, mid } = c.input as { acquirer: string; mid: string };
      return normalizeAcquirerMid(acquirer, mid);
    }
  }
}

/** The expected outcome of a case as the code computes it, with its selector under the test key. */
export function expectedOf(c: Pick<MerchantCase, 'field' | 'version' | 'input' | 'defaultRegion'>): MerchantCase['expected'] {
  const r = normalizeMerchantCase(c);
  if (!r.ok) return { ok: false, reason: r.reason };
  const type = SELECTOR_OF_FIELD[c.field];
  if (!type) return { ok: true, value: r.value };
  return { ok: true, value: r.value, selector: { type, tag: selectorTagName(type, c.version), digest: hex(hashSelector(TEST_SELECTOR_KEY, type, r.value, c.version)) } };
}

type Spec = Omit<MerchantCase, 'expected' | 'version'> & { version?: number };

class Builder {
  readonly cases: MerchantCase[] = [];
  private readonly ids = new Set<string>();

  add(spec: Spec): void {
    if (this.ids.has(spec.id)) throw new Error(`duplicate vector id ${spec.id}`);
    this.ids.add(spec.id);
    const version = spec.version ?? 1;
    const c: MerchantCase = { id: spec.id, field: spec.field, version, input: spec.input, expected: expectedOf({ ...spec, version }) };
    if (spec.defaultRegion) {
      // Keep the key order of the file: defaultRegion before expected.
      const { expected, ...rest } = c;
      Object.assign(c, { ...rest, defaultRegion: spec.defaultRegion });
      delete (c as Partial<MerchantCase>).expected;
      c.expected = expected;
    }
    if (spec.group) c.group = spec.group;
    if (spec.differsFrom) c.differsFrom = spec.differsFrom;
    if (spec.note) c.note = spec.note;
    this.cases.push(c);
  }

  same(field: MerchantField, group: string, inputs: readonly MerchantInput[], extra: Partial<Spec> = {}): void {
    inputs.forEach((input, i) => this.add({ id: `${group}/${i + 1}`, field, input, group, ...extra }));
  }

  near(field: MerchantField, differsFrom: string, inputs: readonly [MerchantInput, string][], extra: Partial<Spec> = {}): void {
    inputs.forEach(([input, note], i) => this.add({ id: `${differsFrom}/near-${i + 1}`, field, input, differsFrom, note, ...extra }));
  }

  refused(field: MerchantField, prefix: string, inputs: readonly [MerchantInput, string][], extra: Partial<Spec> = {}): void {
    inputs.forEach(([input, note], i) => this.add({ id: `${prefix}/refused-${i + 1}`, field, input, note, ...extra }));
  }
}

function names(b: Builder): void {
  const smile: MerchantInput[] = ['スマイル'];
  for (const form of LEGAL_FORMS_JA) smile.push(`${form}スマイル`, `スマイル${form}`, `${form} スマイル`, `スマイル　${form}`);
  smile.push('(株)スマイル', 'スマイル(株)', '㈱スマイル', 'スマイル㈱', '（株）スマイル', '（株） スマイル', '(有)スマイル', '㈲スマイル', '(同)スマイル', '(資)スマイル', '㈾スマイル', '(名)スマイル', '㈴スマイル');
  smile.push('ｽﾏｲﾙ', 'ｽﾏｲﾙ㈱', 'ｶﾌﾞｼｷｶﾞｲｼｬ ｽﾏｲﾙ', '株式会社スマイル。', '・スマイル・', '、スマイル、', ' スマイル ', 'スマイル\u200b', '\ufeffスマイル', '株式会社 (株) スマイル 株式会社');
  b.same('name', 'name/smile', smile);
  b.near('name', 'name/smile', [
    ['スマイル東京', 'another word after the name'],
    ['スマイルズ', 'another name'],
    ['スマイル商事', '商事 is not a legal form'],
    ['スマイル社', '社 alone is not a legal form'],
    ['すまいる', 'hiragana is not katakana'],
    ['smile', 'romanized'],
    ['スマイル株式', 'a truncated legal form'],
    ['スマイル[株]', 'brackets other than ( )'],
  ]);
  b.same('name', 'name/smile-tokyo', ['スマイル東京', 'スマイル 東京', 'スマイル株式会社東京', 'スマイル　東京', '株式会社スマイル 東京', 'スマイル(株)東京']);

  const acme: MerchantInput[] = ['Acme'];
  for (const form of ['Co., Ltd.', 'Co.,Ltd.', 'CO., LTD.', 'Co. Ltd', 'Co Ltd', 'co ltd.', 'Ltd', 'Ltd.', 'LIMITED', 'Limited', 'Inc', 'Inc.', 'INC.', 'Incorporated', 'K.K.', 'K. K.', 'k.k', 'LLC', 'L.L.C.', 'llc.', 'Corporation', 'Corp', 'Corp.', 'CORP.']) {
    acme.push(`Acme ${form}`, `${form} Acme`);
  }
  acme.push('Acme, Inc.', 'ACME', 'acme', 'ＡＣＭＥ', 'Ａｃｍｅ　Ｉｎｃ．', 'Acme.', '  Acme  ', 'Acme Inc. LLC', 'Acme株式会社', '株式会社Acme', '(株)ACME');
  b.same('name', 'name/acme', acme);
  b.near('name', 'name/acme', [
    ['Acme Kabushiki Kaisha', 'the romanized Japanese form is kept'],
    ['Acme G.K.', 'G.K. is kept'],
    ['Acme Co.', 'Co. alone is kept'],
    ['Acme GmbH', 'forms of other countries are kept'],
    ['Acme KK', 'KK without dots is kept'],
    ['AcmeInc', 'not a whole word'],
    ['Acme Incorporation', 'not a legal form word'],
    ['Acmé', 'an accented letter'],
    ['Acme Japan', 'another word'],
    ["Acme-Inc", "a hyphen is not a Latin letter: Inc is removed as a whole word and the hyphen stays (acme-)"],
  ]);
  b.same('name', 'name/acme-trading', ['Acme Trading', 'ACME  TRADING', 'Acme\tTrading', 'Acme\u00a0Trading', 'Acme\u3000Trading', 'Acme Inc Trading', 'Acme Trading Co., Ltd.', 'ＡＣＭＥ ＴＲＡＤＩＮＧ', 'Acme\nTrading', 'Acme \u2003 Trading']);
  b.near('name', 'name/acme-trading', [
    ['AcmeTrading', 'no space between Latin words'],
    ['Acme\u200bTrading', 'a zero-width space is removed, not a space'],
    ['Acme Tradings', 'another word'],
    ['Acme-Trading', 'a hyphen is kept'],
  ]);
  b.same('name', 'name/mixed', ['スマイル Tokyo', 'スマイルTokyo', 'スマイル　ＴＯＫＹＯ', '株式会社スマイル Tokyo']);
  b.near('name', 'name/mixed', [['スマイル Tokyo Inc Osaka', 'another word']]);
  b.same('name', 'name/dots-kept-inside', ['A.B.C. Foods', 'a.b.c. foods', 'A.B.C. Foods Inc.']);
  b.near('name', 'name/dots-kept-inside', [['ABC Foods', 'dots inside a name are kept']]);
  b.refused('name', 'name', [
    ['', 'empty'],
    ['   ', 'spaces only'],
    ['株式会社', 'a legal form only'],
    ['Co., Ltd.', 'a legal form only'],
    ['\ud800スマイル', 'a lone surrogate'],
    ['a'.repeat(1025), 'over 1,024 characters'],
  ]);
}

function addresses(b: Builder): void {
  const street = ['1-2-3 Shibakoen', '1‐2‐3 Shibakoen', '1‑2‑3 Shibakoen', '1‒2‒3 Shibakoen', '1–2–3 Shibakoen', '1—2—3 Shibakoen', '1―2―3 Shibakoen', '1−2−3 Shibakoen', '1⁃2⁃3 Shibakoen', '1－2－3 Shibakoen', '1ー2ー3 Shibakoen', '1ｰ2ｰ3 Shibakoen', '1 - 2 - 3 Shibakoen', '１－２－３ Ｓｈｉｂａｋｏｅｎ', '1-2-3  SHIBAKOEN'];
  b.same('address', 'address-v1/shibakoen', street);
  b.near('address', 'address-v1/shibakoen', [
    ['1-2-4 Shibakoen', 'another number'],
    ['1/2/3 Shibakoen', 'a slash is not a hyphen'],
    ['1.2.3 Shibakoen', 'a full stop is not a hyphen'],
    ['123 Shibakoen', 'numbers run together'],
  ]);
  b.same('address', 'address-v1/fifth-avenue', ['350 Fifth Avenue, New York', '350 FIFTH AVENUE, NEW YORK', '350  Fifth Avenue,  New York ', '３５０ Ｆｉｆｔｈ Ａｖｅｎｕｅ, Ｎｅｗ Ｙｏｒｋ']);
  b.near('address', 'address-v1/fifth-avenue', [
    ['350 Fifth Avenue New York', 'the comma is kept in addresses'],
    ['350 Fifth Avenue, New York.', 'a final full stop is kept in addresses'],
  ]);
  b.same('address', 'address-v1/tower', ['東京タワー', '東京 タワー', '東京ﾀﾜｰ']);
  b.near('address', 'address-v1/tower', [['東京タワ-', 'ー is kept after a katakana, a hyphen is not ー']]);
  b.same('address', 'address-v2/latin', ['1-2-3 Shibakoen, Minato-ku', '1−2−3 Shibakoen, Minato-ku', '1ー2ー3 SHIBAKOEN, MINATO-KU'], { version: 2 });
  b.refused('address', 'address-v1', [
    ['', 'empty'],
    ['\u200b', 'only a format character'],
    ['\udfff1-2-3', 'a lone surrogate'],
  ]);
}

function nameAddress(b: Builder): void {
  b.same('nameAddress', 'name-address-v2/smile-marunouchi', [
    { name: '株式会社スマイル', address: '東京都千代田区丸の内１－１－１' },
    { name: 'スマイル', address: '東京都千代田区丸の内1丁目1番1号' },
    { name: '(株)スマイル', address: '東京都千代田区丸の内一丁目1-1' },
    { name: 'ｽﾏｲﾙ㈱', address: '千代田区丸の内1-1-1' },
    { name: 'スマイル 株式会社', address: '〒100-0005 東京都千代田区丸の内1-1-1 パレスビル5階' },
  ], { version: 2 });
  b.near('nameAddress', 'name-address-v2/smile-marunouchi', [
    [{ name: 'スマイル', address: '東京都千代田区丸の内1-1-2' }, 'another 号'],
    [{ name: 'スマイルズ', address: '東京都千代田区丸の内1-1-1' }, 'another name'],
    [{ name: 'スマイル', address: '東京都千代田区大手町1-1-1' }, 'another town'],
  ], { version: 2 });
  b.same('nameAddress', 'name-address-v1/smile-marunouchi', [
    { name: '株式会社スマイル', address: '東京都千代田区丸の内１－１－１' },
    { name: 'スマイル', address: '東京都千代田区丸の内1ー1ー1' },
    { name: 'ｽﾏｲﾙ', address: '東京都 千代田区 丸の内 1 - 1 - 1' },
  ]);
  b.near('nameAddress', 'name-address-v1/smile-marunouchi', [
    [{ name: 'スマイル', address: '東京都千代田区丸の内1丁目1番1号' }, 'version 1 does not read 丁目/番/号'],
    [{ name: 'スマイル', address: '千代田区丸の内1-1-1' }, 'version 1 keeps the prefecture'],
  ]);
  b.same('nameAddress', 'name-address-v2/acme', [
    { name: 'Acme Trading Co., Ltd.', address: '350 Fifth Avenue, New York' },
    { name: 'ACME TRADING', address: '350 FIFTH AVENUE, NEW YORK' },
  ], { version: 2 });
  b.refused('nameAddress', 'name-address', [
    [{ name: '株式会社', address: '東京都千代田区丸の内1-1-1' }, 'the name is a legal form only'],
    [{ name: 'スマイル', address: '' }, 'no address'],
    [{ name: '', address: '東京都千代田区丸の内1-1-1' }, 'no name'],
  ], { version: 2 });
}

function domains(b: Builder): void {
  b.same('domain', 'domain/example', [
    'example.com',
    'EXAMPLE.COM',
    'Example.Com',
    'www.example.com',
    'WWW.EXAMPLE.COM',
    'example.com.',
    'www.example.com.',
    'https://example.com',
    'https://www.example.com/',
    'http://www.example.com/path/to/page?query=1#top',
    'HTTPS://EXAMPLE.COM/SHOP',
    'https://user:password@example.com:8443/',
    'user@example.com',
    '//example.com/x',
    'example.com:443',
    'example.com?x',
    'example.com#x',
    'example.com\\path',
    '  example.com  ',
    'ｅｘａｍｐｌｅ．ｃｏｍ',
    'example。com',
    'example｡com',
    'ftp://example.com',
  ]);
  b.near('domain', 'domain/example', [
    ['shop.example.com', 'a subdomain'],
    ['www.www.example.com', 'one www. only is removed'],
    ['example.co', 'another top-level domain'],
    ['example.com.au', 'another domain that begins the same'],
    ['examp1e.com', 'a digit for a letter'],
    ['example-shop.com', 'another name'],
    ['xample.com', 'a letter left out'],
  ]);
  b.same('domain', 'domain/www-only', ['www.com', 'WWW.COM', 'https://www.com/']);
  b.same('domain', 'domain/idn-jp', ['例え.jp', 'xn--r8jz45g.jp', 'XN--R8JZ45G.JP', 'https://例え.jp/', 'www.例え.jp', '例え．ｊｐ', '例え。jp']);
  b.near('domain', 'domain/idn-jp', [['例え.com', 'another top-level domain'], ['例.jp', 'another name']]);
  b.same('domain', 'domain/idn-de', ['bücher.de', 'BÜCHER.DE', 'xn--bcher-kva.de', 'bu\u0308cher.de', 'www.bücher.de']);
  b.near('domain', 'domain/idn-de', [['bucher.de', 'the umlaut is not dropped'], ['buecher.de', 'ü is not spelled ue']]);
  b.same('domain', 'domain/sharp-s', ['faß.de', 'xn--fa-hia.de']);
  b.near('domain', 'domain/sharp-s', [['fass.de', 'non-transitional: ß is not mapped to ss']]);
  b.same('domain', 'domain/hyphenated', ['my-shop.example.jp', 'MY-SHOP.EXAMPLE.JP']);
  b.refused('domain', 'domain', [
    ['', 'empty'],
    ['https://', 'nothing after the scheme'],
    ['localhost', 'one label'],
    ['192.168.0.1', 'an IPv4 address'],
    ['http://[2001:db8::1]/', 'an IPv6 address'],
    ['exa mple.com', 'whitespace'],
    ['-example.com', 'a label that begins with a hyphen'],
    ['example-.com', 'a label that ends with a hyphen'],
    ['exam_ple.com', 'an underscore'],
    [`${'a'.repeat(64)}.com`, 'a label of 64 characters'],
    [`${'abcdefghi.'.repeat(26)}com`, 'over 253 characters'],
    ['example..com', 'an empty label'],
    ['\ud800.com', 'a lone surrogate'],
  ]);
}

function phones(b: Builder): void {
  b.same('phone', 'phone/tokyo', [
    '03-1234-5678',
    '0312345678',
    '03 1234 5678',
    '(03) 1234-5678',
    '03(1234)5678',
    '+81 3-1234-5678',
    '+81312345678',
    '+81-3-1234-5678',
    '+81 (3) 1234 5678',
    '０３－１２３４－５６７８',
    '＋８１３１２３４５６７８',
    'tel:+81-3-1234-5678',
    'TEL:03-1234-5678',
    ' 03-1234-5678 ',
    '03-1234-5678 ext. 12',
    '03.1234.5678',
    '+81 (0)3 1234 5678',
  ]);
  b.near('phone', 'phone/tokyo', [
    ['03-1234-5679', 'one digit off'],
    ['06-1234-5678', 'another area code'],
    ['+82 2-1234-5678', 'another country'],
  ]);
  b.same('phone', 'phone/mobile', ['090-1234-5678', '+81 90 1234 5678', '０９０１２３４５６７８']);
  b.same('phone', 'phone/toll-free', ['0120-123-456', '+81 120 123 456']);
  b.same('phone', 'phone/us', ['+1 202-555-0125', '(202) 555-0125', '202.555.0125'], { defaultRegion: 'US' });
  b.near('phone', 'phone/us', [['(202) 555-0126', 'one digit off']], { defaultRegion: 'US' });
  b.add({ id: 'phone/us/read-as-japanese', field: 'phone', input: '(202) 555-0125', note: 'a national number is read in the default region: JP here' });
  b.same('phone', 'phone/uk', ['+44 20 7946 0123', '020 7946 0123'], { defaultRegion: 'GB' });
  b.refused('phone', 'phone', [
    ['', 'empty'],
    ['tel:', 'nothing after tel:'],
    ['abc', 'not a number'],
    ['12', 'too short'],
    ['03-1234-567', 'a digit short for Tokyo'],
    ['+999 1234 5678', 'no such country code'],
    ['+81 00-0000-0000', 'not valid in the numbering plan'],
    ['call 03-1234-5678', 'surrounding text is not extracted'],
    ['0312345678901234567890', 'too long'],
  ]);
  b.add({ id: 'phone/refused-region', field: 'phone', input: '03-1234-5678', defaultRegion: 'XX', note: 'an unsupported default region' });
}

function corporateNumbers(b: Builder): void {
  const number = (base: string): string => `${corporateNumberCheckDigit(base)}${base}`;
  const n1 = number('000012050002');
  const n2 = number('010401006783');
  const spaced = (n: string, sep: string): string => `${n.slice(0, 1)}${sep}${n.slice(1, 5)}${sep}${n.slice(5, 9)}${sep}${n.slice(9)}`;
  const fullWidth = (n: string): string => [...n].map((d) => String.fromCharCode(d.charCodeAt(0) - 0x30 + 0xff10)).join('');
  b.same('corporateNumber', 'corporate-number/1', [n1, spaced(n1, '-'), spaced(n1, ' '), spaced(n1, '－'), spaced(n1, 'ー'), spaced(n1, '\u3000'), fullWidth(n1), ` ${n1} `]);
  b.near('corporateNumber', 'corporate-number/1', [[n2, 'another valid number']]);
  b.same('corporateNumber', 'corporate-number/2', [n2, spaced(n2, '‐')]);
  const wrongCheck = `${(Number(n1[0]) % 9) + 1}${n1.slice(1)}`;
  b.refused('corporateNumber', 'corporate-number', [
    ['', 'empty'],
    [wrongCheck, 'check digit does not match'],
    [n1.slice(1), '12 digits'],
    [`${n1}0`, '14 digits'],
    [`${n1.slice(0, 12)}A`, 'a letter'],
    [`${n1.slice(0, 6)}.${n1.slice(6)}`, 'a full stop'],
  ]);
}

function mids(b: Builder): void {
  b.same('acquirerMid', 'acquirer-mid/b-0001', [
    { acquirer: 'acquirer-b', mid: 'MID-0001' },
    { acquirer: 'acquirer-b', mid: ' MID-0001 ' },
    { acquirer: 'acquirer-b', mid: 'ＭＩＤ－０００１' },
    { acquirer: 'acquirer-b', mid: '\tMID-0001\u3000' },
  ]);
  b.near('acquirerMid', 'acquirer-mid/b-0001', [
    [{ acquirer: 'acquirer-b', mid: 'mid-0001' }, 'case is kept'],
    [{ acquirer: 'acquirer-c', mid: 'MID-0001' }, 'another acquirer'],
    [{ acquirer: 'acquirer-b', mid: 'MID-0002' }, 'another MID'],
    [{ acquirer: 'acquirer-b', mid: 'MID 0001' }, 'a space for a hyphen'],
    [{ acquirer: 'acquirer-b', mid: 'MID‐0001' }, 'U+2010 is not mapped to a hyphen-minus in a MID'],
  ]);
  b.same('acquirerMid', 'acquirer-mid/numeric', [{ acquirer: 'acq-01', mid: '000123456' }, { acquirer: 'acq-01', mid: '０００１２３４５６' }]);
  b.near('acquirerMid', 'acquirer-mid/numeric', [[{ acquirer: 'acq-01', mid: '123456' }, 'leading zeros are kept']]);
  b.refused('acquirerMid', 'acquirer-mid', [
    [{ acquirer: 'AB', mid: 'MID-0001' }, 'acquirer id too short'],
    [{ acquirer: 'Acquirer-B', mid: 'MID-0001' }, 'upper case in the acquirer id'],
    [{ acquirer: 'acquirer:b', mid: 'MID-0001' }, 'a colon in the acquirer id'],
    [{ acquirer: 'acquirer-b', mid: '   ' }, 'empty MID'],
    [{ acquirer: 'acquirer-b', mid: 'MID\u00000001' }, 'a control character'],
    [{ acquirer: 'acquirer-b', mid: 'MID\u200d0001' }, 'a format character'],
    [{ acquirer: 'acquirer-b', mid: 'M'.repeat(65) }, 'over 64 characters'],
  ]);
}

function representatives(b: Builder): void {
  b.same('representative', 'representative/yamada', ['山田太郎', '山田 太郎', '山田　太郎', ' 山田 太郎 ', '山田\u200b太郎']);
  b.near('representative', 'representative/yamada', [['山田次郎', 'another given name'], ['山田 太郎 様', 'an honorific is kept']]);
  b.same('representative', 'representative/katakana', ['ヤマダ タロウ', 'ﾔﾏﾀﾞ ﾀﾛｳ', 'ヤマダタロウ']);
  b.same('representative', 'representative/latin', ['Taro Yamada', 'TARO  YAMADA', 'ｔａｒｏ ｙａｍａｄａ']);
  b.near('representative', 'representative/latin', [['Yamada Taro', 'another order'], ['TaroYamada', 'no space between Latin words']]);
  b.refused('representative', 'representative', [['', 'empty'], ['\u3000', 'an ideographic space only']]);
}

export function merchantCases(): MerchantCase[] {
  const b = new Builder();
  names(b);
  addresses(b);
  nameAddress(b);
  domains(b);
  phones(b);
  corporateNumbers(b);
  mids(b);
  representatives(b);
  return b.cases;
}

export function merchantVectors(): VectorFile<MerchantCase> {
  const cases = merchantCases();
  const problems = groupProblems(cases);
  for (const c of cases) if (c.id.includes('/refused') && c.expected.ok) problems.push(`${c.id}: expected a refusal, got ${JSON.stringify(c.expected.value)}`);
  if (problems.length > 0) throw new Error(`merchant vectors contradict the code:\n${problems.join('\n')}`);
  return vectorFile({
    name: 'merchant-normalization.json',
    version: 1,
    spec: 'docs/protocol.md#merchant-selectors',
    description:
      'Merchant field normalization. Cases of one group must give one value; a case with differsFrom is a near-miss that must give a value other than its group\'s. selector: the keyed selector under the test key (fields that are a selector by themselves; name and address alone are parts of the name+address selector). Reasons are what this implementation says; a second implementation needs only to refuse.',
    fixtures: { selectorKey: hex(TEST_SELECTOR_KEY) },
    cases,
  });
}

/** What is wrong with the cases' group relations (empty when one group has one value and near-misses differ). */
export function groupProblems(cases: readonly { id: string; group?: string; differsFrom?: string; expected: { ok: boolean; value?: string } }[]): string[] {
  const problems: string[] = [];
  const valueOf = new Map<string, string>();
  for (const c of cases) {
    if (!c.group) continue;
    if (!c.expected.ok) {
      problems.push(`${c.id}: refused, but in group ${c.group}`);
      continue;
    }
    const seen = valueOf.get(c.group);
    if (seen === undefined) valueOf.set(c.group, c.expected.value as string);
    else if (seen !== c.expected.value) problems.push(`${c.id}: ${JSON.stringify(c.expected.value)} differs from its group ${c.group} (${JSON.stringify(seen)})`);
  }
  for (const c of cases) {
    if (!c.differsFrom) continue;
    const groupValue = valueOf.get(c.differsFrom);
    if (groupValue === undefined) problems.push(`${c.id}: no group ${c.differsFrom}`);
    else if (!c.expected.ok) problems.push(`${c.id}: a near-miss must be accepted`);
    else if (c.expected.value === groupValue) problems.push(`${c.id}: a near-miss of ${c.differsFrom} gives its value ${JSON.stringify(groupValue)}`);
  }
  return problems;
}
