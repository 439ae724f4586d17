// The consortium's PAN-selector phase (docs/oprf.md#migration), from the signed consortium
// file's oprf section: "keyed" when the file has none or does not say.
//
//  keyed      PAN selectors are keyed BLAKE2b under the hashing-key epochs (SELECTOR_TYPE_PAN).
//  dual       new card listings take oblivious selectors (SELECTOR_TYPE_PAN_OBLIVIOUS); checks
//             ask both, so listings made under keyed selectors stay checkable until they expire.
//  oblivious  only oblivious selectors: this node refuses keyed PAN selectors from its clients
//             (publish, check, sightings), leaves them out of what it streams to mirrors, and
//             the hashing keys serve merchant selectors only.
//
// Only the member-local API applies the phase. Acceptance of peers' entries does not: it must
// give the same answer at every node and at every time (ledger/acceptance.ts).
import { MamoriError } from '../ledger/errors';
import type { Consortium } from './consortium';

export type PanSelectorPhase = 'keyed' | 'dual' | 'oblivious';

export function panSelectorPhase(consortium: Consortium): PanSelectorPhase {
  return consortium.document.oprf?.panSelectors ?? 'keyed';
}

/**
 * Refuses, by field, a PAN selector the phase does not take from a member's own client: an
 * oblivious one under "keyed" (no member checks it yet), a keyed one under "oblivious".
 */
export function requirePanSelectorAllowed(phase: PanSelectorPhase, type: string, field: string, what: 'published' | 'checked' | 'reported'): void {
  if (type === 'SELECTOR_TYPE_PAN_OBLIVIOUS' && phase === 'keyed') {
    throw MamoriError.failedPrecondition(`${field}: oblivious PAN selectors are not ${what} while the consortium's PAN-selector phase is "keyed" (docs/oprf.md#migration)`);
  }
  if (type === 'SELECTOR_TYPE_PAN' && phase === 'oblivious') {
    throw MamoriError.failedPrecondition(`${field}: keyed PAN selectors are not ${what} while the consortium's PAN-selector phase is "oblivious"; use oblivious selectors (docs/oprf.md#migration)`);
  }
}
