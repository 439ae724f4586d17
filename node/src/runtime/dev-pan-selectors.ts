import type { PanSelectorPhase } from '../membership/pan-selector-phase';

/**
 * The dev consortium's PAN-selector phase: "oblivious", so `npm start` runs on the threshold
 * PRF's selectors end to end (docs/oprf.md#migration). Apart from the dev consortium's code, so
 * the command line can show it without loading that code.
 */
export const DEV_PAN_SELECTORS: PanSelectorPhase = 'oblivious';
