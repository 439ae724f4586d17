// The exact bytes that get signed, one function per signed structure, each with its own
// domain tag so a signature over one structure can never be replayed as another.

const ENTRY_TAG = Buffer.from('mamori/v1/entry\0', 'utf8');
const CONSORTIUM_TAG = Buffer.from('mamori/v1/consortium\0', 'utf8');

/** Bytes an origin signs for a ledger entry: tag || body (the body exactly as stored). */
export function entrySigningBytes(body: Uint8Array): Buffer {
  return Buffer.concat([ENTRY_TAG, body]);
}

/** Bytes the operator signs for a consortium document: tag || canonical JSON. */
export function consortiumSigningBytes(canonicalDocument: string): Buffer {
  return Buffer.concat([CONSORTIUM_TAG, Buffer.from(canonicalDocument, 'utf8')]);
}

/** JSON with object keys sorted at every level, so the signed bytes do not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
