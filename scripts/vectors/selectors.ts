// Keyed selectors of every type under the fixed test key (docs/protocol.md#keyed-selectors):
// the tag, the exact message bytes and the BLAKE2b-256 digest, so an implementation can
// compare its bytes before its hashes.
import { withLuhnDigit } from '../../proto/ts/normalize';
import { hashSelector, selectorCacheHandle, selectorTagName, type SelectorTypeName } from '../../proto/ts/trust/domains';
import { hex, TEST_SELECTOR_KEY, vectorFile, type VectorFile } from './common';

export interface KeyedSelectorCase {
  id: string;
  /** A SelectorType name, or "selector-cache" for the SDK's member-local cache handle. */
  type: SelectorTypeName | 'selector-cache';
  version: number;
  tag: string;
  /** The normalized value (already through its type's normalization). */
  value: string;
  /** "mamori/v1/" + tag + NUL + UTF-8(value), hex. */
  message: string;
  /** BLAKE2b-256 keyed with the test key over message, hex. */
  digest: string;
}

const VALUES: readonly [string, SelectorTypeName, number, string][] = [
  ['pan-16', 'SELECTOR_TYPE_PAN', 1, withLuhnDigit('001234567890123')],
  ['pan-12', 'SELECTOR_TYPE_PAN', 1, withLuhnDigit('00123456789')],
  ['pan-19', 'SELECTOR_TYPE_PAN', 1, withLuhnDigit('001234567890123456')],
  ['corporate-number', 'SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER', 1, '7000012050002'],
  ['domain-ascii', 'SELECTOR_TYPE_MERCHANT_DOMAIN', 1, 'example.com'],
  ['domain-punycode', 'SELECTOR_TYPE_MERCHANT_DOMAIN', 1, 'xn--r8jz45g.jp'],
  ['phone-jp', 'SELECTOR_TYPE_MERCHANT_PHONE', 1, '+81312345678'],
  ['name-address-v1', 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 1, 'スマイル\n東京都千代田区丸の内1-1-1'],
  ['name-address-v2', 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 2, 'スマイル\n千代田区丸の内1-1-1'],
  ['name-address-v1-latin', 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 1, 'acme trading\n350 fifth avenue, new york'],
  ['name-address-v2-latin', 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 2, 'acme trading\n350 fifth avenue, new york'],
  ['representative', 'SELECTOR_TYPE_MERCHANT_REPRESENTATIVE', 1, '山田太郎'],
  ['acquirer-mid', 'SELECTOR_TYPE_MERCHANT_ACQUIRER_MID', 1, 'acquirer-b:MID-0001'],
  ['bin-reserved', 'SELECTOR_TYPE_BIN', 1, '001234'],
];

export function keyedSelectorVectors(): VectorFile<KeyedSelectorCase> {
  const cases: KeyedSelectorCase[] = VALUES.map(([id, type, version, value]) => {
    const tag = selectorTagName(type, version);
    return { id, type, version, tag, value, message: hex(Buffer.from(`mamori/v1/${tag}\0${value}`, 'utf8')), digest: hex(hashSelector(TEST_SELECTOR_KEY, type, value, version)) };
  });
  const cacheValue = withLuhnDigit('001234567890123');
  cases.push({
    id: 'selector-cache-handle',
    type: 'selector-cache',
    version: 1,
    tag: 'selector-cache',
    value: cacheValue,
    message: hex(Buffer.from(`mamori/v1/selector-cache\0${cacheValue}`, 'utf8')),
    digest: hex(selectorCacheHandle(TEST_SELECTOR_KEY, cacheValue)),
  });
  return vectorFile({
    name: 'keyed-selectors.json',
    version: 1,
    spec: 'docs/protocol.md#keyed-selectors',
    description:
      'Keyed selectors: digest = BLAKE2b-256(key = selectorKey, message), message = "mamori/v1/" || tag || 0x00 || UTF-8(value). Values are already normalized. SELECTOR_TYPE_BIN is reserved (no indicator kind uses it); the selector-cache handle is member-local (never on the wire). PAN values are synthetic test data.',
    fixtures: { selectorKey: hex(TEST_SELECTOR_KEY) },
    cases,
  });
}
