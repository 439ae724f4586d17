// Japanese postal addresses to one form (name+address selector version 2, docs/design.md#merchant-fields):
// the spellings acquirers use for one place — 丸の内１－１－１, 丸の内1丁目1番1号, 丸の内一丁目1-1,
// the prefecture left out, a building and floor after the number — give one value, while another
// 丁目, 番地, 号, town or municipality gives another. Offline: kanji numerals by
// @geolonia/japanese-numeral, the municipality table shipped in jp-municipalities.ts.
//
// The input has been through normalizeJapaneseText (NFKC, lower case, spaces tidied). Steps:
//  1. a leading postal code (〒100-0005) is removed; hyphen look-alikes become "-";
//  2. ケ ヶ が ガ between two kanji become ケ (霞が関 = 霞ヶ関 = 霞ケ関), ノ between two kanji の;
//  3. kanji numerals (〇 一 … 九 十 百 千, 壱 弐 参 拾) directly before 丁目 番 番地 号 条 線 地割 "-" の+numeral,
//     or ending the address, become ASCII digits (一番町, 三番丁 keep theirs: 番 followed by 町 or 丁);
//  4. N丁目 N番 N番地 → "N-", N号 → "N" (not 号室/号館/号棟), の ノ ー between digits → "-";
//  5. the house number is the first run of digits and hyphens not followed by 条 線 地割 丁 町 区 通 軒;
//     its first three numbers are kept (丁目-番-号, or 番地-枝番), everything after it — building,
//     floor, room — is dropped;
//  6. in what precedes it, 大字 is dropped, a district (XX郡) before its town or village is dropped,
//     and the prefecture is dropped when the municipality that follows belongs to it and its name
//     is unique nationwide (千代田区, 札幌市, 府中町 — not 府中市 nor 伊達市, which two prefectures have).
import { kanji2number } from '@geolonia/japanese-numeral';
import { JP_MUNICIPALITIES } from './jp-municipalities';

const KANJI_DIGITS = '〇一二三四五六七八九十百千壱弐参拾';
const HYPHENS = /[\u2010-\u2015\u2212\u2043\u2500\u2501\uFE63\uFF0D]/gu;
const KANJI = '\\p{Script=Han}';
const KE_BETWEEN_KANJI = new RegExp(`(?<=${KANJI})[ヶケがガ个箇](?=${KANJI})`, 'gu');
const NO_BETWEEN_KANJI = new RegExp(`(?<=${KANJI})ノ(?=${KANJI})`, 'gu');
const KANJI_NUMBER = new RegExp(`[${KANJI_DIGITS}]+(?=丁目|番地|番(?![町丁])|号|条|線|地割|-|ー|の[${KANJI_DIGITS}0-9]|$)`, 'gu');
const POSTAL_CODE = /^〒?\s*[0-9]{3}-?[0-9]{4}\s*/u;
/** What may follow a number that is part of the place name, not the house number (北1条, 第2地割, 1番町). */
const LOCALITY_AFTER_NUMBER = /^(?:条|線|地割|丁(?!目)|町|区|通|軒)/u;

/** The same steps 1–2 applied to the table's names, so they compare with normalized text. */
function placeForm(s: string): string {
  return s.replace(KE_BETWEEN_KANJI, 'ケ').replace(NO_BETWEEN_KANJI, 'の');
}

interface MunicipalityIndex {
  prefectures: string[];
  /** Names an address may give after the prefecture → the prefectures having one so named. */
  names: Map<string, Set<string>>;
  /** "石狩郡当別町" → "当別町": the district is dropped. */
  districts: Map<string, string>;
  /** Longest name first, for matching at the start of the text. */
  byLength: string[];
}

let index: MunicipalityIndex | undefined;

function municipalityIndex(): MunicipalityIndex {
  if (index) return index;
  const names = new Map<string, Set<string>>();
  const districts = new Map<string, string>();
  const add = (name: string, prefecture: string) => {
    const set = names.get(name) ?? new Set<string>();
    set.add(prefecture);
    names.set(name, set);
  };
  for (const [prefecture, list] of Object.entries(JP_MUNICIPALITIES)) {
    for (const raw of list.split('|')) {
      const name = placeForm(raw);
      const district = /^(.+?郡)(.+[町村])$/u.exec(name);
      if (district) {
        districts.set(name, district[2] as string);
        add(district[2] as string, prefecture);
        continue;
      }
      add(name, prefecture);
      const ward = /^(.+?市)(.+区)$/u.exec(name);
      if (ward) add(ward[1] as string, prefecture);
    }
  }
  const prefectures = Object.keys(JP_MUNICIPALITIES).map(placeForm);
  index = { prefectures, names, districts, byLength: [...names.keys()].sort((a, b) => b.length - a.length) };
  return index;
}

/** Prefecture, district and 大字 handling of the part before the house number. */
function normalizeLocality(locality: string): string {
  const { prefectures, names, districts, byLength } = municipalityIndex();
  let s = locality.replace(/大字/gu, '');
  const prefecture = prefectures.find((p) => s.startsWith(p));
  let rest = prefecture ? s.slice(prefecture.length) : s;
  for (const [full, town] of districts) {
    if (rest.startsWith(full)) {
      rest = town + rest.slice(full.length);
      break;
    }
  }
  const municipality = byLength.find((n) => rest.startsWith(n));
  const owners = municipality ? names.get(municipality) : undefined;
  if (prefecture && owners?.size === 1 && owners.has(prefecture)) return rest;
  s = (prefecture ?? '') + rest;
  return s;
}

function kanjiNumber(run: string): string {
  try {
    const n = kanji2number(run);
    return Number.isSafeInteger(n) ? String(n) : run;
  } catch {
    return run;
  }
}

/** Steps 1–6 above on text already through normalizeJapaneseText; never empty for non-empty input. */
export function normalizeJapaneseAddressText(text: string): string {
  let s = text.replace(POSTAL_CODE, '').replace(HYPHENS, '-');
  s = placeForm(s);
  s = s.replace(KANJI_NUMBER, kanjiNumber);
  s = s
    .replace(/(?<=[0-9])丁目/gu, '-')
    .replace(/(?<=[0-9])番地の?/gu, '-')
    .replace(/(?<=[0-9])番(?![町丁])/gu, '-')
    .replace(/(?<=[0-9])号(?![室館棟])/gu, '')
    .replace(/(?<=[0-9])[のノーｰ](?=[0-9])/gu, '-')
    .replace(/ ?- ?/gu, '-')
    .replace(/-{2,}/gu, '-');
  const numbers = /[0-9]+(?:-[0-9]+)*-?/gu;
  for (let m = numbers.exec(s); m; m = numbers.exec(s)) {
    const after = s.slice(m.index + m[0].length);
    if (LOCALITY_AFTER_NUMBER.test(after)) continue;
    const house = m[0].split('-').filter(Boolean).slice(0, 3).join('-');
    const locality = s.slice(0, m.index).replace(/[\s-]+$/u, '');
    return normalizeLocality(locality) + house;
  }
  return normalizeLocality(s.replace(/-$/u, ''));
}
