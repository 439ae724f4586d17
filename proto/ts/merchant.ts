// Merchant identity normalization is part of the protocol (docs/design.md#merchant-fields): every member must derive
// the same bytes from the same merchant, so each rule below is deterministic and documented.
// Pure functions, no I/O. A rejection reason names what is wrong and never contains the input,
// so it is safe to log and to return over the wire.
import { domainToASCII } from 'node:url';
import { isSupportedCountry, ParseError, parsePhoneNumberWithError, type CountryCode } from 'libphonenumber-js/max';
import { normalizeJapaneseAddressText } from './jp-address';
import { hashSelector, type SelectorTypeName } from './trust/domains';

export type NormalizeResult = { ok: true; value: string } | { ok: false; reason: string };

const ok = (value: string): NormalizeResult => ({ ok: true, value });
const fail = (reason: string): NormalizeResult => ({ ok: false, reason });

/** Longest accepted normalized name, address or representative, in UTF-16 code units. */
export const MAX_TEXT_LENGTH = 1024;
/** Longest accepted acquirer merchant id after normalization. */
export const MAX_MID_LENGTH = 64;

const LONE_SURROGATE = /\p{Cs}/u;
/** Invisible format characters (zero-width space/joiners, bidi controls, soft hyphen, BOM…): removed. */
const FORMAT_CHARS = /\p{Cf}/gu;
/** Any run of whitespace or control characters becomes one space. */
const WHITESPACE_RUN = /[\s\p{Cc}]+/gu;
/** Japanese script: kanji, hiragana, katakana, CJK symbols and punctuation, half/full-width forms. */
const JAPANESE_CHAR = '[\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\u3000-\\u303F\\u30A0-\\u30FF\\uFF00-\\uFFEF]';
/** A space with a Japanese character on either side carries no meaning ("東京都 港区" = "東京都港区"). */
const SPACE_NEXT_TO_JAPANESE = new RegExp(`(?<=${JAPANESE_CHAR}) | (?=${JAPANESE_CHAR})`, 'gu');

function checkString(input: unknown): string | undefined {
  if (typeof input !== 'string') return 'is not a string';
  if (LONE_SURROGATE.test(input)) return 'is not well-formed Unicode (lone surrogate)';
  return undefined;
}

/** Collapses whitespace, drops spaces next to Japanese characters, trims. */
function tidySpaces(s: string): string {
  return s.replace(WHITESPACE_RUN, ' ').replace(SPACE_NEXT_TO_JAPANESE, '').trim();
}

// ---------------------------------------------------------------------------------------------
// Corporate number (法人番号)

/** Separators accepted inside a corporate number (after NFKC): whitespace and hyphen look-alikes. */
const CORPORATE_NUMBER_SEPARATORS = /[\s\-\u2010-\u2015\u2212\u30FC]/gu;

/**
 * The check digit of a 12-digit base number (基礎番号), per 法人番号の指定等に関する省令
 * (平成26年財務省令第70号) 第2条: 9 − ((Σ_{n=1..12} Pn × Qn) mod 9), where Pn is the n-th digit
 * counting from the least significant, Qn = 1 for odd n and 2 for even n. Always 1..9.
 */
export function corporateNumberCheckDigit(base: string): number {
  if (!/^[0-9]{12}$/.test(base)) throw new Error('a corporate number base is 12 ASCII digits');
  let sum = 0;
  for (let n = 1; n <= 12; n++) sum += (base.charCodeAt(12 - n) - 0x30) * (n % 2 === 1 ? 1 : 2);
  return 9 - (sum % 9);
}

/**
 * 法人番号: 13 digits, the first being the check digit of the other 12. ASCII or full-width digits;
 * spaces and hyphens anywhere are ignored. Value: the 13 ASCII digits.
 */
export function normalizeCorporateNumber(input: string): NormalizeResult {
  const bad = checkString(input);
  if (bad) return fail(bad);
  const digits = input.normalize('NFKC').replace(CORPORATE_NUMBER_SEPARATORS, '');
  if (digits === '') return fail('is empty');
  if (!/^[0-9]+$/.test(digits)) return fail('contains characters other than digits, spaces and hyphens');
  if (digits.length !== 13) return fail(`has ${digits.length} digits (a corporate number has 13)`);
  if (corporateNumberCheckDigit(digits.slice(1)) !== digits.charCodeAt(0) - 0x30) return fail('check digit does not match');
  return ok(digits);
}

// ---------------------------------------------------------------------------------------------
// Domain

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Web domain: NFKC; scheme, user info, port, path, query and fragment stripped; one trailing dot
 * removed; IDN → punycode with lower case (WHATWG domainToASCII, i.e. UTS #46 non-transitional);
 * every label letters/digits/hyphens (1–63, no leading/trailing hyphen), at least two labels, at
 * most 253 characters, not an IP address; finally one leading "www." removed when a dot remains.
 */
export function normalizeDomain(input: string): NormalizeResult {
  const bad = checkString(input);
  if (bad) return fail(bad);
  let s = input.normalize('NFKC').replace(/[\u3002\uFF61]/g, '.').trim();
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/^\/\//, '');
  const end = s.search(/[/?#\\]/);
  if (end >= 0) s = s.slice(0, end);
  const at = s.lastIndexOf('@');
  if (at >= 0) s = s.slice(at + 1);
  if (s.startsWith('[')) return fail('is an IP address, not a domain name');
  s = s.replace(/:[0-9]*$/, '');
  if (s === '') return fail('is empty');
  if (/[\s\p{Cc}]/u.test(s)) return fail('contains whitespace or control characters');
  if (s.endsWith('.')) s = s.slice(0, -1);
  const ascii = domainToASCII(s);
  if (ascii === '') return fail('is not a valid domain name');
  const labels = ascii.split('.');
  if (labels.length < 2) return fail('has a single label (a domain name needs at least two)');
  if (/^[0-9]+$/.test(labels[labels.length - 1])) return fail('is an IP address, not a domain name');
  if (ascii.length > 253) return fail('is too long (over 253 characters)');
  if (!labels.every((label) => LDH_LABEL.test(label))) return fail('has a label that is not letters, digits and inner hyphens of 1 to 63 characters');
  const value = ascii.startsWith('www.') && ascii.indexOf('.', 4) > 0 ? ascii.slice(4) : ascii;
  return ok(value);
}

// ---------------------------------------------------------------------------------------------
// Phone

const PHONE_PARSE_REASONS: Readonly<Record<string, string>> = {
  INVALID_COUNTRY: 'has no valid country calling code',
  NOT_A_NUMBER: 'is not a phone number',
  TOO_SHORT: 'is too short for a phone number',
  TOO_LONG: 'is too long for a phone number',
  INVALID_LENGTH: 'has an invalid length for a phone number',
};

/**
 * Phone: NFKC (full-width digits, ＋ and （）), an optional "tel:" prefix dropped, then parsed
 * as a whole (no extraction from surrounding text) by libphonenumber-js with the complete ("max")
 * metadata, national numbers read in defaultRegion; must be a valid number. Value: E.164
 * ("+81312345678"). An extension, if any, is not part of the value.
 */
export function normalizePhone(input: string, defaultRegion: string = 'JP'): NormalizeResult {
  const bad = checkString(input);
  if (bad) return fail(bad);
  if (!isSupportedCountry(defaultRegion)) return fail('default region is not a supported country code');
  const s = input.normalize('NFKC').trim().replace(/^tel:/i, '');
  if (s === '') return fail('is empty');
  let phone;
  try {
    phone = parsePhoneNumberWithError(s, { defaultCountry: defaultRegion as CountryCode, extract: false });
  } catch (err) {
    if (err instanceof ParseError) return fail(PHONE_PARSE_REASONS[err.message] ?? 'is not a phone number');
    throw err;
  }
  if (!phone.isValid()) return fail(phone.isPossible() ? 'is not a valid phone number in its numbering plan' : 'has an impossible length for its numbering plan');
  return ok(phone.number);
}

// ---------------------------------------------------------------------------------------------
// Japanese text: names, addresses, representatives

/**
 * NFKC (full-width Latin/digits → half-width, half-width katakana → full-width, ㈱ → (株)),
 * toLowerCase, NFKC again (keeps the result stable under re-normalization), invisible format
 * characters (Unicode Cf) removed, whitespace and control runs collapsed to one space, spaces next
 * to a Japanese character removed, trimmed. Empty or over MAX_TEXT_LENGTH is rejected.
 */
export function normalizeJapaneseText(input: string): NormalizeResult {
  const bad = checkString(input);
  if (bad) return fail(bad);
  const s = tidySpaces(input.normalize('NFKC').toLowerCase().normalize('NFKC').replace(FORMAT_CHARS, ''));
  if (s === '') return fail('is empty');
  if (s.length > MAX_TEXT_LENGTH) return fail(`is too long (over ${MAX_TEXT_LENGTH} characters)`);
  return ok(s);
}

/** Japanese legal-form words removed from merchant names wherever they appear (matched after normalizeJapaneseText). */
export const LEGAL_FORMS_JA: readonly string[] = Object.freeze([
  '特定非営利活動法人',
  '一般社団法人',
  '一般財団法人',
  '公益社団法人',
  '公益財団法人',
  '株式会社',
  '有限会社',
  '合同会社',
  '合資会社',
  '合名会社',
  'カブシキガイシャ',
  'カブシキカイシャ',
  'ユウゲンガイシャ',
  'ユウゲンカイシャ',
  'ゴウドウガイシャ',
  'ゴウドウカイシャ',
]);
/** (株) (有) (同) (資) (名): after NFKC, also ㈱ ㈲ ㈴ ㈾ and full-width （株）. */
const LEGAL_FORM_ABBREVIATION = /\((?:株|有|同|資|名)\)/gu;
/**
 * Latin legal forms, as whole words (not preceded or followed by a Latin letter or digit):
 * co., ltd. / co.,ltd. / co. ltd / co ltd (co and ltd separated by dots, commas or spaces) / ltd / limited / inc / incorporated / k.k. / llc / l.l.c. /
 * corporation / corp — with or without the trailing dot.
 */
const LEGAL_FORM_LATIN = /(?<![\p{Script=Latin}0-9])(?:co[ .,]+ltd\.?|ltd\.?|limited|inc\.?|incorporated|k\. ?k\.?|l\.l\.c\.?|llc\.?|corporation|corp\.?)(?![\p{Script=Latin}0-9])/gu;
const EDGE_PUNCTUATION = /^[\s,.、。・]+|[\s,.、。・]+$/gu;

function removeLegalForms(s: string): string {
  for (const form of LEGAL_FORMS_JA) s = s.split(form).join(' ');
  return s.replace(LEGAL_FORM_ABBREVIATION, ' ').replace(LEGAL_FORM_LATIN, ' ');
}

/**
 * Merchant (legal or trading) name: normalizeJapaneseText, then legal-form words removed wherever
 * they appear (repeated until nothing changes), spaces tidied again and punctuation left at either
 * end (, . 、 。 ・) trimmed. "株式会社スマイル", "スマイル株式会社", "(株)スマイル", "ｽﾏｲﾙ㈱" are one value.
 */
export function normalizeMerchantName(input: string): NormalizeResult {
  const text = normalizeJapaneseText(input);
  if (!text.ok) return text;
  let s = text.value;
  for (let i = 0; i < 8; i++) {
    const next = tidySpaces(removeLegalForms(s)).replace(EDGE_PUNCTUATION, '');
    if (next === s) break;
    s = next;
  }
  if (s === '') return fail('consists only of legal-form words');
  return ok(s);
}

/** Hyphen look-alikes in addresses (after NFKC): ‐ ‑ ‒ – — ― − ⁃ → "-". */
const ADDRESS_HYPHENS = /[\u2010-\u2015\u2212\u2043]/gu;
/** The katakana prolonged sound mark ー after a digit is a hyphen ("1ー2ー3"); elsewhere ("タワー") it is kept. */
const PROLONGED_MARK_AFTER_DIGIT = /(?<=[0-9])\u30FC/gu;

/**
 * Address, name+address selector version 1 (listings published before version 2, still looked
 * up): normalizeJapaneseText, hyphen variants → "-", no spaces around "-".
 */
export function normalizeAddress(input: string): NormalizeResult {
  const text = normalizeJapaneseText(input);
  if (!text.ok) return text;
  const s = text.value.replace(ADDRESS_HYPHENS, '-').replace(PROLONGED_MARK_AFTER_DIGIT, '-').replace(/ ?- ?/g, '-');
  return ok(s);
}

const HAS_JAPANESE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;

/**
 * Address, name+address selector version 2: normalizeAddress, then, when the address has Japanese
 * characters, the Japanese address forms read as one (proto/ts/jp-address.ts: 丁目/番/番地/号/の and
 * hyphens, kanji numerals, ケ/ヶ/が, the prefecture dropped where the municipality identifies it,
 * building and floor after the house number dropped). Other addresses are as in version 1.
 */
export function normalizeAddressV2(input: string): NormalizeResult {
  const v1 = normalizeAddress(input);
  if (!v1.ok || !HAS_JAPANESE.test(v1.value)) return v1;
  const s = normalizeJapaneseAddressText(v1.value);
  return s === '' ? fail('is empty') : ok(s);
}

/** The name+address selector's normalization versions; publication uses the newest. */
export type NameAddressVersion = 1 | 2;
export const NAME_ADDRESS_VERSION: NameAddressVersion = 2;
const ADDRESS_VERSIONS: Readonly<Record<NameAddressVersion, (input: string) => NormalizeResult>> = { 1: normalizeAddress, 2: normalizeAddressV2 };

/**
 * Name and address as one selector value: normalizeMerchantName(name) + "\n" + the address at the
 * given version (normalizeAddress for 1, normalizeAddressV2 for 2, the default). Neither part can
 * contain a newline (whitespace is collapsed), so the pair is unambiguous.
 */
export function normalizeNameAddress(name: string, address: string, version: NameAddressVersion = NAME_ADDRESS_VERSION): NormalizeResult {
  const n = normalizeMerchantName(name);
  if (!n.ok) return fail(`name ${n.reason}`);
  const a = ADDRESS_VERSIONS[version](address);
  if (!a.ok) return fail(`address ${a.reason}`);
  return ok(`${n.value}\n${a.value}`);
}

/** Representative (代表者) name: normalizeJapaneseText. */
export function normalizeRepresentative(input: string): NormalizeResult {
  return normalizeJapaneseText(input);
}

// ---------------------------------------------------------------------------------------------
// Acquirer merchant id

const MEMBER_ID = /^[a-z0-9-]{3,32}$/;

/**
 * A MID is only unique per acquirer: value = acquirer member id + ":" + NFKC-trimmed MID (case kept).
 * The member id cannot contain ":", so the pair is unambiguous.
 */
export function normalizeAcquirerMid(acquirerId: string, mid: string): NormalizeResult {
  if (typeof acquirerId !== 'string' || !MEMBER_ID.test(acquirerId)) return fail('acquirer is not a member id ([a-z0-9-]{3,32})');
  const bad = checkString(mid);
  if (bad) return fail(`merchant id ${bad}`);
  const m = mid.normalize('NFKC').trim();
  if (m === '') return fail('merchant id is empty');
  if (/[\p{Cc}\p{Cf}]/u.test(m)) return fail('merchant id contains control or format characters');
  if (m.length > MAX_MID_LENGTH) return fail(`merchant id is too long (over ${MAX_MID_LENGTH} characters)`);
  return ok(`${acquirerId}:${m}`);
}

// ---------------------------------------------------------------------------------------------
// All fields of a merchant

export interface MerchantFields {
  corporateNumber?: string;
  domain?: string;
  phone?: string;
  name?: string;
  address?: string;
  representative?: string;
  acquirerMid?: { acquirer: string; mid: string };
}

/** The field a selector came from; "nameAddress" is the name and address together. */
export type MerchantSelectorField = 'corporateNumber' | 'domain' | 'phone' | 'nameAddress' | 'representative' | 'acquirerMid';
export type MerchantInputField = keyof MerchantFields;

export interface NormalizedMerchantValue {
  field: MerchantSelectorField;
  type: SelectorTypeName;
  /** The normalization version (its own tag, trust/domains.ts SELECTOR_VERSIONS); 1 for most types. */
  version: number;
  value: string;
}
export interface MerchantRejection {
  field: MerchantInputField;
  reason: string;
}
export interface MerchantSelector {
  field: MerchantSelectorField;
  type: SelectorTypeName;
  version: number;
  digest: Buffer;
}

export interface MerchantNormalizeOptions {
  /** Region for phone numbers written without a country code (default "JP"). */
  defaultRegion?: string;
  /**
   * 'publish' (default): each field at its newest normalization version — what a listing, a
   * report or a watch-list flag is published under. 'lookup': also every older version whose
   * listings can still be valid (name+address 1 after 2), for checks, screening, retraction and
   * watching, so listings published before a normalization change keep matching until they expire.
   */
  purpose?: 'publish' | 'lookup';
}

const present = (v: unknown): boolean => v !== undefined && v !== null;

/**
 * Normalizes every present field (undefined/null = absent). The name and address form one value,
 * only when both are present and valid; one without the other is reported in `rejected`.
 * Useful on its own to hash under several key epochs without normalizing twice.
 */
export function normalizeMerchantFields(
  fields: MerchantFields,
  options: MerchantNormalizeOptions = {},
): { values: NormalizedMerchantValue[]; rejected: MerchantRejection[] } {
  const values: NormalizedMerchantValue[] = [];
  const rejected: MerchantRejection[] = [];
  const add = (field: MerchantSelectorField, type: SelectorTypeName, reportAs: MerchantInputField, r: NormalizeResult) => {
    if (r.ok) values.push({ field, type, version: 1, value: r.value });
    else rejected.push({ field: reportAs, reason: r.reason });
  };

  if (present(fields.corporateNumber)) {
    add('corporateNumber', 'SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER', 'corporateNumber', normalizeCorporateNumber(fields.corporateNumber as string));
  }
  if (present(fields.domain)) add('domain', 'SELECTOR_TYPE_MERCHANT_DOMAIN', 'domain', normalizeDomain(fields.domain as string));
  if (present(fields.phone)) {
    add('phone', 'SELECTOR_TYPE_MERCHANT_PHONE', 'phone', normalizePhone(fields.phone as string, options.defaultRegion ?? 'JP'));
  }

  const hasName = present(fields.name);
  const hasAddress = present(fields.address);
  if (hasName && hasAddress) {
    const n = normalizeMerchantName(fields.name as string);
    const a = normalizeAddressV2(fields.address as string);
    if (n.ok && a.ok) {
      values.push({ field: 'nameAddress', type: 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', version: NAME_ADDRESS_VERSION, value: `${n.value}\n${a.value}` });
      const v1 = normalizeAddress(fields.address as string);
      if (options.purpose === 'lookup' && v1.ok) {
        values.push({ field: 'nameAddress', type: 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', version: 1, value: `${n.value}\n${v1.value}` });
      }
    } else {
      if (!n.ok) rejected.push({ field: 'name', reason: n.reason });
      else rejected.push({ field: 'name', reason: 'is only used together with a valid address' });
      if (!a.ok) rejected.push({ field: 'address', reason: a.reason });
      else rejected.push({ field: 'address', reason: 'is only used together with a valid name' });
    }
  } else if (hasName) {
    rejected.push({ field: 'name', reason: 'is only used together with an address' });
  } else if (hasAddress) {
    rejected.push({ field: 'address', reason: 'is only used together with a name' });
  }

  if (present(fields.representative)) {
    add('representative', 'SELECTOR_TYPE_MERCHANT_REPRESENTATIVE', 'representative', normalizeRepresentative(fields.representative as string));
  }
  if (present(fields.acquirerMid)) {
    const am = fields.acquirerMid as { acquirer: string; mid: string };
    add('acquirerMid', 'SELECTOR_TYPE_MERCHANT_ACQUIRER_MID', 'acquirerMid', normalizeAcquirerMid(am.acquirer, am.mid));
  }
  return { values, rejected };
}

/**
 * The selectors of a merchant under one key epoch: one per valid field (name + address as one),
 * in the order corporateNumber, domain, phone, nameAddress, representative, acquirerMid; with
 * purpose 'lookup', name+address twice (version 2, then version 1).
 * Requires sodiumReady() to have completed.
 */
export function merchantSelectors(
  key: Uint8Array,
  fields: MerchantFields,
  options: MerchantNormalizeOptions = {},
): { selectors: MerchantSelector[]; rejected: MerchantRejection[] } {
  const { values, rejected } = normalizeMerchantFields(fields, options);
  const selectors = values.map(({ field, type, version, value }) => ({ field, type, version, digest: hashSelector(key, type, value, version) }));
  return { selectors, rejected };
}
