// The rows a node derives from one signed entry — its publication row, its selector rows, its
// retraction rows: what a Check reads — and their digest under the node-local key (layout in
// proto/ts/trust/domains.ts derivedRowsMac). The same functions serve the writer (from the
// accepted entry, in the transaction that stores it), the start-up check and the scrub (from the
// stored rows, and from the signed body again), so the three can only agree when the rows are
// what the entry says.
import { timingSafeEqual } from 'node:crypto';
import type { EntryBody__Output } from '../../../proto/gen/mamori/v1/EntryBody';
import { ledgerProtoRoot } from '../../../proto/ts/loader';
import { DERIVED_SELECTOR_RECORD_BYTES, DIGEST_BYTES, derivedRowsMac, derivedSelectorsHash } from '../../../proto/ts/trust/domains';
import type { AcceptedEntry } from '../ledger/acceptance';
import { decodeEntryBody } from '../ledger/entry';

export const selectorTypeNumbers: Record<string, number> = ledgerProtoRoot().lookupEnum('mamori.v1.SelectorType').values;

/** A publications row as stored (every column but entry_id). */
export interface PublicationRow {
  kind: unknown;
  reason: unknown;
  exposed: unknown;
  confidence: unknown;
  validFromMs: unknown;
  validUntilMs: unknown;
  eventId: unknown;
}

export interface DerivedRows {
  publication: PublicationRow | undefined;
  selectors: { digest: Buffer; type: number }[];
  retractions: { digest: Buffer; reason: string }[];
}

/** One entry's digest row (table derived_digests). */
export interface EntryDigest {
  selectorRows: number;
  selectorsHash: Buffer;
  digest: Buffer;
}

const NONE: DerivedRows = Object.freeze({ publication: undefined, selectors: [], retractions: [] }) as DerivedRows;

interface PublicationSource {
  kind: string;
  reason: string;
  exposed?: string[] | null;
  confidence: number;
  validFromMs: number;
  validUntilMs: number;
  eventId?: string | null;
  indicators?: { selectors?: { type: string; digest: Buffer }[] | null }[] | null;
}

function fromPublication(p: PublicationSource | null | undefined, r: { selectors?: { digest: Buffer }[] | null; reason: string } | null | undefined): DerivedRows {
  if (!p && !r) return NONE;
  return {
    publication: p
      ? {
          kind: p.kind,
          reason: p.reason,
          exposed: (p.exposed ?? []).join(','),
          confidence: p.confidence,
          validFromMs: p.validFromMs,
          validUntilMs: p.validUntilMs,
          eventId: p.eventId ?? '',
        }
      : undefined,
    selectors: (p?.indicators ?? []).flatMap((ind) => (ind.selectors ?? []).map((s) => ({ digest: s.digest, type: selectorTypeNumbers[s.type] as number }))),
    retractions: (r?.selectors ?? []).map((s) => ({ digest: s.digest, reason: r?.reason as string })),
  };
}

/** The rows the writer stores for an accepted entry. */
export function derivedRowsOfAccepted(entry: Pick<AcceptedEntry, 'publication' | 'retraction'>): DerivedRows {
  return fromPublication(entry.publication as PublicationSource | undefined, entry.retraction);
}

/** The rows a signed body gives (decoded again: the stored rows are not consulted). */
export function derivedRowsOfBody(body: Uint8Array): DerivedRows {
  const decoded: EntryBody__Output = decodeEntryBody(body);
  const p = decoded.operation === 'publishIndicators' ? (decoded.publishIndicators as unknown as PublicationSource) : undefined;
  const r = decoded.operation === 'retract' ? decoded.retract : undefined;
  return fromPublication(p, r as { selectors: { digest: Buffer }[]; reason: string } | undefined);
}

/** The publication row as the digest covers it: a JSON array of its columns, '' for none. */
export function publicationText(p: PublicationRow | undefined): string {
  return p ? JSON.stringify([p.kind, p.reason, p.exposed, p.confidence, p.validFromMs, p.validUntilMs, p.eventId]) : '';
}

/** Selector records (digest || u8 type) in digest order, from rows in any order. */
export function selectorRecords(selectors: readonly { digest: Buffer; type: number }[]): Buffer {
  const records = Buffer.alloc(selectors.length * DERIVED_SELECTOR_RECORD_BYTES);
  selectors.forEach((s, i) => {
    const at = i * DERIVED_SELECTOR_RECORD_BYTES;
    s.digest.copy(records, at, 0, DIGEST_BYTES);
    records[at + DIGEST_BYTES] = s.type & 0xff;
  });
  return sortRecords(records);
}

const INDEX_SPACE = 2 ** 22;

/**
 * Sorts 33-byte records by their bytes. A native Float64Array sort on the first 31 bits (as
 * store/ledger-store.ts does for inserts), then runs sharing those bits sorted in full: a
 * comparator over 10^6 records would cost about a second on the writer's thread.
 */
export function sortRecords(records: Buffer): Buffer {
  const size = DERIVED_SELECTOR_RECORD_BYTES;
  const n = records.length / size;
  if (n < 2) return records;
  const at = (i: number) => records.subarray(i * size, (i + 1) * size);
  let order: number[];
  if (n >= INDEX_SPACE) {
    order = Array.from({ length: n }, (_, i) => i).sort((a, b) => Buffer.compare(at(a), at(b)));
  } else {
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = (records.readUInt32BE(i * size) >>> 1) * INDEX_SPACE + i;
    keys.sort();
    order = Array.from(keys, (k) => k % INDEX_SPACE);
    for (let start = 0; start < n; ) {
      const prefix = records.readUInt32BE((order[start] as number) * size) >>> 1;
      let end = start + 1;
      while (end < n && records.readUInt32BE((order[end] as number) * size) >>> 1 === prefix) end++;
      if (end - start > 1) {
        const run = order.slice(start, end).sort((a, b) => Buffer.compare(at(a), at(b)));
        for (let i = start; i < end; i++) order[i] = run[i - start] as number;
      }
      start = end;
    }
  }
  const sorted = Buffer.alloc(records.length);
  order.forEach((from, i) => records.copy(sorted, i * size, from * size, (from + 1) * size));
  return sorted;
}

/** The MAC under the node-local key of one entry's rows, its selector rows given by count and hash. */
export function rowsMac(
  key: Uint8Array,
  entry: { entryId: number; entryHash: Uint8Array; originId: number },
  selectors: { selectorRows: number; selectorsHash: Buffer },
  publication: PublicationRow | undefined,
  retractions: readonly { digest: Buffer; reason: unknown; originId?: unknown }[],
): Buffer {
  const sorted = [...retractions]
    .sort((a, b) => Buffer.compare(a.digest, b.digest))
    .map((r) => ({ digest: r.digest, originId: safeId(r.originId ?? entry.originId), reason: String(r.reason) }));
  return derivedRowsMac(key, {
    entryId: entry.entryId,
    entryHash: entry.entryHash,
    selectorRows: selectors.selectorRows,
    selectorsHash: selectors.selectorsHash,
    publication: publicationText(publication),
    retractions: sorted,
  });
}

/**
 * The digest row of one entry's rows: selector count, the hash of its selector records, and the
 * MAC of everything under the node-local key. `sortedSelectorRecords` is in digest order.
 */
export function entryDigest(
  key: Uint8Array,
  entry: { entryId: number; entryHash: Uint8Array; originId: number },
  rows: { publication: PublicationRow | undefined; sortedSelectorRecords: Buffer; retractions: readonly { digest: Buffer; reason: unknown; originId?: unknown }[] },
): EntryDigest {
  const selectors = { selectorRows: rows.sortedSelectorRecords.length / DERIVED_SELECTOR_RECORD_BYTES, selectorsHash: derivedSelectorsHash(rows.sortedSelectorRecords) };
  return { ...selectors, digest: rowsMac(key, entry, selectors, rows.publication, rows.retractions) };
}

/** The digest row an entry's rows must have, from the rows derived from it. */
export function expectedDigest(key: Uint8Array, entry: { entryId: number; entryHash: Uint8Array; originId: number }, rows: DerivedRows): EntryDigest {
  return entryDigest(key, entry, { publication: rows.publication, sortedSelectorRecords: selectorRecords(rows.selectors), retractions: rows.retractions });
}

export function sameDigest(a: EntryDigest, b: { selectorRows: unknown; selectorsHash: unknown; digest: unknown }): boolean {
  return a.selectorRows === b.selectorRows && sameBytes(a.selectorsHash, b.selectorsHash) && sameBytes(a.digest, b.digest);
}

export function sameBytes(a: Buffer, b: unknown): boolean {
  return Buffer.isBuffer(b) && a.length === b.length && timingSafeEqual(a, b);
}

/** A stored origin row id as the MAC takes it; anything else (a text, a negative) maps to a value no entry has. */
function safeId(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : Number.MAX_SAFE_INTEGER;
}
