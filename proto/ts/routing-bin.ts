// The BIN a compromised-card indicator carries in clear (DESIGN.md §2: "BIN only where routing
// needs it"). Alerts are routed on the 6-digit range that consortium files' binRanges are
// matched on (card-testing detection uses the same), so no more digits than that are sent.
export const ROUTING_BIN_DIGITS = 6;

/** The routing BIN of a normalized PAN (12-19 ASCII digits). */
export function routingBin(digits: string): string {
  return digits.slice(0, ROUTING_BIN_DIGITS);
}
