// Japanese address vectors (docs/protocol.md#japanese-addresses): the forms acquirers write one
// address in give one version-2 value; near-misses (another 番地, 丁目, 号, town, municipality,
// a prefecture that makes another place) give another. Each case carries both versions'
// values and the name+address selector under the test key, with the name スマイル.
import { vectorFile, type VectorFile } from './common';
import { expectedOf, groupProblems, type MerchantCase } from './merchant';

export interface JapaneseAddressCase {
  id: string;
  input: string;
  /** normalizeAddress (version 1) and normalizeAddressV2 (version 2) of the input. */
  v1: string;
  v2: string;
  /** The name+address selector (version 2) of { name: NAME, address: input } under the test key. */
  nameAddressV2: string;
  group?: string;
  differsFrom?: string;
  note?: string;
}

export const NAME = 'スマイル';

const SAME: readonly [string, readonly string[]][] = [
  ['marunouchi-1-1-1', ['東京都千代田区丸の内１－１－１', '東京都千代田区丸の内1丁目1番1号', '東京都千代田区丸の内一丁目1-1', '千代田区丸の内1-1-1', '東京都千代田区丸の内一丁目一番一号', '東京都千代田区丸の内1丁目1番地1', '東京都千代田区丸の内1丁目1番地の1', '東京都千代田区丸の内1の1の1', '東京都千代田区丸ノ内1-1-1', '東京都千代田区丸の内1ー1ー1', '東京都千代田区丸の内1‐1‐1', '東京都千代田区丸の内1−1−1', '東京都 千代田区 丸の内 1-1-1', '〒100-0005 東京都千代田区丸の内1-1-1', '〒1000005東京都千代田区丸の内1-1-1', '東京都千代田区丸の内1-1-1 パレスビル5階', '東京都千代田区丸の内1丁目1番1号 パレスビル 5F', '千代田区丸の内一丁目1番1号丸の内ビルディング35階', '東京都千代田区丸の内1-1-1-501', '東京都千代田区丸の内1丁目1番1-501号室', '東京都千代田区丸の内１丁目１番１号', '東京都千代田区丸の内1―1―1', '東京都千代田区丸の内１ｰ１ｰ１']],
  ['kasumigaseki-3-1-1', ['東京都千代田区霞が関3-1-1', '東京都千代田区霞ヶ関三丁目1番1号', '千代田区霞ケ関3ー1ー1', '東京都千代田区霞ガ関3の1の1', '東京都千代田区霞ケ関三丁目一番一号']],
  ['shibakoen-4-2-8', ['東京都港区芝公園4-2-8', '東京都港区芝公園四丁目2番8号', '港区芝公園4丁目2-8 東京タワー', '東京都港区芝公園４－２－８']],
  ['sapporo-kita1jo', ['北海道札幌市中央区北1条西2丁目1番地', '札幌市中央区北一条西二丁目1', '北海道札幌市中央区北１条西２－１']],
  ['umeda-1-1-1', ['大阪府大阪市北区梅田1-1-1', '大阪市北区梅田一丁目1番1号', '大阪府大阪市北区梅田1丁目1-1 梅田ビル10F']],
  ['fuchu-cho-3-5-1', ['広島県安芸郡府中町大通3-5-1', '府中町大通3丁目5番1号', '安芸郡府中町大通三丁目5-1', '広島県府中町大通3-5-1']],
  ['kamagaya-1-1-1', ['千葉県鎌ケ谷市新鎌ヶ谷1-1-1', '鎌ヶ谷市新鎌ケ谷一丁目1番1号', '千葉県鎌ヶ谷市新鎌ヶ谷1の1の1']],
  ['ichibancho-10-1', ['東京都千代田区一番町10-1', '千代田区一番町十番地1', '東京都千代田区一番町10番1号']],
  ['nishishinjuku-2-8-1', ['東京都新宿区西新宿2丁目8番1号 都庁第一本庁舎', '新宿区西新宿二丁目八番一号', '東京都新宿区西新宿2-8-1']],
  ['fuchu-shi-1-100', ['東京都府中市宮町1-100', '東京都府中市宮町一丁目100番地', '東京都府中市宮町1丁目百番地']],
  ['naha-1-2-2', ['沖縄県那覇市泉崎1-2-2', '那覇市泉崎一丁目2番2号', '沖縄県那覇市泉崎１丁目２－２']],
  ['oaza-district', ['福岡県糟屋郡粕屋町大字仲原2-1', '粕屋町仲原2-1', '福岡県粕屋町大字仲原二番地の一']],
  ['kanji-zero-ten', ['東京都港区六本木10-20-3', '港区六本木十丁目二十番三号', '東京都港区六本木一〇丁目二〇番三号']],
];

const DIFFERENT: readonly [string, string, string][] = [
  ['marunouchi-1-1-1', '東京都千代田区丸の内1-1-2', 'another 号'],
  ['marunouchi-1-1-1', '東京都千代田区丸の内1丁目2番1号', 'another 番地'],
  ['marunouchi-1-1-1', '東京都千代田区丸の内二丁目1番1号', 'another 丁目'],
  ['marunouchi-1-1-1', '東京都千代田区大手町1-1-1', 'another town'],
  ['marunouchi-1-1-1', '東京都中央区丸の内1-1-1', 'another municipality'],
  ['marunouchi-1-1-1', '千代田区丸の内1-1', 'a number left out'],
  ['marunouchi-1-1-1', '東京都千代田区丸の内11-1', 'numbers run together'],
  ['marunouchi-1-1-1', '大阪府千代田区丸の内1-1-1', 'a prefecture that does not have the municipality'],
  ['marunouchi-1-1-1', '東京都千代田区丸の内1-1-1-1', 'a fourth number is dropped: the same place (not a near-miss)'],
  ['fuchu-shi-1-100', '府中市宮町1-100', 'prefecture left out of a municipality name two prefectures have'],
  ['fuchu-shi-1-100', '広島県府中市宮町1-100', 'another prefecture, same municipality name'],
  ['ichibancho-10-1', '東京都千代田区二番町10-1', '一番町 and 二番町 (numerals in a town name)'],
  ['sapporo-kita1jo', '北海道札幌市中央区北2条西2-1', 'another 条'],
  ['kasumigaseki-3-1-1', '東京都千代田区霞が関3-1-10', '号 1 and 10'],
  ['umeda-1-1-1', '大阪府大阪市中央区梅田1-1-1', 'another ward'],
  ['kamagaya-1-1-1', '千葉県鎌ケ谷市新鎌ヶ谷1-1-2', 'another 号'],
  ['naha-1-2-2', '沖縄県那覇市泉崎2-2-2', 'another 丁目'],
  ['kanji-zero-ten', '東京都港区六本木1-20-3', '十 and 一'],
  ['oaza-district', '福岡県糟屋郡粕屋町大字仲原2-2', 'another 番地'],
];

function jpCase(id: string, input: string, extra: Pick<JapaneseAddressCase, 'group' | 'differsFrom' | 'note'>): JapaneseAddressCase {
  const value = (field: 'address', version: 1 | 2): string => {
    const r = expectedOf({ field, version, input });
    if (!r.ok) throw new Error(`${id}: address refused (${r.reason})`);
    return r.value;
  };
  const selector = expectedOf({ field: 'nameAddress', version: 2, input: { name: NAME, address: input } });
  if (!selector.ok || !selector.selector) throw new Error(`${id}: name+address refused`);
  return { id, input, v1: value('address', 1), v2: value('address', 2), nameAddressV2: selector.selector.digest, ...extra };
}

export function japaneseAddressVectors(): VectorFile<JapaneseAddressCase> {
  const cases: JapaneseAddressCase[] = [];
  for (const [group, forms] of SAME) forms.forEach((input, i) => cases.push(jpCase(`${group}/${i + 1}`, input, { group })));
  DIFFERENT.forEach(([differsFrom, input, note], i) => {
    // A fourth number is dropped like a room number: the one pair listed to show it is the same place.
    if (note.startsWith('a fourth number')) cases.push(jpCase(`${differsFrom}/same-${i + 1}`, input, { group: differsFrom, note }));
    else cases.push(jpCase(`${differsFrom}/near-${i + 1}`, input, { differsFrom, note }));
  });
  const problems = groupProblems(cases.map((c) => ({ ...c, expected: { ok: true, value: c.v2 } })));
  const values = [...new Set(cases.filter((c) => c.group).map((c) => `${c.group}\0${c.v2}`))].map((k) => k.split('\0')[1]);
  if (new Set(values).size !== SAME.length) problems.push('two groups share a value');
  if (problems.length > 0) throw new Error(`Japanese address vectors contradict the code:\n${problems.join('\n')}`);
  return vectorFile({
    name: 'japanese-addresses.json',
    version: 1,
    spec: 'docs/protocol.md#japanese-addresses',
    description: `Japanese address forms. v1 and v2: the address normalized at name+address versions 1 and 2. Cases of one group give one v2 value (their v1 values differ); a case with differsFrom is a near-miss whose v2 value differs from its group's. nameAddressV2: SELECTOR_TYPE_MERCHANT_NAME_ADDRESS version 2 (tag merchant.name_address.v2) of the name ${NAME} and the address, under the selector key of merchant-normalization.json.`,
    cases,
  });
}
