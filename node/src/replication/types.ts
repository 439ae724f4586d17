// What replication needs from the rest of the node and from the network, as interfaces:
// this folder holds no gRPC and no SQL.
import type { AcceptedEntry } from '../ledger/acceptance';
import type { FeedHead } from '../ledger/entry';

/** An entry as it travels: the origin's signed body bytes and the signature. */
export interface RawEntry {
  body: Buffer;
  signature: Buffer;
}

export interface PeerHead {
  origin: string;
  seq: number;
  hash: Buffer;
}

/** The network side of one peer (implemented over gRPC in rpc/). */
export interface PeerLink {
  heads(): Promise<PeerHead[]>;
  /**
   * One Fetch call: one origin's entries from a seq on, at most `limit` (the peer sends at most
   * FETCH_LIMIT a call); waits for each page's handler before reading on. Asking again, from
   * where this node's head got to and never beyond the peer's head, is the caller's
   * (fetch-up-to.ts): a peer's answer never moves a cursor by itself.
   */
  fetch(origin: string, fromSeq: number, onPage: (entries: RawEntry[]) => Promise<void>, limit: number): Promise<void>;
  /**
   * Live entries from any origin. `subscribed` resolves once the peer will send everything
   * it commits from then on; `done` settles when the stream ends or fails.
   */
  follow(onEntries: (entries: RawEntry[]) => void): { subscribed: Promise<void>; done: Promise<void>; cancel(): void };
  close(): void;
}

/** The group a write joins: heads as they will be once what precedes it commits. */
export interface WriteGroupPort {
  head(origin: string): FeedHead;
  append(entry: AcceptedEntry): void;
  readonly entries: readonly AcceptedEntry[];
}

/** The node's writer and stored ledger, as replication sees them. */
export interface LedgerPort {
  enqueue<T>(prepare: (group: WriteGroupPort) => () => T): Promise<T>;
  committedHeads(): ReadonlyMap<string, FeedHead>;
  storedEntry(origin: string, seq: number): { hash: Buffer } | undefined;
  isFrozen(origin: string): boolean;
  /** This node's own member id: its feed is ingested from peers like any other, but never frozen here. */
  ownOrigin?: string;
  recordEquivocation(evidence: { origin: string; seq: number; storedHash: Buffer; otherHash: Buffer; otherBody: Buffer; otherSignature: Buffer; reportedBy: string }): void;
}
