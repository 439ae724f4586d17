import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { DEGENERATE_PAN_REASON, luhnValid, normalizePan, withLuhnDigit } from '../../proto/ts/normalize';
import { publishablePan } from '../../client-sdk/src/card-numbers';
import { DIGEST_BYTES, hashSelector, panSelector, SELECTOR_DOMAINS, type SelectorTypeName } from '../../proto/ts/trust/domains';
import { sodium, sodiumReady } from '../../proto/ts/sodium';
import { isPublicTestPan, publicTestPans } from '../../proto/ts/test-cards';

/** ASCII digits → full-width digits (U+FF10..U+FF19). */
const fullWidth = (s: string) => s.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + d.charCodeAt(0) - 0x30));

/** A Luhn-valid number with this many digits (deterministic). */
const validPan = (length: number, prefix = '454545') => withLuhnDigit((prefix + '9876543210987654321').slice(0, length - 1));

function rejected(input: string): string {
  const r = normalizePan(input);
  expect(r.ok, `expected ${JSON.stringify(input)} to be rejected`).to.equal(false);
  return (r as { ok: false; reason: string }).reason;
}

/** A reason is safe to log: it never carries the card number or any long run of its digits. */
function expectSafeReason(reason: string, input: string): void {
  expect(reason).to.be.a('string').and.not.equal('');
  const digits = input.replace(/[^0-9]/g, '');
  if (digits.length > 0) expect(reason).not.to.include(digits);
  expect(reason).not.to.include(input);
  expect(reason).not.to.match(/[0-9]{4,}/);
}

describe('unit: PAN normalization', () => {
  const pan16 = validPan(16); // 4545459876543218, Luhn-valid

  it('builds Luhn-valid fixtures (sanity of withLuhnDigit and luhnValid)', () => {
    expect(luhnValid('79927398713')).to.equal(true);
    expect(luhnValid('79927398710')).to.equal(false);
    expect(withLuhnDigit('7992739871')).to.equal('79927398713');
    expect(pan16).to.equal('4545459876543218');
    expect(luhnValid(pan16)).to.equal(true);
  });

  it('accepts plain digits unchanged', () => {
    expect(normalizePan(pan16)).to.deep.equal({ ok: true, digits: pan16 });
  });

  it('removes spaces, tabs and dashes', () => {
    const grouped = `${pan16.slice(0, 4)} ${pan16.slice(4, 8)}-${pan16.slice(8, 12)}\t${pan16.slice(12)}`;
    expect(normalizePan(grouped)).to.deep.equal({ ok: true, digits: pan16 });
    expect(normalizePan(`  ${pan16}  `)).to.deep.equal({ ok: true, digits: pan16 });
    expect(normalizePan(pan16.split('').join('-'))).to.deep.equal({ ok: true, digits: pan16 });
  });

  it('accepts full-width digits, full-width spaces and full-width dashes (as typed with a Japanese IME)', () => {
    const fw = fullWidth(pan16);
    const input = `${fw.slice(0, 4)}\u3000${fw.slice(4, 8)}\uff0d${fw.slice(8, 12)} ${fw.slice(12)}`;
    expect(input).to.match(/^[\uff10-\uff19\u3000\uff0d ]+$/);
    expect(normalizePan(input)).to.deep.equal({ ok: true, digits: pan16 });
    expect(normalizePan('４５４５ ４５９８ ７６５４ ３２１８')).to.deep.equal({ ok: true, digits: '4545459876543218' });
  });

  it('accepts every length from 12 to 19 digits', () => {
    for (let n = 12; n <= 19; n++) {
      const pan = validPan(n);
      expect(pan).to.have.length(n);
      expect(normalizePan(pan), `${n} digits`).to.deep.equal({ ok: true, digits: pan });
    }
  });

  it('rejects 11 digits as too short, with a reason free of the digits', () => {
    const pan = validPan(11);
    expect(luhnValid(pan)).to.equal(true); // rejected for its length, not its check digit
    const reason = rejected(pan);
    expect(reason).to.include('too short');
    expectSafeReason(reason, pan);
  });

  it('rejects 20 digits as too long, with a reason free of the digits', () => {
    const pan = validPan(20);
    expect(luhnValid(pan)).to.equal(true);
    const reason = rejected(pan);
    expect(reason).to.include('too long');
    expectSafeReason(reason, pan);
  });

  it('rejects a Luhn failure', () => {
    const last = Number(pan16[15]);
    const bad = pan16.slice(0, 15) + String((last + 1) % 10);
    expect(luhnValid(bad)).to.equal(false);
    const reason = rejected(bad);
    expect(reason).to.include('Luhn');
    expectSafeReason(reason, bad);
    // A separator-formatted Luhn failure is rejected the same way.
    expectSafeReason(rejected(`${bad.slice(0, 8)} ${bad.slice(8)}`), bad);
  });

  it('rejects letters and other characters', () => {
    for (const input of [`${pan16.slice(0, 15)}a`, `O${pan16.slice(1)}`, `${pan16}.`, `${pan16.slice(0, 8)}/${pan16.slice(8)}`, `+${pan16}`]) {
      const reason = rejected(input);
      expect(reason).to.include('characters other than digits');
      expectSafeReason(reason, input);
    }
  });

  it('rejects digits from other scripts (only ASCII and full-width digits are card digits)', () => {
    const arabicIndic = pan16.replace(/[0-9]/g, (d) => String.fromCharCode(0x0660 + Number(d)));
    expectSafeReason(rejected(arabicIndic), pan16);
  });

  it('rejects the empty string', () => {
    const reason = rejected('');
    expect(reason).to.equal('is empty');
  });

  it('rejects input made only of separators', () => {
    for (const input of [' ', '----', ' - \t', '\u3000\uff0d']) {
      const reason = rejected(input);
      expect(reason).to.equal('has no digits');
    }
  });

  it('refuses degenerate numbers — every digit the same, all zeros included — with a reason, in any spelling', () => {
    const degenerate: string[] = [];
    for (let length = 12; length <= 19; length++) {
      for (let d = 0; d <= 9; d++) {
        const digits = String(d).repeat(length);
        if (luhnValid(digits)) degenerate.push(digits); // the others already fail Luhn
      }
    }
    expect(degenerate).to.include('0000000000000000');
    expect(degenerate.length).to.be.greaterThan(8);
    for (const digits of degenerate) {
      for (const spelling of [digits, digits.replace(/(\d{4})(?=\d)/g, '$1 '), fullWidth(digits)]) {
        const reason = rejected(spelling);
        expect(reason, spelling).to.equal(DEGENERATE_PAN_REASON);
        expectSafeReason(reason, spelling);
      }
    }
    expect(publishablePan('0000 0000 0000 0000')).to.deep.equal({ ok: false, reason: `card number ${DEGENERATE_PAN_REASON}` });
  });

  it('accepts numbers with few distinct digits: only all-the-same is degenerate', () => {
    for (const partial of ['400000000000000', '500000000000000', '1111111111111112'.slice(0, 15), '000000000000001', '4444444444444']) {
      const pan = withLuhnDigit(partial);
      expect(normalizePan(pan), pan).to.deep.equal({ ok: true, digits: pan });
    }
  });
});

describe('unit: public test card numbers', () => {
  it('flags the well-known test numbers', () => {
    expect(isPublicTestPan('4111111111111111')).to.equal(true);
    expect(isPublicTestPan('4242424242424242')).to.equal(true);
    expect(isPublicTestPan('5555555555554444')).to.equal(true);
    expect(isPublicTestPan('378282246310005')).to.equal(true);
  });

  it('matches after normalization of a formatted test number', () => {
    const r = normalizePan('4111 1111-1111 1111');
    expect(r.ok).to.equal(true);
    expect(isPublicTestPan((r as { digits: string }).digits)).to.equal(true);
  });

  it('does not flag an ordinary valid PAN', () => {
    const pan = validPan(16, '454545');
    expect(normalizePan(pan).ok).to.equal(true);
    expect(publicTestPans()).not.to.include(pan);
    expect(isPublicTestPan(pan)).to.equal(false);
  });

  it('does not flag a random Luhn-valid 16-digit PAN', () => {
    const body = '4' + Array.from(randomBytes(14), (b) => String(b % 10)).join('');
    const pan = withLuhnDigit(body);
    expect(luhnValid(pan)).to.equal(true);
    expect(isPublicTestPan(pan)).to.equal(publicTestPans().includes(pan));
    expect(isPublicTestPan(pan)).to.equal(false); // 1 in 10^14 chance of a listed number
  });

  it('only matches normalized digits, not formatted input', () => {
    expect(isPublicTestPan('4111 1111 1111 1111')).to.equal(false);
  });
});

describe('unit: selectors', () => {
  let key1: Uint8Array;
  let key2: Uint8Array;
  const digits = '4545459876543218';

  before(async () => {
    await sodiumReady();
    key1 = Uint8Array.from(randomBytes(32));
    key2 = Uint8Array.from(randomBytes(32));
  });

  it('is 32 bytes', () => {
    expect(DIGEST_BYTES).to.equal(32);
    const d = panSelector(key1, digits);
    expect(Buffer.isBuffer(d)).to.equal(true);
    expect(d).to.have.length(32);
    expect(hashSelector(key1, 'SELECTOR_TYPE_MERCHANT_DOMAIN', 'example.co.jp')).to.have.length(32);
  });

  it('is deterministic for the same key and value', () => {
    expect(panSelector(key1, digits).equals(panSelector(key1, digits))).to.equal(true);
    expect(panSelector(key1, digits).equals(hashSelector(key1, 'SELECTOR_TYPE_PAN', digits))).to.equal(true);
    // A copy of the key gives the same digest (no dependence on the key object's identity).
    expect(panSelector(Uint8Array.from(key1), digits).equals(panSelector(key1, digits))).to.equal(true);
  });

  it('differs across keys (epochs)', () => {
    expect(panSelector(key1, digits).equals(panSelector(key2, digits))).to.equal(false);
  });

  it('differs across values', () => {
    const other = withLuhnDigit(digits.slice(0, 14) + String((Number(digits[14]) + 1) % 10));
    expect(other).not.to.equal(digits);
    expect(panSelector(key1, digits).equals(panSelector(key1, other))).to.equal(false);
  });

  it('separates domains: the same value under PAN and BIN types hashes differently', () => {
    const x = '454545';
    expect(hashSelector(key1, 'SELECTOR_TYPE_PAN', x).equals(hashSelector(key1, 'SELECTOR_TYPE_BIN', x))).to.equal(false);
  });

  it('separates every selector type from every other', () => {
    const types = Object.keys(SELECTOR_DOMAINS) as SelectorTypeName[];
    expect(types).to.have.length(8);
    const seen = new Set(types.map((t) => hashSelector(key1, t, '0312345678').toString('hex')));
    expect(seen.size).to.equal(types.length);
  });

  it('equals crypto_generichash(32, "mamori/v1/pan\\0" + digits, key), computed independently', () => {
    const s = sodium();
    const expected = Buffer.from(s.crypto_generichash(32, Buffer.from(`mamori/v1/pan\0${digits}`, 'utf8'), key1));
    expect(panSelector(key1, digits).toString('hex')).to.equal(expected.toString('hex'));
    // The string form of the message (libsodium-wrappers encodes it as UTF-8) agrees too.
    const viaString = Buffer.from(s.crypto_generichash(32, `mamori/v1/pan\0${digits}`, key1));
    expect(panSelector(key1, digits).equals(viaString)).to.equal(true);
  });

  it('follows the construction for every type, with UTF-8 values', () => {
    const s = sodium();
    const value = '株式会社テスト 東京都千代田区1-1';
    for (const [type, domain] of Object.entries(SELECTOR_DOMAINS) as [SelectorTypeName, string][]) {
      const expected = Buffer.from(s.crypto_generichash(32, Buffer.from(`mamori/v1/${domain}\0${value}`, 'utf8'), key2));
      expect(hashSelector(key2, type, value).equals(expected), type).to.equal(true);
    }
  });

  it('is not an unkeyed hash of the value', () => {
    const s = sodium();
    const unkeyed = Buffer.from(s.crypto_generichash(32, Buffer.from(`mamori/v1/pan\0${digits}`, 'utf8'), null));
    expect(panSelector(key1, digits).equals(unkeyed)).to.equal(false);
  });

  it('refuses an unknown selector type', () => {
    expect(() => hashSelector(key1, 'SELECTOR_TYPE_UNSPECIFIED' as SelectorTypeName, digits)).to.throw(/unknown selector type/);
  });
});
