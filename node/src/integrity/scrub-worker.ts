// The scrub's worker thread: walks the stored entries on a read-only connection of its own
// and verifies them (verify-ledger.ts), so Ed25519 and BLAKE2b over up to ~400 KB bodies, and
// PRAGMA quick_check over the whole file, never run on the thread that answers checks. It
// reports damaged entries by origin and seq; marking and repairing stay with the node.
import Database from 'better-sqlite3';
import * as os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { sodiumReady } from '../../../proto/ts/sodium';
import type { MemberKeys } from '../ledger/acceptance';
import { EntryPageReader } from '../store/entry-pages';
import type { ScrubReply, ScrubRequest, ScrubWorkerData } from './scrub-protocol';
import { StoredLedgerWalk } from './verify-ledger';
import { fullDerivedCheck } from './verify-derived';

const port = parentPort;
if (!port) throw new Error('scrub-worker runs as a worker thread');
// Lowest CPU priority for this thread alone (on Linux the nice value is per thread, and pid
// 0 is the calling thread): on a small machine the scrub takes only what checks leave idle.
try {
  os.setPriority(os.constants.priority.PRIORITY_LOW);
} catch {
  // Not permitted here: the scrub still runs, paced by sliceDelayMs.
}
const { file } = workerData as ScrubWorkerData;
const db = new Database(file, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
const pages = new EntryPageReader(db);
let members = new Map<string, MemberKeys>();
let walk = new StoredLedgerWalk(pages, (origin) => members.get(origin));
const ready = sodiumReady();

function handle(request: ScrubRequest): ScrubReply {
  switch (request.type) {
    case 'begin':
      members = new Map(request.members.map(([id, keys]) => [id, { roles: keys.roles, signingPublicKey: Buffer.from(keys.signingPublicKey) }]));
      walk = new StoredLedgerWalk(pages, (origin) => members.get(origin));
      return { id: request.id, type: 'begun' };
    case 'next': {
      const { walked, damaged } = walk.next(request.limit);
      const heads = walked === 0 ? [...walk.heads] : undefined;
      return { id: request.id, type: 'slice', walked, position: walk.position, damaged: damaged.map(({ id, origin, seq, reason }) => ({ id, origin, seq, reason })), heads };
    }
    case 'derived': {
      const started = Date.now();
      const key = Buffer.from(request.key);
      const result = db.transaction(() => fullDerivedCheck(db, key))();
      return { id: request.id, type: 'derived', ...result, ms: Date.now() - started };
    }
    case 'quickCheck': {
      const rows = db.pragma(`quick_check(${Math.max(1, Math.floor(request.maxErrors))})`) as { quick_check: string }[];
      return { id: request.id, type: 'quickCheck', problems: rows.map((r) => r.quick_check).filter((line) => line !== 'ok') };
    }
  }
}

port.on('message', (request: ScrubRequest) => {
  void ready
    .then(() => handle(request))
    .catch((error: unknown): ScrubReply => ({ id: request.id, type: 'failed', message: error instanceof Error ? error.message : String(error) }))
    .then((reply) => port.postMessage(reply));
});
