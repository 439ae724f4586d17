// Brings the Bloom filter up to date at start-up: the snapshot if it matches the ledger,
// caught up with entries committed after it; otherwise a rebuild from SQLite.
import * as path from 'node:path';
import { DigestBloomFilter } from './digest-bloom';
import { readSnapshot } from './snapshot';
import type { LedgerStore } from '../store/ledger-store';

export interface FilterSettings {
  capacity: number;
  targetFpRate: number;
}

export interface LoadedFilter {
  filter: DigestBloomFilter;
  source: 'snapshot' | 'snapshot+catch-up' | 'rebuilt';
  reason?: string;
  /** Set when a snapshot was there but its MAC did not verify: it was rejected, and the filter rebuilt. */
  rejected?: string;
}

export function snapshotFile(dataDir: string): string {
  return path.join(dataDir, 'filter.snapshot');
}

/** Capacity for a rebuild: the configured one, or twice the current count when that is larger. */
export function capacityFor(settings: FilterSettings, items: number): number {
  return Math.max(settings.capacity, items * 2);
}

export function rebuildFilter(store: LedgerStore, settings: FilterSettings): DigestBloomFilter {
  const { indicators } = store.counts();
  const filter = DigestBloomFilter.forCapacity(capacityFor(settings, indicators), settings.targetFpRate);
  for (const digest of store.digests()) filter.add(digest);
  return filter;
}

/** With `key` (the node-local key), a snapshot is used only if its MAC verifies. */
export function loadFilter(store: LedgerStore, dataDir: string, settings: FilterSettings, key?: Uint8Array): LoadedFilter {
  const snapshot = readSnapshot(snapshotFile(dataDir), key);
  const rebuild = (reason: string): LoadedFilter => ({ filter: rebuildFilter(store, settings), source: 'rebuilt', reason });
  if ('problem' in snapshot) {
    const rebuilt = rebuild(`snapshot ${snapshot.problem}: ${snapshot.detail}`);
    return snapshot.problem === 'unauthenticated' ? { ...rebuilt, rejected: snapshot.detail } : rebuilt;
  }
  const { filter, position, positionHash } = snapshot;
  if (filter.params.targetFpRate !== settings.targetFpRate || filter.params.capacity < settings.capacity) {
    return rebuild('snapshot parameters differ from the configuration');
  }
  const head = store.maxEntryId();
  if (position > head) return rebuild(`snapshot covers entry ${position} but the ledger ends at ${head}`);
  if (store.entryHashById(position) !== positionHash) return rebuild('snapshot was built from another ledger (the entry at its position differs)');
  if (position === head && !filter.overCapacity()) return { filter, source: 'snapshot' };
  for (const digest of store.digests(position)) filter.add(digest);
  if (filter.overCapacity()) return rebuild('filter over capacity');
  return { filter, source: 'snapshot+catch-up', reason: `caught up from entry ${position} to ${head}` };
}
