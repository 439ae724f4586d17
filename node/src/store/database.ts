import Database from 'better-sqlite3';
import { migrate } from './migrations';

/** Opens the node database: WAL with synchronous=FULL, so a commit survives power loss. */
export function openDatabase(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // better-sqlite3 builds SQLite with a WAL default of NORMAL; an acknowledged entry must be durable.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = OFF');
  db.pragma('busy_timeout = 5000');
  db.pragma('cache_size = -65536');
  migrate(db);
  return db;
}
