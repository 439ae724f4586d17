// Persisted Bloom filter: parameters, the ledger position it covers, and its bits.
//
// Layout:  "MAMORIBF1\n" | uint32 LE header length | JSON header | raw BitSet bytes
// The header holds FilterSnapshotMeta plus the sha256 (hex) of the raw bytes and, last, the
// `mac` (hex): HMAC-SHA-256 under the node-local key of the header written before it and the
// bits (proto/ts/trust/domains.ts filterSnapshotMac). The checksum detects damage; the MAC
// detects a snapshot altered on disk (its bits zeroed and its checksum recomputed), which is
// then rejected and the filter rebuilt from the store. The "1" in the magic also versions the
// digest → bit position derivation of DigestBloomFilter.
//
// Writing is atomic and durable (writeFileAtomic: tmp file, fsync, rename, fsync of the directory). Reading
// never throws: anything that does not check out is reported, and the caller rebuilds the
// filter from SQLite.

import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import { writeFileAtomic } from '../../../proto/ts/trust/atomic-file';
import { filterSnapshotMac } from '../../../proto/ts/trust/domains';
import { BitSet, DigestBloomFilter } from './digest-bloom';

export interface FilterSnapshotMeta {
  bits: number;
  hashes: number;
  capacity: number;
  targetFpRate: number;
  items: number;
  /** Highest ledger entry row id whose selectors are in the filter. */
  position: number;
  /**
   * Hash (hex) of the entry at `position`: ties the snapshot to the ledger it was built from,
   * so a database replaced or restored under it is noticed. Empty for an empty ledger.
   */
  positionHash: string;
}

export type SnapshotReadResult =
  | { filter: DigestBloomFilter; position: number; positionHash: string }
  | { problem: 'missing' | 'corrupt' | 'unauthenticated'; detail: string };

const MAGIC = Buffer.from('MAMORIBF1\n', 'latin1');
const PREFIX_BYTES = MAGIC.length + 4;
/** The header is a few hundred bytes; a bigger length field is damage, not data. */
const MAX_HEADER_BYTES = 64 * 1024;

/** Writes a snapshot; with `key` (the node-local key) its header carries a MAC over header and bits. */
export function writeSnapshot(file: string, filter: DigestBloomFilter, position: number, positionHash = '', key?: Uint8Array): void {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw new RangeError(`position must be a non-negative integer, got ${position}`);
  }
  const bytes = filter.bitsetBytes();
  const meta: FilterSnapshotMeta = { ...filter.params, items: filter.items, position, positionHash };
  const unsigned = JSON.stringify({ ...meta, sha256: sha256Hex(bytes) });
  const text = key ? `${unsigned.slice(0, -1)},"mac":"${filterSnapshotMac(key, Buffer.from(unsigned, 'utf8'), bytes).toString('hex')}"}` : unsigned;
  const header = Buffer.from(text, 'utf8');
  const prefix = Buffer.alloc(PREFIX_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(header.length, MAGIC.length);
  writeFileAtomic(file, [prefix, header, bytes]);
}

/**
 * Reads a snapshot. With `key`, a snapshot whose MAC is absent or does not verify is reported
 * 'unauthenticated' (never used): it was altered, or written under another key.
 */
export function readSnapshot(file: string, key?: Uint8Array): SnapshotReadResult {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { problem: 'missing', detail: `no snapshot at ${file}` };
    return corrupt(`cannot read ${file}: ${code ?? String(err)}`);
  }

  if (buf.length < PREFIX_BYTES) {
    return corrupt(`truncated: ${buf.length} bytes, shorter than the ${PREFIX_BYTES}-byte prefix`);
  }
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    return corrupt('wrong magic: not a MAMORIBF1 snapshot');
  }
  const headerLength = buf.readUInt32LE(MAGIC.length);
  if (headerLength > MAX_HEADER_BYTES) {
    return corrupt(`header length ${headerLength} exceeds ${MAX_HEADER_BYTES} bytes`);
  }
  const bodyStart = PREFIX_BYTES + headerLength;
  if (buf.length < bodyStart) {
    return corrupt(`truncated: header needs ${headerLength} bytes, file has ${buf.length - PREFIX_BYTES}`);
  }

  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', PREFIX_BYTES, bodyStart));
  } catch (err) {
    return corrupt(`header is not valid JSON: ${(err as Error).message}`);
  }
  const meta = parseHeader(header);
  if (typeof meta === 'string') return corrupt(`bad header: ${meta}`);

  const expectedBytes = Math.ceil(meta.bits / 8);
  const actualBytes = buf.length - bodyStart;
  if (actualBytes !== expectedBytes) {
    const what = actualBytes < expectedBytes ? 'truncated' : 'size mismatch';
    return corrupt(`${what}: ${meta.bits} bits need ${expectedBytes} bytes, file holds ${actualBytes}`);
  }
  const body = buf.subarray(bodyStart);
  const digest = sha256Hex(body);
  if (digest !== meta.sha256) {
    return corrupt(`checksum mismatch: header says ${meta.sha256}, bits hash to ${digest}`);
  }
  if (key) {
    const mac = (header as Record<string, unknown>).mac;
    if (typeof mac !== 'string') return { problem: 'unauthenticated', detail: 'the header carries no MAC' };
    // The MAC covers the header exactly as written before its "mac" member (the last one).
    const text = buf.toString('utf8', PREFIX_BYTES, bodyStart);
    const macAt = text.lastIndexOf(',"mac":"');
    const expected = macAt < 0 ? undefined : filterSnapshotMac(key, Buffer.from(`${text.slice(0, macAt)}}`, 'utf8'), body);
    if (!expected || !/^[0-9a-f]{64}$/.test(mac) || !timingSafeEqual(expected, Buffer.from(mac, 'hex'))) {
      return { problem: 'unauthenticated', detail: 'the MAC does not verify under this node\'s key (altered on disk, or written under another key)' };
    }
  }

  try {
    const bitset = new BitSet(meta.bits);
    bitset.array.set(body);
    const { bits, hashes, capacity, targetFpRate, items, position, positionHash } = meta;
    const filter = new DigestBloomFilter({ bits, hashes, capacity, targetFpRate }, bitset, items);
    return { filter, position, positionHash };
  } catch (err) {
    // Parameters that passed the checksum but not the filter's own validation.
    return corrupt(`bad parameters: ${(err as Error).message}`);
  }
}

function parseHeader(value: unknown): (FilterSnapshotMeta & { sha256: string }) | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const h = value as Record<string, unknown>;
  for (const key of ['bits', 'hashes', 'capacity', 'items', 'position'] as const) {
    const v = h[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      return `${key} must be a non-negative integer, got ${JSON.stringify(v)}`;
    }
  }
  if (typeof h.targetFpRate !== 'number') {
    return `targetFpRate must be a number, got ${JSON.stringify(h.targetFpRate)}`;
  }
  if (typeof h.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(h.sha256)) {
    return `sha256 must be 64 lower-case hex digits, got ${JSON.stringify(h.sha256)}`;
  }
  return {
    bits: h.bits as number,
    hashes: h.hashes as number,
    capacity: h.capacity as number,
    targetFpRate: h.targetFpRate,
    items: h.items as number,
    position: h.position as number,
    positionHash: typeof h.positionHash === 'string' ? h.positionHash : '',
    sha256: h.sha256,
  };
}

function corrupt(detail: string): { problem: 'corrupt'; detail: string } {
  return { problem: 'corrupt', detail };
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
