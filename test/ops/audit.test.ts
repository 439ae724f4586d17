// The audit log of a real node: publications, retractions, checks, card-testing reports,
// unfreezes and start/stop are recorded with counts only; the hash chain detects an altered
// or deleted row; pruning keeps it verifiable; `mamori audit verify` says so by exit code.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { sodiumReady } from '../../proto/ts/sodium';
import { panSelector } from '../../proto/ts/trust/domains';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { openDatabase } from '../../node/src/store/database';
import { AuditStore, type AuditRow } from '../../node/src/store/audit-store';
import { makeConsortium, memberOf, runCli, startInProcessNode, tempDir, type InProcessNode } from '../helpers/node-harness';
import { runMemberNode } from '../helpers/ops';
import { randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';
import { createNodeMetrics } from '../../node/src/metrics/node-metrics';
import { metricsSources } from '../../node/src/runtime/ports';
import { rotateHashingKey } from '../../node/src/cli/keys-rotate';
import { generateSigningKeyPair, signDetached } from '../../node/src/crypto/signing';
import { canonicalJson, consortiumSigningBytes } from '../../proto/ts/trust/domains';

const DAY_MS = 24 * 60 * 60_000;

/** As the operator's tools do: a polling node never reads half a file. */
function writeAtomically(file: string, text: string): void {
  fs.writeFileSync(`${file}.tmp`, text);
  fs.renameSync(`${file}.tmp`, file);
}

function rowsOf(dataDir: string): AuditRow[] {
  const db = new Database(path.join(dataDir, 'mamori.db'), { readonly: true });
  try {
    return new AuditStore(db).rowsAfter(0, 100_000);
  } finally {
    db.close();
  }
}

/** A second, writable connection: what someone with access to the database file could do. */
function tamper(dataDir: string, sql: string, ...params: unknown[]): void {
  const db = new Database(path.join(dataDir, 'mamori.db'));
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

describe('operations: audit log', function () {
  let layout: DevConsortiumLayout;
  let psp: InProcessNode;
  const listed = randomPans(6);
  const unlisted = randomPans(4);

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    psp = await startInProcessNode(layout, 'psp-c');
  });
  after(async () => {
    await psp?.stop();
  });

  it('records publications, retractions, checks, reports and unfreezes with counts, never a card, key or selector', async () => {
    const { client, parts } = psp;
    const first = await client.publishCompromisedCards(listed.slice(0, 4), { reason: 'phishing', exposed: ['pan'] });
    const second = await client.publishCompromisedCards(listed, { reason: 'phishing', exposed: ['pan'] }); // 4 duplicates
    const retracted = await client.retractCards([listed[0] as string], 'reissued');
    await client.checkCards([...listed.slice(1), ...unlisted]);
    await client.checkCard(listed[1] as string);
    await client.checkCard(unlisted[0] as string);
    await client.reportCardTesting({ bin: '454545', attempts: 120, declines: 110, bucketMinutes: 10 });
    await client.unfreeze('acquirer-b');
    parts.audit.flush();

    const rows = rowsOf(psp.dataDir);
    const byAction = (a: string) => rows.filter((r) => r.action === a).map((r) => JSON.parse(r.details) as Record<string, unknown>);
    const caller = rows.find((r) => r.action === 'publish')?.actor ?? '';
    expect(caller).to.equal('client:dev-client'); // the token's name (clientTokens in node.json)
    expect(rows.filter((r) => r.action !== 'check').every((r) => r.actor === caller)).to.equal(true);

    expect(byAction('publish')).to.deep.equal([
      { kind: 'INDICATOR_KIND_COMPROMISED_CARD', accepted: 4, duplicates: 0, seq: first.seq },
      { kind: 'INDICATOR_KIND_COMPROMISED_CARD', accepted: 2, duplicates: 4, seq: second.seq },
    ]);
    expect(byAction('retract')).to.have.length(1);
    expect(byAction('retract')[0]).to.include({ retracted: 1, notListed: 0, seq: retracted.seq });
    // Checks: one aggregate row per caller and flush, not one per call.
    const checks = byAction('check');
    expect(checks).to.have.length(1);
    expect(checks[0]).to.include({ selectors: listed.length - 1 + unlisted.length + 2, hits: listed.length - 1 + 1 });
    expect(checks[0]?.calls).to.be.at.least(3);
    expect(byAction('card-testing-report')[0]).to.include({ attempts: 120, declines: 110 });
    expect(byAction('unfreeze')).to.deep.equal([{ origin: 'acquirer-b', wasFrozen: false }]);

    // Nothing that identifies a card: no PAN, no selector or key in hex or base64, no full token digest.
    const text = rows.map((r) => `${r.actor} ${r.action} ${r.details}`).join('\n');
    const keys = await client.hashingKeys();
    const secrets: string[] = [...listed, ...unlisted, psp.token];
    for (const k of keys) {
      secrets.push(Buffer.from(k.key).toString('hex'), Buffer.from(k.key).toString('base64'));
      for (const pan of [...listed, ...unlisted]) {
        const sel = panSelector(k.key, pan);
        secrets.push(sel.toString('hex'), sel.toString('base64'), sel.toString('hex').slice(0, 16));
      }
    }
    for (const s of secrets) expect(text).to.not.contain(s);
    expect(text).to.not.match(/[0-9a-f]{16}/);
    expect(text.replace(/"sinceMs":\d+/g, '')).to.not.match(/\d{12}/); // no digit run as long as a PAN
  });

  it('verifies the chain, names the first altered or missing row, and `mamori audit verify` exits 1 then', async () => {
    for (let i = 0; i < 3; i++) await psp.client.publishCompromisedCards(randomPans(2), { reason: 'phishing', exposed: ['pan'] });
    psp.parts.audit.flush();
    expect(psp.parts.audit.store.verify()).to.include({ ok: true });
    const rows = rowsOf(psp.dataDir);
    expect(rows.length).to.be.at.least(6);
    const config = memberOf(layout, 'psp-c').nodeConfig;

    // The node is running: the CLI reads beside it.
    const good = await runCli(['audit', 'verify', '--config', config]);
    expect(good.code, good.stderr).to.equal(0);
    expect(good.stdout).to.match(new RegExp(`audit log ok: ${rows.length} entries`));

    const victim = rows.filter((r) => r.action === 'publish')[1] as AuditRow;
    expect(victim.id).to.be.below(rows.length);
    tamper(psp.dataDir, 'UPDATE audit_log SET details = ? WHERE id = ?', victim.details.replace(/"accepted":\d+/, '"accepted":0'), victim.id);
    expect(psp.parts.audit.store.verify()).to.deep.include({ ok: false, firstBadId: victim.id });
    const altered = await runCli(['audit', 'verify', '--config', config]);
    expect(altered.code).to.equal(1);
    expect(altered.stdout).to.contain(`BROKEN at row #${victim.id}`);
    tamper(psp.dataDir, 'UPDATE audit_log SET details = ? WHERE id = ?', victim.details, victim.id);
    expect(psp.parts.audit.store.verify()).to.include({ ok: true });

    const middle = rows[3] as AuditRow;
    tamper(psp.dataDir, 'DELETE FROM audit_log WHERE id = ?', middle.id);
    const verdict = psp.parts.audit.store.verify();
    expect(verdict).to.deep.include({ ok: false, firstBadId: middle.id });
    expect(verdict.ok ? '' : verdict.reason).to.contain('missing');
    expect((await runCli(['audit', 'verify', '--config', config])).code).to.equal(1);

    // Put it back exactly: the chain verifies again.
    tamper(
      psp.dataDir,
      'INSERT INTO audit_log (id, at_ms, actor, action, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
      middle.id, middle.atMs, middle.actor, middle.action, middle.details, middle.prevHash, middle.hash,
    );
    expect(psp.parts.audit.store.verify()).to.include({ ok: true });

    const shown = await runCli(['audit', 'show', '--config', config, '--last', '2', '--json']);
    expect(shown.code, shown.stderr).to.equal(0);
    const parsed = JSON.parse(shown.stdout) as { id: number; action: string }[];
    expect(parsed.map((r) => r.id)).to.deep.equal(rows.slice(-2).map((r) => r.id));
  });

  it('pruning keeps the chain verifiable from the signed anchor, and an altered anchor link is caught', () => {
    const db = openDatabase(path.join(tempDir(), 'audit.db'));
    try {
      const keys = generateSigningKeyPair();
      const signer = { member: 'psp-c', publicKey: keys.publicKey, secretKey: keys.secretKey, retentionDays: 30 };
      const store = new AuditStore(db, signer);
      const now = Date.now();
      expect(store.signUnsignedAnchor(true, now - 50 * DAY_MS)).to.include({ signed: true, lastId: 0 });
      for (let i = 0; i < 5; i++) store.append('node', 'old', { n: i }, now - 40 * DAY_MS + i);
      for (let i = 0; i < 3; i++) store.append('node', 'recent', { n: i }, now - DAY_MS + i);
      expect(store.prune(now)).to.equal(5);
      expect(store.anchor()?.lastId).to.equal(5);
      expect(store.verify()).to.include({ ok: true, entries: 3 });
      store.append('node', 'after-prune', {});
      expect(store.verify()).to.include({ ok: true, entries: 4 });
      expect(store.prune(now)).to.equal(0);
      // Reopened (head read back from the table), appends still chain.
      const reopened = new AuditStore(db, signer);
      reopened.append('node', 'reopened', {});
      expect(reopened.verify()).to.include({ ok: true, entries: 5 });
      expect(reopened.quickVerify()).to.include({ ok: true, entries: 5 });
      // Everything pruned, a month on: the next row links to the anchor.
      const later = now + 31 * DAY_MS;
      expect(reopened.prune(later)).to.equal(5);
      expect(reopened.verify(undefined, later)).to.include({ ok: true, entries: 0 });
      reopened.append('node', 'fresh', {}, later);
      expect(reopened.verify(undefined, later)).to.include({ ok: true, entries: 1 });
      db.prepare('UPDATE audit_anchor SET hash = ?').run(Buffer.alloc(32, 7));
      const altered = reopened.verify(undefined, later);
      expect(altered).to.deep.include({ ok: false, firstBadId: 10 });
      expect(altered.ok ? '' : altered.reason).to.contain('signature does not verify');
    } finally {
      db.close();
    }
  });

  it('refuses a forged anchor dated 400 days ago with the rows before it deleted: `mamori audit verify` fails, and a node started on it says so in its log, status and metrics', async () => {
    const fresh = await makeConsortium();
    const member = 'issuer-a';
    const dataDir = path.join(path.dirname(memberOf(fresh, member).nodeConfig), 'data');
    const first = await runMemberNode(fresh, member);
    for (let i = 0; i < 5; i++) first.parts.audit.record('node', 'test.event', { n: i });
    await first.stop();
    const rows = rowsOf(dataDir);
    expect(rows.length).to.be.at.least(7);
    const cut = rows[4] as AuditRow; // minutes old
    const config = memberOf(fresh, member).nodeConfig;
    expect((await runCli(['audit', 'verify', '--config', config])).code).to.equal(0);

    // The forgery of the review: the anchor moved to row 5, dated 400 days ago, rows 1-5 deleted.
    // First keeping the old signature, then with none: both refused.
    const forged = Date.now() - 400 * DAY_MS;
    tamper(dataDir, 'UPDATE audit_anchor SET last_id = ?, hash = ?, pruned_at_ms = ?, last_at_ms = ?', cut.id, cut.hash, forged, forged - 365 * DAY_MS);
    tamper(dataDir, 'DELETE FROM audit_log WHERE id <= ?', cut.id);
    const kept = await runCli(['audit', 'verify', '--config', config]);
    expect(kept.code).to.equal(1);
    expect(kept.stdout).to.contain('BROKEN').and.to.contain('anchor');
    tamper(dataDir, 'UPDATE audit_anchor SET signature = NULL');
    const unsigned = await runCli(['audit', 'verify', '--config', config, '--json']);
    expect(unsigned.code).to.equal(1);
    expect((JSON.parse(unsigned.stdout) as { ok: boolean; reason: string }).reason).to.contain('not signed');

    // A node started on it: the start check finds it, logs it, status and metrics show it.
    const second = await startInProcessNode(fresh, member);
    try {
      expect(second.logLines.some((l) => l.includes('the audit log is BROKEN'))).to.equal(true);
      const status = await second.client.status();
      expect(status.auditChain?.state).to.equal('broken');
      expect(status.auditChain?.reason).to.contain('anchor');
      const metrics = createNodeMetrics(metricsSources(second.parts));
      try {
        expect(await metrics.scrape()).to.match(/mamori_audit_chain_ok\{member="issuer-a"\} 0/);
      } finally {
        metrics.close();
      }
      // Not "repaired" by a prune that would sign over it.
      second.parts.audit.startRetention(365);
      expect(second.parts.audit.store.anchor()?.signature).to.equal(null);
    } finally {
      await second.stop();
    }
    expect(rowsOf(dataDir).some((r) => r.action === 'audit.broken')).to.equal(true);
  });

  it('shows a verified chain in status: verifying at start, ok once the background pass ends', async () => {
    const status = await waitFor(async () => {
      const s = await psp.client.status();
      return s.auditChain?.state === 'ok' ? s : undefined;
    }, 'the background verification');
    expect(status.auditChain?.verifiedAtMs).to.be.greaterThan(0);
    expect(status.auditChain?.firstBadId).to.equal(0);
    expect(status.authFailures).to.be.an('object');
  });

  it('`mamori start` records start and stop, and prunes at start by the configured retention', async () => {
    const member = 'acquirer-b';
    const dataDir = path.join(path.dirname(memberOf(layout, member).nodeConfig), 'data');
    const first = await runMemberNode(layout, member, { audit: { retentionDays: 30 } });
    // An old row, as if written 40 days ago (appended through the node's own store, so the chain holds).
    first.parts.audit.flush();
    first.parts.audit.store.append('node', 'old-event', {}, Date.now() - 40 * DAY_MS);
    await first.stop();
    const second = await runMemberNode(layout, member, { audit: { retentionDays: 30 } });
    await second.stop();

    const actions = rowsOf(dataDir).map((r) => r.action);
    expect(actions).to.not.include('old-event');
    expect(actions).to.include.members(['node.start', 'node.stop', 'audit.pruned']);
    expect(actions[actions.length - 1]).to.equal('node.stop');
    const verified = await runCli(['audit', 'verify', '--config', memberOf(layout, member).nodeConfig]);
    expect(verified.code, verified.stderr).to.equal(0);
    expect(fs.existsSync(path.join(dataDir, 'mamori.db'))).to.equal(true);
  });

  it('records every consortium change: a rotation, its ack, a member removal, a refused file; start and stop with the config digest', async () => {
    const member = 'issuer-a';
    const dataDir = path.join(path.dirname(memberOf(layout, member).nodeConfig), 'data');
    const consortium = path.join(layout.dir, 'consortium.json');
    const operatorKey = path.join(layout.dir, 'operator', 'operator.key.json');
    const running = await runMemberNode(layout, member, { consortiumPollMs: 100 });
    const actions = () => {
      running.parts.audit.flush();
      return rowsOf(dataDir).map((r) => ({ action: r.action, details: JSON.parse(r.details) as Record<string, unknown> }));
    };
    try {
      // A rotation: the reload names the new epoch and the one that retires; the node acks once.
      const rotated = await rotateHashingKey({ consortiumFile: consortium, operatorKeyFile: operatorKey, overlapDays: 30 });
      await waitFor(() => actions().some((r) => r.action === 'keys.epoch-ack'), 'the ack in the audit log');
      const reload = actions().find((r) => r.action === 'consortium.reload');
      expect(reload?.details).to.deep.include({
        version: rotated.version,
        previousVersion: rotated.version - 1,
        membersAdded: [],
        membersRemoved: [],
        epochsOpened: [2],
        epochsRetiring: [{ epoch: 1, retiresAtMs: rotated.previousEpoch.retiresAtMs }],
      });
      expect(actions().filter((r) => r.action === 'keys.epoch-ack').map((r) => r.details)).to.deep.equal([{ epoch: 2, seq: running.node.ownHead().seq }]);

      // A member removal, signed by the operator.
      const signed = JSON.parse(fs.readFileSync(consortium, 'utf8')) as { document: { version: number; members: { id: string; removedAtMs?: number }[] }; signature: string };
      signed.document.version += 1;
      (signed.document.members.find((m) => m.id === 'psp-c') as { removedAtMs?: number }).removedAtMs = Date.now();
      const operator = JSON.parse(fs.readFileSync(operatorKey, 'utf8')) as { secretKey: string };
      signed.signature = signDetached(consortiumSigningBytes(canonicalJson(signed.document)), Buffer.from(operator.secretKey, 'base64')).toString('base64');
      writeAtomically(consortium, JSON.stringify(signed, null, 2));
      await waitFor(() => actions().some((r) => r.action === 'consortium.reload' && r.details.version === signed.document.version), 'the removal in the audit log');
      const removal = actions().find((r) => r.action === 'consortium.reload' && r.details.version === signed.document.version);
      expect(removal?.details).to.deep.include({ membersRemoved: ['psp-c'], membersAdded: [], epochsOpened: [], epochsRetiring: [], members: ['acquirer-b', 'issuer-a'] });

      // A newer file the operator did not sign is refused, with the reason.
      signed.document.version += 1;
      writeAtomically(consortium, JSON.stringify(signed, null, 2));
      await waitFor(() => actions().some((r) => r.action === 'consortium.refused'), 'the refusal in the audit log');
      const refused = actions().find((r) => r.action === 'consortium.refused');
      expect(refused?.details.versionInForce).to.equal(signed.document.version - 1);
      expect(String(refused?.details.reason)).to.contain('signature: does not verify with the operator key');
    } finally {
      await running.stop();
    }

    const rows = rowsOf(dataDir);
    const digests = rows.filter((r) => r.action === 'node.start' || r.action === 'node.stop').map((r) => (JSON.parse(r.details) as { configDigest?: string }).configDigest);
    expect(digests).to.have.length(2);
    expect(digests[0]).to.match(/^[0-9a-f]{64}$/);
    expect(digests[1]).to.equal(digests[0]);
    // Ids and numbers only: no key, sealed key or selector in any of these rows.
    const keys = JSON.parse(fs.readFileSync(consortium, 'utf8')) as { document: { keyEpochs: { sealed: Record<string, string> }[] } };
    const text = rows.map((r) => r.details).join('\n');
    for (const e of keys.document.keyEpochs) for (const sealed of Object.values(e.sealed)) expect(text).to.not.contain(sealed.slice(0, 24));
    const verified = await runCli(['audit', 'verify', '--config', memberOf(layout, member).nodeConfig]);
    expect(verified.code, verified.stderr).to.equal(0);
    expect(verified.stdout).to.contain(`audit log ok: ${rows.length} entries`);
  });
});
