// What the mirror said of each cached card's oblivious selector, remembered in the card's own
// cache slot (docs/oprf.md#the-client-sdk). A cached card's check then reads its keyed hash's
// slot and nothing else: no Bloom filter probe, so the check costs what the keyed mirror check
// costs (a keyed hash and its probes) or less.
//
// A verdict is (generation << 1) | listed, generation being the mirror filter's (mirror.ts):
// 0 until the slot is first checked and after every put. It holds while that filter answers:
// between reloads the filter only gains digests, and each digest it gains is looked up among
// the cached selectors and marks its card "may be listed" at once. Another filter (a reload)
// is another generation, so every verdict is asked of the filter again when next used. A card
// that may be listed goes to the node with its selector, as before.
import type { SelectorCache } from './selector-cache';
import type { FilterMirror } from './mirror';

const DIGEST_BYTES = 32;

/** What the verdicts need of the mirror. */
export type VerdictSource = Pick<FilterMirror, 'generation' | 'has' | 'onAdded'>;

export class MirrorVerdicts {
  constructor(
    private readonly cache: SelectorCache,
    private readonly mirror: VerdictSource,
  ) {
    mirror.onAdded((digests) => this.added(digests));
  }

  /** false: not in the mirror's filter, so not listed; true: may be listed, ask the node; undefined: the mirror cannot answer. */
  mayContain(slot: number, now = Date.now()): boolean | undefined {
    const generation = this.mirror.generation(now);
    if (generation === 0) return undefined;
    // A selector two cards hold is found for one of them only when the mirror learns it: asked every time.
    if (this.cache.sharesSelector(slot)) return this.mirror.has(this.cache.selectorAt(slot));
    const verdict = this.cache.verdictAt(slot);
    if (verdict >>> 1 === generation) return (verdict & 1) === 1;
    const listed = this.mirror.has(this.cache.selectorAt(slot));
    this.cache.setVerdict(slot, ((generation << 1) | (listed ? 1 : 0)) >>> 0);
    return listed;
  }

  /**
   * Digests the node committed: a cached card holding one may be listed from now on. Marked
   * under the filter answering now; during a reload the next filter holds the digests and
   * every verdict is asked again under it.
   */
  private added(digests: Buffer): void {
    const listed = ((this.mirror.generation() << 1) | 1) >>> 0;
    for (let at = 0; at + DIGEST_BYTES <= digests.length; at += DIGEST_BYTES) {
      this.cache.setVerdictOfSelector(digests.subarray(at, at + DIGEST_BYTES), listed);
    }
  }
}
