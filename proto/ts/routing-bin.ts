// The BIN a client sends with each compromised card to its own node (docs/design.md#bin-routing: "BIN only
// where routing needs it"). The node matches it against consortium files' binRanges on the
// 6-digit range (card-testing detection uses the same), seals the result to each issuer and
// signs no BIN, so no more digits than that are sent, and only on the member-local hop.
export const ROUTING_BIN_DIGITS = 6;

/** The routing BIN of a normalized PAN (12-19 ASCII digits). */
export function routingBin(digits: string): string {
  return digits.slice(0, ROUTING_BIN_DIGITS);
}
