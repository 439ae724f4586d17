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
  // 6: stored entries that failed the background scrub (exchange/scrub.ts), until repaired
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
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
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
