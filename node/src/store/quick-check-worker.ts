// Runs PRAGMA quick_check on its own read-only connection in a worker thread: it reads every
// page of the database, which on the node's thread would stall checks for the whole scan.
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

const { file, maxErrors } = workerData as { file: string; maxErrors: number };
let result: { problems: string[] } | { error: string };
try {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const rows = db.pragma(`quick_check(${maxErrors})`) as { quick_check: string }[];
    result = { problems: rows.map((r) => r.quick_check).filter((line) => line !== 'ok') };
  } finally {
    db.close();
  }
} catch (error) {
  result = { error: error instanceof Error ? error.message : String(error) };
}
parentPort?.postMessage(result);
