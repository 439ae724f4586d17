// What a check says of a listed card's sightings, as the node computes it and the SDK returns it.

/** Distinct members that reported each outcome for a card. */
export interface SightingCounts {
  seen: number;
  truePositive: number;
  falsePositive: number;
  /** The card's own issuer is among the false-positive reporters. */
  issuerFalsePositive: boolean;
}

export const NO_SIGHTINGS: SightingCounts = Object.freeze({ seen: 0, truePositive: 0, falsePositive: 0, issuerFalsePositive: false });
