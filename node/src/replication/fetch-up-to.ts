// One fetch round of one origin from one peer: Fetch calls from this node's head on, never
// beyond the seq the peer advertised. Each call must advance this node's head; a call that
// does not (forged, gapped, non-chaining or no entries) ends the round short. So a peer that
// serves what it did not advertise, or the same entries whatever is asked, gets one call a
// round and never moves the cursor past its advertised head.
import type { PeerLink, RawEntry } from './types';

/** Whether this node's head of `origin` reached `upTo`. */
export async function fetchUpTo(
  link: PeerLink,
  origin: string,
  upTo: number,
  localSeq: () => number,
  onPage: (entries: RawEntry[]) => Promise<void>,
): Promise<boolean> {
  for (;;) {
    const from = localSeq() + 1;
    if (from > upTo) return true;
    await link.fetch(origin, from, onPage, upTo - from + 1);
    if (localSeq() < from) return false;
  }
}
