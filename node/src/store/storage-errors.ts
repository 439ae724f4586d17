// Which SQLite failures mean "no room to write": the database reached its configured size
// (PRAGMA max_page_count, storage.maxDatabaseMb) or the disk under it is full. SQLite reports
// an OS ENOSPC as SQLITE_FULL; a write or sync the OS refuses outright (SQLITE_IOERR_*) takes
// the same path, because the node can do nothing about either but refuse writes and go on
// serving reads until an operator makes room.

export type StorageFailure = 'full' | 'io';

export function storageFailure(error: unknown): StorageFailure | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code !== 'string') return undefined;
  if (code === 'SQLITE_FULL') return 'full';
  if (code === 'SQLITE_IOERR' || code.startsWith('SQLITE_IOERR_')) return 'io';
  return undefined;
}
