// `mamori audit verify` and `mamori audit show`: read the node's audit log from its
// database, read-only, while the node may be running (WAL lets a reader in beside the writer).
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { loadNodeConfig } from '../config/node-config';
import { AuditStore, type AuditRow } from '../store/audit-store';
import { databaseFile } from '../store/database';
import { isoDate, toJson } from './output';
import { wholeNumber } from './whole-number';

function openAudit(configFile: string): { db: Database.Database; store: AuditStore } {
  const config = loadNodeConfig(configFile);
  const file = databaseFile(config.dataDir);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").get();
  if (!table) {
    db.close();
    throw new Error(`${file} has no audit log yet: start the node once with this version`);
  }
  return { db, store: new AuditStore(db) };
}

function rowLine(r: AuditRow): string {
  return `#${r.id} ${isoDate(r.atMs)} ${r.actor} ${r.action} ${r.details}`;
}

export function addAuditCommands(program: Command): void {
  const audit = program.command('audit').description("the node's tamper-evident audit log");

  audit
    .command('verify')
    .description('re-compute the hash chain of the audit log; exit code 1 when it is broken')
    .requiredOption('--config <node.json>', "this member's node config")
    .option('--json', 'print JSON')
    .action((o: { config: string; json?: boolean }) => {
      const { db, store } = openAudit(o.config);
      try {
        const verdict = store.verify();
        const anchor = store.anchor();
        if (o.json) {
          console.log(toJson({ ...verdict, prunedThroughId: anchor?.lastId ?? 0 }));
        } else if (verdict.ok) {
          const pruned = anchor ? `; rows up to #${anchor.lastId} pruned ${isoDate(anchor.prunedAtMs)}` : '';
          console.log(`audit log ok: ${verdict.entries} entries, head ${verdict.headHash.toString('hex')}${pruned}`);
        } else {
          console.log(`audit log BROKEN at row #${verdict.firstBadId}: ${verdict.reason}`);
        }
        if (!verdict.ok) process.exitCode = 1;
      } finally {
        db.close();
      }
    });

  audit
    .command('show')
    .description('print the last entries of the audit log')
    .requiredOption('--config <node.json>', "this member's node config")
    .option('--last <n>', 'how many entries', wholeNumber('--last', { min: 1 }), 20)
    .option('--json', 'print JSON')
    .action((o: { config: string; last: number; json?: boolean }) => {
      const { db, store } = openAudit(o.config);
      try {
        const rows = store.last(o.last);
        if (o.json) {
          console.log(toJson(rows.map((r) => ({ ...r, details: JSON.parse(r.details) as unknown }))));
        } else {
          for (const r of rows) console.log(rowLine(r));
          if (rows.length === 0) console.log('the audit log is empty');
        }
      } finally {
        db.close();
      }
    });
}
