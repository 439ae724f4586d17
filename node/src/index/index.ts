// The negative path of a check: a Bloom filter over selector digests and its snapshot.
export { DigestBloomFilter, DIGEST_BYTES, MAX_BITS, MAX_HASHES } from './digest-bloom';
export type { BloomParams } from './digest-bloom';
export { readSnapshot, writeSnapshot } from './snapshot';
export type { FilterSnapshotMeta, SnapshotReadResult } from './snapshot';
