// Keyed PAN digests computed in libsodium's memory (proto/ts/keyed-digest.ts) are the digests
// libsodium-wrappers' crypto_generichash computes, whatever the key, its changes and the
// length of the card number; a view is the digest until the next call; the packed digests'
// Bloom lookup reads each digest in place.
import { expect } from 'chai';
import { sodium, sodiumReady } from '../../proto/ts/sodium';
import { DigestBloomFilter } from '../../proto/ts/digest-bloom';
import { KeyedDigitsDigest } from '../../proto/ts/keyed-digest';
import { hashSelector, panSelector, panSelectorView, selectorCacheHandle } from '../../proto/ts/trust/domains';
import { randomPans } from '../helpers/cards';

const TAG = Buffer.from('mamori/v1/pan\0', 'latin1');

describe('keyed digests in libsodium memory', () => {
  before(() => sodiumReady());

  const reference = (key: Uint8Array, digits: string) => Buffer.from(sodium().crypto_generichash(32, Buffer.concat([TAG, Buffer.from(digits, 'latin1')]), key));

  it('equal crypto_generichash over keys that change from call to call, in place or by a new array, and PANs of 12 to 19 digits', () => {
    const keys = [sodium().randombytes_buf(32), sodium().randombytes_buf(32), sodium().randombytes_buf(16), sodium().randombytes_buf(64)];
    const mutable = Uint8Array.from(keys[0] as Uint8Array);
    for (let i = 0; i < 400; i++) {
      const digits = '4'.repeat(12 + (i % 8)).replace(/4+$/, (s) => String(i).padStart(s.length, '5'));
      const key = i % 5 === 4 ? mutable : (keys[i % keys.length] as Uint8Array);
      if (i % 5 === 4) mutable[i % 32] ^= 0xff; // the same array, other bytes
      const expected = reference(key, digits);
      expect(panSelector(key, digits).equals(expected), `panSelector #${i}`).to.equal(true);
      expect(Buffer.from(panSelectorView(key, digits)).equals(expected), `panSelectorView #${i}`).to.equal(true);
      expect(panSelector(key, digits).equals(hashSelector(key, 'SELECTOR_TYPE_PAN', digits))).to.equal(true);
    }
  });

  it('a copy is the caller\'s own; a view holds the digest until the next call', () => {
    const key = sodium().randombytes_buf(32);
    const [a, b] = randomPans(2).map((p) => p.replace(/\D/g, '')) as [string, string];
    const copy = panSelector(key, a);
    const view = panSelectorView(key, a);
    expect(Buffer.from(view).equals(copy)).to.equal(true);
    panSelectorView(key, b);
    expect(Buffer.from(view).equals(copy), 'the view now shows the next digest').to.equal(false);
    expect(copy.equals(reference(key, a)), 'the copy did not change').to.equal(true);
  });

  it('the selector-cache handle keeps its own tag and buffers', () => {
    const key = sodium().randombytes_buf(32);
    const digits = '4545451234567897';
    const expected = Buffer.from(sodium().crypto_generichash(32, Buffer.concat([Buffer.from('mamori/v1/selector-cache\0', 'latin1'), Buffer.from(digits)]), key));
    const view = panSelectorView(key, digits);
    const before = Buffer.from(view);
    expect(selectorCacheHandle(key, digits).equals(expected)).to.equal(true);
    expect(Buffer.from(view).equals(before), 'a cache handle does not overwrite a PAN view').to.equal(true);
    expect(() => selectorCacheHandle(key, '4'.repeat(20))).to.throw(/at most 19 digits/);
  });

  it('refuses digits beyond its maximum and keys outside 1 to 64 bytes', () => {
    const digest = new KeyedDigitsDigest(TAG, 19);
    expect(() => digest.view(new Uint8Array(32), '1'.repeat(20))).to.throw(RangeError, /at most 19 digits/);
    expect(() => digest.view(new Uint8Array(0), '1234')).to.throw(RangeError, /1 to 64 bytes/);
    expect(() => digest.view(new Uint8Array(65), '1234')).to.throw(RangeError, /1 to 64 bytes/);
  });

  it('hasAt reads a packed digest in place and answers as has() on its copy', () => {
    const filter = DigestBloomFilter.forCapacity(1000, 0.01);
    const packed = Buffer.from(sodium().randombytes_buf(32 * 200));
    for (let i = 0; i < 200; i += 2) filter.add(packed.subarray(i * 32, i * 32 + 32));
    for (let i = 0; i < 200; i++) expect(filter.hasAt(packed, i * 32)).to.equal(filter.has(Buffer.from(packed.subarray(i * 32, i * 32 + 32))));
    expect(() => filter.hasAt(packed, packed.length - 31)).to.throw(RangeError, /needs 32 bytes/);
    expect(() => filter.hasAt(packed, -1)).to.throw(RangeError);
  });
});
