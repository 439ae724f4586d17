// PAN normalization vectors (docs/protocol.md#pan-normalization): accepted numbers with their
// digits and keyed selector under the test key, refused ones with the reason, and which
// accepted numbers a member must still not publish (public test cards).
import { publishablePan } from '../../client-sdk/src/card-numbers';
import { normalizePan, withLuhnDigit } from '../../proto/ts/normalize';
import { publicTestPans } from '../../proto/ts/test-cards';
import { hashSelector } from '../../proto/ts/trust/domains';
import { hex, TEST_SELECTOR_KEY, vectorFile, type VectorFile } from './common';

export interface PanCase {
  id: string;
  /** The input, as JSON escapes it; separators and full-width digits are written as they are. */
  input: string;
  expected: { ok: true; digits: string; selector: string } | { ok: false; reason: string };
  /** For an accepted number: whether a member may publish it (public test cards: no). */
  publishable?: { ok: true } | { ok: false; reason: string };
}

/**
 * Synthetic card numbers: "00" then counting digits, Luhn check digit last. Major industry
 * identifier 0 is not a card network's, so none of these is a card anyone holds.
 */
const synthetic = (length: number): string => withLuhnDigit(`00${'123456789012345678'.slice(0, length - 3)}`);
const SYNTHETIC_16 = synthetic(16);
const grouped = (digits: string, separator: string): string => digits.replace(/(\d{4})(?=\d)/g, `$1${separator}`);
const fullWidth = (digits: string): string => [...digits].map((d) => String.fromCharCode(d.charCodeAt(0) - 0x30 + 0xff10)).join('');

function accepted(): [string, string][] {
  const cases: [string, string][] = [];
  for (let length = 12; length <= 19; length++) cases.push([`synthetic-${length}-digits`, synthetic(length)]);
  const separators: [string, string][] = [
    ['space', ' '],
    ['tab', '\t'],
    ['hyphen-minus', '-'],
    ['ideographic-space-u3000', '\u3000'],
    ['fullwidth-hyphen-minus-uff0d', '\uff0d'],
    ['hyphen-u2010', '\u2010'],
    ['non-breaking-hyphen-u2011', '\u2011'],
    ['figure-dash-u2012', '\u2012'],
    ['en-dash-u2013', '\u2013'],
    ['em-dash-u2014', '\u2014'],
    ['minus-sign-u2212', '\u2212'],
    ['katakana-prolonged-mark-u30fc', '\u30fc'],
    ['halfwidth-prolonged-mark-uff70', '\uff70'],
  ];
  for (const [name, separator] of separators) cases.push([`groups-separated-by-${name}`, grouped(SYNTHETIC_16, separator)]);
  cases.push(['fullwidth-digits', fullWidth(SYNTHETIC_16)]);
  cases.push(['fullwidth-digits-ideographic-spaces', grouped(fullWidth(SYNTHETIC_16), '\u3000')]);
  cases.push(['mixed-widths-and-separators', `${SYNTHETIC_16.slice(0, 4)} ${fullWidth(SYNTHETIC_16.slice(4, 8))}-${SYNTHETIC_16.slice(8, 12)}\u3000${SYNTHETIC_16.slice(12)}`]);
  cases.push(['leading-and-trailing-spaces', `  ${SYNTHETIC_16}  `]);
  cases.push(['separators-in-a-run', `${SYNTHETIC_16.slice(0, 8)} - ${SYNTHETIC_16.slice(8)}`]);
  cases.push(['few-distinct-digits-accepted', withLuhnDigit('001001001001001')]);
  return cases;
}

function refused(): [string, string][] {
  const luhnFail = SYNTHETIC_16.slice(0, 15) + String((Number(SYNTHETIC_16[15]) + 1) % 10);
  const cases: [string, string][] = [
    ['empty', ''],
    ['separators-only', ' - \u3000'],
    ['letter', `${SYNTHETIC_16.slice(0, 15)}X`],
    ['full-stop-separator', grouped(SYNTHETIC_16, '.')],
    ['slash-separator', grouped(SYNTHETIC_16, '/')],
    ['newline-separator', grouped(SYNTHETIC_16, '\n')],
    ['no-break-space-u00a0', grouped(SYNTHETIC_16, '\u00a0')],
    ['arabic-indic-digits', '\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662'],
    ['too-short-11-digits', withLuhnDigit('0012345678')],
    ['too-long-20-digits', withLuhnDigit('0012345678901234567')],
    ['too-short-with-separators', '0012 3456 789'],
    ['fails-luhn', luhnFail],
    ['fails-luhn-with-separators', grouped(luhnFail, ' ')],
  ];
  // Every length whose one-digit numbers pass Luhn: degenerate, refused.
  for (let length = 12; length <= 19; length++) {
    for (let d = 0; d <= 9; d++) {
      const digits = String(d).repeat(length);
      const r = normalizePan(digits);
      if (!r.ok && r.reason.startsWith('is degenerate')) cases.push([`degenerate-${length}x${d}`, digits]);
    }
  }
  cases.push(['degenerate-with-separators', '0000 0000 0000 0000']);
  return cases;
}

export function panVectors(): VectorFile<PanCase> {
  const cases: PanCase[] = [];
  for (const [id, input] of accepted()) cases.push(panCase(`accepted-${id}`, input));
  for (const [id, input] of refused()) cases.push(panCase(`refused-${id}`, input));
  publicTestPans().forEach((pan, i) => cases.push(panCase(`public-test-card-${i + 1}`, pan)));
  for (const c of cases) {
    if (c.id.startsWith('accepted-') && !c.expected.ok) throw new Error(`${c.id}: expected accepted, got ${c.expected.reason}`);
    if (c.id.startsWith('refused-') && c.expected.ok) throw new Error(`${c.id}: expected refused`);
  }
  return vectorFile({
    name: 'pan-normalization.json',
    version: 1,
    spec: 'docs/protocol.md#pan-normalization',
    description:
      'Card-number normalization. Accepted numbers are synthetic test data: "00" followed by counting digits and a Luhn check digit (major industry identifier 0, which no card network issues), never a real card. Public test cards (published by networks and payment providers) are accepted by normalization and refused for publication. selector: the keyed PAN selector (SELECTOR_TYPE_PAN) under the test key.',
    fixtures: { selectorKey: hex(TEST_SELECTOR_KEY) },
    cases,
  });
}

export function panCase(id: string, input: string): PanCase {
  const r = normalizePan(input);
  if (!r.ok) return { id, input, expected: { ok: false, reason: r.reason } };
  const publishable = publishablePan(input);
  return {
    id,
    input,
    expected: { ok: true, digits: r.digits, selector: hex(hashSelector(TEST_SELECTOR_KEY, 'SELECTOR_TYPE_PAN', r.digits)) },
    publishable: publishable.ok ? { ok: true } : { ok: false, reason: publishable.reason },
  };
}
