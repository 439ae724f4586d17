// A full scrub pass over a node's stored ledger, in this process on the stopped node's files:
// the entry walk (signatures, chains) in the scrub's worker, the derived-state check (every
// entry's rows derived again from its signed body and compared with the stored rows) and PRAGMA
// quick_check; and the derived-state check that every start runs. Part of the `restart` phase.
import pino from 'pino';
import { loadNodeConfig } from '../../node/src/config/node-config';
import { DamagedEntryStore } from '../../node/src/integrity/damaged-entries';
import { DerivedState } from '../../node/src/integrity/derived-state';
import { loadOrCreateNodeKey } from '../../node/src/integrity/node-key';
import { LedgerScrub } from '../../node/src/integrity/scrub';
import { quickDerivedCheck } from '../../node/src/integrity/verify-derived';
import type { MemberKeys } from '../../node/src/ledger/acceptance';
import { Consortium } from '../../node/src/membership/consortium';
import { databaseFile } from '../../node/src/store/database';
import { LedgerStore } from '../../node/src/store/ledger-store';

export interface ScrubFigures {
  startUpCheckSeconds: number;
  passSeconds: number;
  derivedCheckSeconds: number;
  entries: number;
  damaged: number;
}

export async function measureScrubPass(nodeConfigFile: string): Promise<ScrubFigures> {
  const config = loadNodeConfig(nodeConfigFile);
  const consortium = Consortium.load(config.consortiumFile, config.operatorPublicKey);
  const members = new Map<string, MemberKeys>();
  for (const m of consortium.document.members) {
    const keys = consortium.memberKeys(m.id) ?? consortium.formerMemberKeys(m.id);
    if (keys) members.set(m.id, keys);
  }
  const { key } = loadOrCreateNodeKey(config.dataDir);
  const file = databaseFile(config.dataDir);
  const store = LedgerStore.open(file, { derivedKey: key });
  const log = pino({ level: 'silent' });
  try {
    let t = process.hrtime.bigint();
    const quick = quickDerivedCheck(store.db, key);
    const startUpCheckSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    const derived = new DerivedState(store, key, (o) => members.get(o), log);
    const scrub = new LedgerScrub(
      { store, damage: new DamagedEntryStore(store.db), members: () => members, databaseFile: file, log, derived },
      { intervalMs: 0, entriesPerSlice: 500, sliceDelayMs: 0 },
    );
    t = process.hrtime.bigint();
    try {
      for (;;) if ((await scrub.slice()).passEnded) break;
    } finally {
      await scrub.close();
    }
    const passSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    return {
      startUpCheckSeconds,
      passSeconds,
      derivedCheckSeconds: derived.stats.lastFullCheckMs / 1000,
      entries: scrub.stats.entriesVerified,
      damaged: quick.damaged.length + derived.stats.damaged + scrub.stats.damaged,
    };
  } finally {
    store.close();
  }
}
