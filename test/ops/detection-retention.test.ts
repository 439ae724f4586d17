// `mamori start` prunes detection data past retention at start: an alert older than
// alerts.retentionDays and a card-testing report row older than 7 days go, recent ones and
// every ledger entry stay; one audit row and one log line carry the counts.
import { expect } from 'chai';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { MamoriClient } from '../../client-sdk/src/client';
import type { MamoriAlert } from '../../client-sdk/src/alerts';
import { sodiumReady } from '../../proto/ts/sodium';
import { AuditStore } from '../../node/src/store/audit-store';
import { makeConsortium, memberOf } from '../helpers/node-harness';
import { runMemberNode } from '../helpers/ops';
import { waitFor } from '../helpers/wait';

const DAY_MS = 24 * 60 * 60_000;

describe('ops: retention of detection data at start', function () {
  this.timeout(120_000);

  before(async () => {
    await sodiumReady();
  });

  it('prunes old alerts and card-testing rows at start, records the counts, and the alert stream serves the rest', async () => {
    const layout = await makeConsortium();
    const member = 'issuer-a';
    const dbFile = path.join(path.dirname(memberOf(layout, member).nodeConfig), 'data', 'mamori.db');
    const first = await runMemberNode(layout, member, { alerts: { retentionDays: 30 } });
    await first.stop();

    // Rows as detection would have left them, written while the node is down.
    const now = Date.now();
    const db = new Database(dbFile);
    const insertAlert = db.prepare("INSERT INTO alerts (member, kind, dedup_key, created_at_ms, payload) VALUES (?, 'card-testing', ?, ?, ?)");
    const old = Number(insertAlert.run(member, 'old', now - 40 * DAY_MS, JSON.stringify({ bin: '454545', reportingMembers: 2, merchants: 0, windowStartMs: 0, windowEndMs: 1 })).lastInsertRowid);
    const recent = Number(insertAlert.run(member, 'recent', now - DAY_MS, JSON.stringify({ bin: '454545', reportingMembers: 3, merchants: 0, windowStartMs: 0, windowEndMs: 1 })).lastInsertRowid);
    const insertReport = db.prepare("INSERT INTO card_testing_reports (entry_id, origin, bin, bucket_start_ms, bucket_minutes, attempts, declines, merchant) VALUES (?, 'psp-c', '454545', ?, 5, 50, 45, NULL)");
    insertReport.run(1_000_001, now - 10 * DAY_MS);
    insertReport.run(1_000_002, now - DAY_MS);
    const entries = db.prepare('SELECT COUNT(*) FROM entries').pluck(true).get() as number;
    db.close();

    const second = await runMemberNode(layout, member, { alerts: { retentionDays: 30 } });
    const client = MamoriClient.fromConfigFile(memberOf(layout, member).clientConfig, { mode: 'remote', deadlineMs: 10_000 });
    try {
      await waitFor(() => second.logLines.some((l) => l.includes('detection data pruned')), 'the prune log line', 30_000);
      const line = JSON.parse(second.logLines.find((l) => l.includes('detection data pruned')) as string) as Record<string, unknown>;
      expect(line).to.include({ alerts: 1, cardTestingReports: 1, alertRetentionDays: 30, cardTestingRetentionDays: 7 });

      // A subscriber resuming from before the pruned alert gets the remaining one, once.
      const replayed: MamoriAlert[] = [];
      for await (const a of client.alerts({ after: old - 1 })) replayed.push(a);
      expect(replayed.map((a) => a.id)).to.deep.equal([recent]);
    } finally {
      client.close();
      await second.stop();
    }

    const check = new Database(dbFile, { readonly: true });
    try {
      expect(check.prepare('SELECT bucket_start_ms FROM card_testing_reports').pluck(true).all()).to.deep.equal([now - DAY_MS]);
      expect(check.prepare('SELECT COUNT(*) FROM entries').pluck(true).get()).to.equal(entries);
      const pruned = new AuditStore(check).rowsAfter(0, 100_000).filter((r) => r.action === 'detection.pruned');
      expect(pruned).to.have.length(1);
      expect(JSON.parse(pruned[0]!.details)).to.include({ alerts: 1, cardTestingReports: 1, fraudReports: 0 });
    } finally {
      check.close();
    }
  });
});
