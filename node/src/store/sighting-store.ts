// Sightings as the corroboration score reads them: per selector digest, which origins
// reported which outcome, and whether as the card's issuer. Rows are written by the ledger
// store inside the transaction that stores their entry.
import type Database from 'better-sqlite3';
import { ledgerProtoRoot } from '../../../proto/ts/loader';
import type { ValidSighting, SightingOutcomeName } from '../ledger/sightings';

export interface StoredSighting {
  originId: number;
  outcome: SightingOutcomeName;
  byCardIssuer: boolean;
  /** The latest time this origin reported this outcome for the selector. */
  seenAtMs: number;
  /** The entry that reported it (for one origin, entry ids follow its feed's order). */
  entryId: number;
}

const outcomeNumbers: Readonly<Record<string, number>> = ledgerProtoRoot().lookupEnum('mamori.v1.SightingOutcome').values;
const outcomeNames: Readonly<Record<number, string>> = ledgerProtoRoot().lookupEnum('mamori.v1.SightingOutcome').valuesById;

export class SightingStore {
  private readonly upsert: Database.Statement;
  private readonly byDigest: Database.Statement;

  constructor(db: Database.Database) {
    // The latest observation is kept; once a member reported as the card's issuer it stays so.
    this.upsert = db.prepare(
      `INSERT INTO sightings (digest, origin_id, outcome, seen_at_ms, by_card_issuer, entry_id) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (digest, origin_id, outcome) DO UPDATE SET
         entry_id = CASE WHEN excluded.seen_at_ms >= seen_at_ms THEN excluded.entry_id ELSE entry_id END,
         seen_at_ms = max(seen_at_ms, excluded.seen_at_ms),
         by_card_issuer = max(by_card_issuer, excluded.by_card_issuer)`,
    );
    this.byDigest = db.prepare('SELECT origin_id AS originId, outcome, by_card_issuer AS byCardIssuer, seen_at_ms AS seenAtMs, entry_id AS entryId FROM sightings WHERE digest = ?');
  }

  /** Called inside the ledger store's append transaction. */
  record(entryId: number, originId: number, sightings: readonly ValidSighting[]): void {
    for (const s of sightings) {
      this.upsert.run(s.selector.digest, originId, outcomeNumbers[s.outcome] as number, s.seenAtMs, s.byCardIssuer ? 1 : 0, entryId);
    }
  }

  of(digest: Buffer): StoredSighting[] {
    const rows = this.byDigest.all(digest) as { originId: number; outcome: number; byCardIssuer: number; seenAtMs: number; entryId: number }[];
    return rows.map((r) => ({
      originId: r.originId,
      outcome: outcomeNames[r.outcome] as SightingOutcomeName,
      byCardIssuer: r.byCardIssuer === 1,
      seenAtMs: r.seenAtMs,
      entryId: r.entryId,
    }));
  }
}
