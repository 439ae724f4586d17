// `mamori audit verify` and `mamori audit show`: read the node's audit log from its
// database, read-only, while the node may be running (WAL lets a reader in beside the writer).
// verify checks the anchor with this member's signing public key from the consortium file
// (signed by the operator) — on a read replica, with its audit key endorsed by that key — and
// its dates against the configured retention.
import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { sodiumReady } from '../../../proto/ts/sodium';
import { loadNodeConfig } from '../config/node-config';
import { Consortium, loadMemberIdentity } from '../membership/consortium';
import { auditPublicKeyOf } from '../membership/audit-key';
import { AuditStore, type AuditRow, type AuditTrust } from '../store/audit-store';
import { databaseFile } from '../store/database';
import { isoDate, toJson } from './output';
import { wholeNumber } from './whole-number';

/**
 * This member's signing public key as the operator-signed consortium file names it (or, when
 * that file does not load, as the member key file holds it), and the configured retention.
 */
function trustOf(configFile: string, retentionDays?: number): AuditTrust {
  const config = loadNodeConfig(configFile);
  const identity = loadMemberIdentity(config.memberKeyFile);
  let signingPublicKey: Buffer;
  try {
    const consortium = Consortium.load(config.consortiumFile, config.operatorPublicKey);
    const self = consortium.document.members.find((m) => m.id === config.member);
    if (!self) throw new Error(`${config.consortiumFile} has no member "${config.member}"`);
    signingPublicKey = Buffer.from(self.signingPublicKey, 'base64');
  } catch (error) {
    console.error(`note: ${error instanceof Error ? error.message : String(error)}; the anchor is checked with the key in ${config.memberKeyFile}`);
    signingPublicKey = identity.signing.publicKey;
  }
  // A replica's anchors: its audit key, once its endorsement verifies with the member's signing key.
  const publicKey = auditPublicKeyOf(identity, signingPublicKey, config.memberKeyFile);
  return { member: config.member, publicKey, retentionDays: retentionDays ?? config.audit.retentionDays };
}

function openAudit(configFile: string, trust?: AuditTrust): { db: Database.Database; store: AuditStore } {
  const config = loadNodeConfig(configFile);
  const file = databaseFile(config.dataDir);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").get();
  if (!table) {
    db.close();
    throw new Error(`${file} has no audit log yet: start the node once with this version`);
  }
  const signed = (db.prepare('PRAGMA table_info(audit_anchor)').all() as { name: string }[]).some((c) => c.name === 'signature');
  if (!signed) {
    db.close();
    throw new Error(`${file} has an audit log without a signed anchor: start the node once with this version`);
  }
  return { db, store: new AuditStore(db, trust) };
}

function rowLine(r: AuditRow): string {
  return `#${r.id} ${isoDate(r.atMs)} ${r.actor} ${r.action} ${r.details}`;
}

export function addAuditCommands(program: Command): void {
  const audit = program.command('audit').description("the node's tamper-evident audit log");

  audit
    .command('verify')
    .description("check the signed anchor and re-compute the hash chain of the audit log; exit code 1 when it is broken")
    .requiredOption('--config <node.json>', "this member's node config")
    .option('--retention-days <days>', 'the retention the anchor must respect (default: audit.retentionDays of the node config; give the lower value after lowering it on purpose)', wholeNumber('--retention-days', { min: 1, max: 36_500 }))
    .option('--json', 'print JSON')
    .action(async (o: { config: string; retentionDays?: number; json?: boolean }) => {
      await sodiumReady();
      const { db, store } = openAudit(o.config, trustOf(o.config, o.retentionDays));
      try {
        const verdict = store.verify();
        const anchor = store.anchor();
        if (o.json) {
          console.log(toJson({ ...verdict, prunedThroughId: anchor?.lastId ?? 0 }));
        } else if (verdict.ok) {
          const pruned = anchor && anchor.lastId > 0 ? `; rows up to #${anchor.lastId} pruned ${isoDate(anchor.prunedAtMs)} (signed anchor)` : '; signed anchor';
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
