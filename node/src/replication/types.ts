// What replication needs from the rest of the node and from the network, as interfaces:
// this folder holds no gRPC and no SQL.
import type { AcceptedEntry } from '../ledger/acceptance';
import type { FeedHead } from '../ledger/entry';
import { MamoriError } from '../ledger/errors';

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
  /** The consortium document over this link (consortium-gossip.ts); absent on links without it (in-process test links). */
  consortium?: ConsortiumChannel;
}

/** The peer's side of the consortium document, as replication carries it. */
export interface ConsortiumChannel {
  /** The version the peer advertised in its last Heads answer; 0 when none (a node without the field). */
  advertised(): number;
  /** The signed document in force at the peer (GetConsortium). */
  get(): Promise<Buffer>;
  /** Hands the peer a signed document (OfferConsortium); rejects with the peer's refusal. */
  offer(signedDocument: Buffer): Promise<{ taken: boolean; versionInForce: number }>;
}

/**
 * A peer refused this node's call because its certificate names no member the peer knows (yet):
 * the peer may hold an older consortium document (consortium-gossip.ts offers it ours). A
 * network failure as far as counting goes (code UNAVAILABLE).
 */
export class PeerRefusedMembership extends MamoriError {
  constructor(message: string) {
    super('UNAVAILABLE', message);
  }
}

/** A peer refused an offered document as not newer, or as not one it can use: do not offer it again. */
export class PeerRefusedDocument extends MamoriError {}

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
