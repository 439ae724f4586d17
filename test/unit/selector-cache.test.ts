// The SDK's PAN → selector cache: bounded, least recently used first out, filed under a keyed
// hash of the card number (never the number), one dealing at a time, and an export that only
// the same key can import.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { MamoriClientError } from '../../client-sdk/src/errors';
import { SelectorCache } from '../../client-sdk/src/selector-cache';
import { sodiumReady } from '../../proto/ts/sodium';
import { randomPans } from '../helpers/cards';

const selectorOf = (i: number): Buffer => Buffer.alloc(32, i);

describe('SDK selector cache', () => {
  before(() => sodiumReady());

  it('keeps at most its capacity, evicting the least recently used', () => {
    const cache = new SelectorCache(3);
    const pans = randomPans(5);
    const handles = pans.map((p) => cache.handleOf(p));
    handles.slice(0, 3).forEach((h, i) => cache.put(h, selectorOf(i), 'set-1'));
    expect(cache.get(handles[0] as string)).to.deep.equal(selectorOf(0)); // 0 is now the most recent
    cache.put(handles[3] as string, selectorOf(3), 'set-1'); // evicts 1, the least recent
    expect(cache.size).to.equal(3);
    expect(cache.get(handles[1] as string)).to.equal(undefined);
    expect(cache.get(handles[0] as string)).to.deep.equal(selectorOf(0));
    cache.put(handles[4] as string, selectorOf(4), 'set-1'); // evicts 2
    expect(cache.get(handles[2] as string)).to.equal(undefined);
    expect([0, 3, 4].map((i) => cache.get(handles[i] as string))).to.deep.equal([selectorOf(0), selectorOf(3), selectorOf(4)]);
    expect(cache.stats()).to.deep.include({ size: 3, capacity: 3, evictions: 2, misses: 2 });
    // Putting a card again replaces, it does not grow the cache.
    cache.put(handles[4] as string, selectorOf(9), 'set-1');
    expect(cache.size).to.equal(3);
    expect(cache.get(handles[4] as string)).to.deep.equal(selectorOf(9));
  });

  it('a card used once per half a cache of new cards is never evicted; a copy is handed out, not the stored bytes', () => {
    const cache = new SelectorCache(100);
    const hot = randomPans(1)[0] as string;
    const hotHandle = cache.handleOf(hot);
    cache.put(hotHandle, selectorOf(7), 'set-1');
    const others = randomPans(1000).map((p) => cache.handleOf(p));
    others.forEach((h, i) => {
      cache.put(h, selectorOf(i % 200), 'set-1');
      if (i % 50 === 49) expect(cache.get(hotHandle), `hot card after ${i + 1} others`).to.deep.equal(selectorOf(7));
    });
    expect(cache.size).to.equal(100);
    expect(cache.stats().evictions).to.equal(901);
    // A card not used again goes out once a cache of newer cards came in.
    expect(cache.get(others[0] as string)).to.equal(undefined);
    expect(cache.get(others[999] as string)).to.deep.equal(selectorOf(999 % 200));
    const copy = cache.get(hotHandle) as Buffer;
    copy.fill(0);
    expect(cache.get(hotHandle)).to.deep.equal(selectorOf(7));
  });

  it('cards sharing a map key are all kept, found, replaced and evicted in recency order', () => {
    // Every card under one map key: the first in the small-integer map, the others by whole handle.
    const cache = new SelectorCache(3, undefined, () => 7);
    const handles = randomPans(5).map((p) => cache.handleOf(p));
    handles.slice(0, 3).forEach((h, i) => cache.put(h, selectorOf(i), 'set-1'));
    expect(handles.slice(0, 3).map((h) => cache.get(h))).to.deep.equal([selectorOf(0), selectorOf(1), selectorOf(2)]);
    expect(cache.get(handles[3] as string)).to.equal(undefined);
    cache.put(handles[1] as string, selectorOf(11), 'set-1'); // replaced in place: no growth
    expect(cache.size).to.equal(3);
    expect(cache.get(handles[1] as string)).to.deep.equal(selectorOf(11));
    cache.put(handles[3] as string, selectorOf(3), 'set-1'); // evicts the least recent: 0, the map-key holder; another card takes its key
    expect(cache.get(handles[0] as string)).to.equal(undefined);
    cache.put(handles[4] as string, selectorOf(4), 'set-1'); // evicts 2, now the least recent
    expect(cache.get(handles[2] as string)).to.equal(undefined);
    expect([1, 3, 4].map((i) => cache.get(handles[i] as string))).to.deep.equal([selectorOf(11), selectorOf(3), selectorOf(4)]);
    expect(cache.stats()).to.deep.include({ size: 3, evictions: 2 });
    // An export holds every card, oldest first, and imports whole into another cache.
    const exported = JSON.parse(cache.export()) as { entries: [string, string][] };
    expect(exported.entries).to.have.length(3);
  });

  it('files cards under a keyed hash: not the number, different under another key, the same under the same key', () => {
    const key = randomBytes(32);
    const a = new SelectorCache(10, key);
    const b = new SelectorCache(10, key);
    const c = new SelectorCache(10);
    for (const pan of randomPans(20)) {
      const handle = a.handleOf(pan);
      expect(Buffer.from(handle, 'latin1')).to.have.length(32);
      expect(handle).to.not.include(pan);
      expect(Buffer.from(handle, 'latin1').toString('hex')).to.not.include(pan);
      expect(b.handleOf(pan)).to.equal(handle);
      expect(c.handleOf(pan)).to.not.equal(handle);
    }
    // Nothing in the cache's memory is the number: its slots hold handles and selectors.
    const pan = randomPans(1)[0] as string;
    a.put(a.handleOf(pan), selectorOf(1), 'set-1');
    const slab = (a as unknown as { data: Buffer }).data;
    expect(slab.indexOf(Buffer.from(a.handleOf(pan), 'latin1').subarray(0, 16)) % 64, 'the handle heads its slot').to.equal(0);
    for (const form of [pan, Buffer.from(pan).toString('hex'), Buffer.from(pan).toString('base64')]) expect(slab.indexOf(form, 0, 'latin1')).to.equal(-1);
    expect(a.export()).to.not.include(pan);
    expect(JSON.stringify(a)).to.not.include(key.toString('hex'));
    expect(() => new SelectorCache(10, new Uint8Array(16))).to.throw(MamoriClientError, /cacheKey: expected 32 bytes/);
  });

  it('finds every card among many, under shared index words too, while cards are evicted and replaced', () => {
    for (const indexWord of [undefined, (word: number) => word & 0x3f]) {
      const cache = new SelectorCache(500, undefined, indexWord);
      const handles = randomPans(3000).map((p) => cache.handleOf(p));
      handles.forEach((h, i) => {
        cache.put(h, selectorOf(i % 250), 'set-1');
        // Replacing a card's selector keeps one slot for it.
        if (i % 7 === 0) cache.put(h, selectorOf((i + 1) % 250), 'set-1');
      });
      expect(cache.size).to.equal(500);
      const kept = handles.slice(-500);
      expect(kept.map((h) => cache.get(h))).to.deep.equal(kept.map((_h, j) => selectorOf((2500 + j + ((2500 + j) % 7 === 0 ? 1 : 0)) % 250)));
      for (const h of handles.slice(0, 2500)) expect(cache.get(h)).to.equal(undefined);
      expect(cache.stats().evictions).to.equal(2500);
    }
  });

  it('belongs to one dealing: another setId empties it', () => {
    const cache = new SelectorCache(10);
    const handles = randomPans(4).map((p) => cache.handleOf(p));
    handles.forEach((h, i) => cache.put(h, selectorOf(i), 'set-1'));
    expect(cache.useSet('set-1')).to.equal(0);
    cache.put(handles[0] as string, selectorOf(7), 'set-2');
    expect(cache.size).to.equal(1);
    expect(cache.setId).to.equal('set-2');
    expect(cache.stats().invalidated).to.equal(4);
  });

  it('capacity 0 keeps nothing', () => {
    const cache = new SelectorCache(0);
    const h = cache.handleOf(randomPans(1)[0] as string);
    cache.put(h, selectorOf(1), 'set-1');
    expect(cache.get(h)).to.equal(undefined);
    expect(cache.size).to.equal(0);
  });

  it('exports handles and selectors in recency order; imports under the same key only, into the same dealing', () => {
    const key = randomBytes(32);
    const from = new SelectorCache(100, key);
    const pans = randomPans(10);
    pans.forEach((p, i) => from.put(from.handleOf(p), selectorOf(i), 'set-1'));
    const text = from.export();
    for (const pan of pans) expect(text).to.not.include(pan);

    const into = new SelectorCache(5, key);
    expect(into.import(text)).to.deep.equal({ imported: 10, skipped: 0 });
    expect(into.size).to.equal(5); // bounded: the 5 most recent stay
    expect(into.get(into.handleOf(pans[9] as string))).to.deep.equal(selectorOf(9));
    expect(into.get(into.handleOf(pans[0] as string))).to.equal(undefined);

    const other = new SelectorCache(100, key);
    other.useSet('set-2');
    expect(other.import(text)).to.deep.equal({ imported: 0, skipped: 10 });

    expect(() => new SelectorCache(100).import(text)).to.throw(MamoriClientError, 'selector cache: written under another cache key');
    expect(() => into.import('{')).to.throw(MamoriClientError, /^selector cache: not JSON/);
    // The format before handles were shortened (v1: whole 32-byte handles) still imports.
    const v1 = JSON.parse(text) as { format: string; entries: [string, string][] };
    v1.format = 'mamori-selector-cache-v1';
    v1.entries = pans.map((p, i) => [Buffer.from(from.handleOf(p), 'latin1').toString('base64'), selectorOf(i).toString('base64')]);
    const fromV1 = new SelectorCache(100, key);
    expect(fromV1.import(JSON.stringify(v1))).to.deep.equal({ imported: 10, skipped: 0 });
    expect(pans.map((p) => fromV1.get(fromV1.handleOf(p)))).to.deep.equal(pans.map((_p, i) => selectorOf(i)));
    expect(() => fromV1.import(JSON.stringify({ ...v1, format: 'mamori-selector-cache-v9' }))).to.throw(MamoriClientError, /^selector cache: format: expected "mamori-selector-cache-v2"/);
    const broken = JSON.parse(text) as { entries: unknown[] };
    broken.entries[2] = ['short', 'x'];
    expect(() => into.import(JSON.stringify(broken))).to.throw(MamoriClientError, /^selector cache: entries\[2\]/);
  });
});
