// Numbered schema migrations; PRAGMA user_version records the schema version.
import type Database from 'better-sqlite3';

const MIGRATIONS: readonly string[] = [
  // 1: the ledger, publications, selectors indexed by digest, retractions.
  `
  CREATE TABLE origins (
    id INTEGER PRIMARY KEY,
    member TEXT NOT NULL UNIQUE
  );
  -- Entries are committed in seq order per origin, so within one origin a larger id is a later entry.
  CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    origin_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    operation TEXT NOT NULL,
    key_epoch INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    received_at_ms INTEGER NOT NULL,
    signature BLOB NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (origin_id, seq)
  );
  -- Fields shared by every indicator of a publish entry, stored once per entry.
  CREATE TABLE publications (
    entry_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    exposed TEXT NOT NULL,
    confidence INTEGER NOT NULL,
    valid_from_ms INTEGER NOT NULL,
    valid_until_ms INTEGER NOT NULL,
    event_id TEXT NOT NULL
  );
  CREATE TABLE selectors (
    digest BLOB NOT NULL,
    entry_id INTEGER NOT NULL,
    type INTEGER NOT NULL,
    PRIMARY KEY (digest, entry_id)
  ) WITHOUT ROWID;
  CREATE TABLE retractions (
    digest BLOB NOT NULL,
    origin_id INTEGER NOT NULL,
    entry_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (digest, origin_id, entry_id)
  ) WITHOUT ROWID;
  `,
  // 2: new selectors land in a small table merged into the large one in big sorted batches:
  // a commit then rewrites a few pages of the small table instead of pages all over the
  // large one (measured: most of the cost of a bulk import at 10^6 indicators).
  `
  CREATE TABLE selectors_recent (
    digest BLOB NOT NULL,
    entry_id INTEGER NOT NULL,
    type INTEGER NOT NULL,
    PRIMARY KEY (digest, entry_id)
  ) WITHOUT ROWID;
  `,
  // 3: equivocation evidence (two signed entries at one origin/seq) and frozen origins.
  `
  CREATE TABLE equivocations (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    stored_hash BLOB NOT NULL,
    other_hash BLOB NOT NULL,
    other_body BLOB NOT NULL,
    other_signature BLOB NOT NULL,
    reported_by TEXT NOT NULL,
    detected_at_ms INTEGER NOT NULL,
    UNIQUE (origin, seq, other_hash)
  );
  CREATE TABLE frozen_origins (
    origin TEXT PRIMARY KEY,
    since_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
  );
  `,
  // 4: card-testing reports (from every origin's feed) and this member's alerts. An alert's
  // id is the subscriber's resume cursor (AUTOINCREMENT: never reused); its payload holds
  // only aggregates. dedup_key makes detection idempotent: one alert per (kind, bin, window).
  `
  CREATE TABLE card_testing_reports (
    entry_id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    bin TEXT NOT NULL,
    bucket_start_ms INTEGER NOT NULL,
    bucket_minutes INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    declines INTEGER NOT NULL,
    merchant BLOB
  );
  CREATE INDEX card_testing_reports_by_bin6 ON card_testing_reports (substr(bin, 1, 6), bucket_start_ms);
  CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    member TEXT NOT NULL,
    kind TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (member, kind, dedup_key)
  );
  `,
  // 5: the audit log, chained by hash (audit-store.ts), and the anchor its first row links
  // to once older rows are pruned. details holds JSON of counts only.
  `
  CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
  );
  CREATE TABLE audit_anchor (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    last_id INTEGER NOT NULL,
    hash BLOB NOT NULL,
    pruned_at_ms INTEGER NOT NULL
  );
  `,
  // 6: sightings (true positive / false positive / seen) from every origin's feed, one row
  // per (selector digest, reporting origin, outcome): a member repeating itself counts once.
  // Keyed by digest first, so a check reads a selector's sightings from one B-tree range.
  `
  CREATE TABLE sightings (
    digest BLOB NOT NULL,
    origin_id INTEGER NOT NULL,
    outcome INTEGER NOT NULL,
    seen_at_ms INTEGER NOT NULL,
    by_card_issuer INTEGER NOT NULL,
    entry_id INTEGER NOT NULL,
    PRIMARY KEY (digest, origin_id, outcome)
  ) WITHOUT ROWID;
  `,
  // 7: which member acknowledged which hashing-key epoch (a KeyEpochAck entry of its feed):
  // the operator retires an old epoch only once every member holds the new one.
  `
  CREATE TABLE key_epoch_acks (
    member TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    entry_id INTEGER NOT NULL,
    acked_at_ms INTEGER NOT NULL,
    PRIMARY KEY (member, epoch)
  ) WITHOUT ROWID;
  `,
  // 8: common point of purchase. On every node: the aggregator's published flags (public
  // aggregates, one row per flag) and this member's watch list (local, never replicated).
  // Only the aggregator fills the fraud_* tables, from the reports it alone can open; a
  // report it could not use is kept in fraud_reports with its status so it is tried once.
  `
  CREATE TABLE common_point_flags (
    entry_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    merchant BLOB NOT NULL,
    merchant_type INTEGER NOT NULL,
    issuers INTEGER NOT NULL,
    fraud_cards INTEGER NOT NULL,
    expected_fraud_cards REAL NOT NULL,
    p_value REAL NOT NULL,
    window_start_ms INTEGER NOT NULL,
    window_end_ms INTEGER NOT NULL,
    PRIMARY KEY (entry_id, idx)
  );
  CREATE INDEX common_point_flags_by_merchant ON common_point_flags (merchant, fraud_cards);
  CREATE TABLE watched_merchants (
    digest BLOB PRIMARY KEY,
    type INTEGER NOT NULL,
    key_epoch INTEGER NOT NULL,
    added_at_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE fraud_reports (
    entry_id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    status TEXT NOT NULL,
    window_start_ms INTEGER NOT NULL,
    window_end_ms INTEGER NOT NULL,
    active_cards INTEGER NOT NULL,
    opened_at_ms INTEGER NOT NULL
  );
  CREATE TABLE fraud_cards (
    card BLOB NOT NULL,
    origin TEXT NOT NULL,
    window_end_ms INTEGER NOT NULL,
    PRIMARY KEY (card, origin)
  ) WITHOUT ROWID;
  CREATE TABLE fraud_card_merchants (
    merchant BLOB NOT NULL,
    card BLOB NOT NULL,
    origin TEXT NOT NULL,
    window_end_ms INTEGER NOT NULL,
    PRIMARY KEY (merchant, card, origin)
  ) WITHOUT ROWID;
  CREATE TABLE fraud_volumes (
    merchant BLOB NOT NULL,
    origin TEXT NOT NULL,
    merchant_type INTEGER NOT NULL,
    cards INTEGER NOT NULL,
    window_end_ms INTEGER NOT NULL,
    PRIMARY KEY (merchant, origin)
  ) WITHOUT ROWID;
  `,
  // 9: stored entries that failed the background scrub (integrity/scrub.ts), until repaired
  // from a peer. Origin and seq only: the damaged bytes stay where they are.
  `
  CREATE TABLE damaged_entries (
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    detected_at_ms INTEGER NOT NULL,
    PRIMARY KEY (origin, seq)
  );
  `,
  // 10: the aggregator's fraud-report cursor. Retention deletes fraud_reports rows past the
  // look-back (housekeeping/detection-retention.ts); the last entry examined is kept here so a
  // pruned report is never opened again.
  `
  CREATE TABLE fraud_report_cursor (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    last_entry_id INTEGER NOT NULL
  );
  `,
  // 11: one digest row per entry of the rows derived from it (publications, selectors,
  // selectors_recent, retractions): the selector count, the SHA-256 of its selector rows, and
  // a MAC of all of them under the node-local key (integrity/derived-rows.ts), written in the
  // transaction that writes the rows. The rows of entries stored before this migration get
  // theirs from the signed entries at the next start (integrity/derived-state.ts), never
  // from the rows themselves.
  `
  CREATE TABLE derived_digests (
    entry_id INTEGER PRIMARY KEY,
    selector_rows INTEGER NOT NULL,
    selectors_hash BLOB NOT NULL,
    digest BLOB NOT NULL
  );
  `,
  // 12: threshold-PRF evaluations this node answered, per requesting member, BIN and hour
  // (evaluation/budget.ts): the budgets of the consortium file hold across restarts. `own`: the
  // BIN was inside the member's binRanges when counted (the issuer budget).
  `
  CREATE TABLE oprf_evaluations (
    member TEXT NOT NULL,
    bin TEXT NOT NULL,
    hour INTEGER NOT NULL,
    own INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (member, bin, hour)
  ) WITHOUT ROWID;
  CREATE INDEX oprf_evaluations_by_member_hour ON oprf_evaluations (member, hour);
  `,
  // 13: the audit anchor is signed by the member (audit-store.ts): what it says about the
  // pruned rows (the last one's time, the retention used, when the log began) and the
  // signature. The row always exists from now on: a missing anchor means a deleted one. An
  // anchor still unsigned is signed once, by the start that ran this migration.
  `
  ALTER TABLE audit_anchor ADD COLUMN last_at_ms INTEGER;
  ALTER TABLE audit_anchor ADD COLUMN retention_days INTEGER;
  ALTER TABLE audit_anchor ADD COLUMN created_at_ms INTEGER;
  ALTER TABLE audit_anchor ADD COLUMN member TEXT;
  ALTER TABLE audit_anchor ADD COLUMN signature BLOB;
  INSERT OR IGNORE INTO audit_anchor (only, last_id, hash, pruned_at_ms) VALUES (1, 0, zeroblob(32), 0);
  `,
  // 14: evaluation counts on the ledger (docs/oprf.md). oprf_count_tally: this evaluator's own
  // counts per publication bucket (the oprf section's counts.bucketSeconds), until the closed
  // bucket is published. oprf_count_decided: buckets this evaluator decided (published, or nothing
  // reached the floor); a bucket it published is also known from its own rows below, written in
  // the transaction that stores the entry. oprf_counts: every evaluator's published rows, from
  // the entries every node accepts.
  `
  CREATE TABLE oprf_count_tally (
    bucket_start_ms INTEGER NOT NULL,
    bucket_seconds INTEGER NOT NULL,
    member TEXT NOT NULL,
    bin TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (bucket_start_ms, bucket_seconds, member, bin)
  ) WITHOUT ROWID;
  CREATE TABLE oprf_count_decided (
    bucket_start_ms INTEGER NOT NULL,
    bucket_seconds INTEGER NOT NULL,
    decided_at_ms INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    PRIMARY KEY (bucket_start_ms, bucket_seconds)
  ) WITHOUT ROWID;
  CREATE TABLE oprf_counts (
    entry_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    evaluator TEXT NOT NULL,
    member TEXT NOT NULL,
    bin TEXT NOT NULL,
    bucket_start_ms INTEGER NOT NULL,
    bucket_seconds INTEGER NOT NULL,
    band INTEGER NOT NULL,
    PRIMARY KEY (entry_id, idx)
  ) WITHOUT ROWID;
  CREATE INDEX oprf_counts_by_bucket ON oprf_counts (bucket_start_ms);
  CREATE INDEX oprf_counts_by_evaluator ON oprf_counts (evaluator, bucket_start_ms, bucket_seconds);
  `,
  // 15: how far the stored entries were last verified whole (integrity/verification-checkpoint.ts):
  // the last entry row id walked and each origin's head there, MACed under the node-local key.
  // A start verifies only the entries after it; the scrub re-verifies the rest in the background.
  `
  CREATE TABLE verification_checkpoint (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    covered_row_id INTEGER NOT NULL,
    heads TEXT NOT NULL,
    mac BLOB NOT NULL,
    recorded_at_ms INTEGER NOT NULL
  );
  `,
];

/** The migration that made the audit anchor signed (audit-store.ts adopts an unsigned anchor only right after it). */
export const SIGNED_AUDIT_ANCHOR_VERSION = 13;

/** The schema version each connection found before its migrations ran (what this open upgraded from). */
const versionAtOpen = new WeakMap<Database.Database, number>();

export function schemaVersionAtOpen(db: Database.Database): number {
  return versionAtOpen.get(db) ?? SCHEMA_VERSION;
}

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  versionAtOpen.set(db, current);
  if (current > SCHEMA_VERSION) {
    throw new Error(`database schema version ${current} is newer than this node understands (${SCHEMA_VERSION})`);
  }
  for (let version = current; version < SCHEMA_VERSION; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
