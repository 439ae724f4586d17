// The signed audit anchor (store/audit-store.ts): what `mamori audit verify` and the start check
// refuse. An anchor signed by another key, one that pruned rows younger than the retention, one
// dated before any Mamori audit log existed; a broken chain is never pruned (and so never
// re-signed); an unsigned anchor is signed only by the start that added signatures.
import { expect } from 'chai';
import * as path from 'node:path';
import { sodiumReady } from '../../proto/ts/sodium';
import { generateSigningKeyPair, signDetached } from '../../node/src/crypto/signing';
import { auditAnchorSigningBytes } from '../../proto/ts/trust/domains';
import { openDatabase } from '../../node/src/store/database';
import { anchorProblem, AuditStore, OLDEST_PLAUSIBLE_AUDIT_MS, type AuditSigner } from '../../node/src/store/audit-store';
import { tempDir } from '../helpers/node-harness';

const DAY_MS = 24 * 60 * 60_000;

describe('unit: the signed audit anchor', () => {
  let signer: AuditSigner;
  before(async () => {
    await sodiumReady();
    const keys = generateSigningKeyPair();
    signer = { member: 'psp-c', publicKey: keys.publicKey, secretKey: keys.secretKey, retentionDays: 30 };
  });

  function openStore(s: AuditSigner = signer) {
    const db = openDatabase(path.join(tempDir(), 'mamori.db'));
    return { db, store: new AuditStore(db, s) };
  }

  /** Writes an anchor as someone holding the member key would (signed), with the given fields. */
  function writeSignedAnchor(db: ReturnType<typeof openDatabase>, fields: { lastId: number; hash: Buffer; lastAtMs: number; prunedAtMs: number; retentionDays: number; createdAtMs: number }, secretKey = signer.secretKey) {
    const all = { member: signer.member, ...fields };
    const signature = signDetached(auditAnchorSigningBytes(all), secretKey);
    db.prepare('UPDATE audit_anchor SET last_id = ?, hash = ?, last_at_ms = ?, pruned_at_ms = ?, retention_days = ?, created_at_ms = ?, member = ?, signature = ?').run(
      all.lastId, all.hash, all.lastAtMs, all.prunedAtMs, all.retentionDays, all.createdAtMs, all.member, signature,
    );
  }

  it('signs the anchor of a new log once, and verifies it with the member key only', () => {
    const { db, store } = openStore();
    try {
      expect(store.anchor()?.signature).to.equal(null);
      expect(store.signUnsignedAnchor(true)).to.include({ signed: true, lastId: 0 });
      expect(store.signUnsignedAnchor(true)).to.deep.equal({ signed: false });
      store.append('node', 'x', {});
      expect(store.verify()).to.include({ ok: true, entries: 1 });
      const other = generateSigningKeyPair();
      const verdict = store.verify({ member: 'psp-c', publicKey: other.publicKey, retentionDays: 30 });
      expect(verdict.ok ? '' : verdict.reason).to.contain('signature does not verify');
      expect(store.verify({ member: 'issuer-a', publicKey: signer.publicKey, retentionDays: 30 })).to.include({ ok: false });
    } finally {
      db.close();
    }
  });

  it('leaves an unsigned anchor unsigned when this start did not add signatures: it is reported, not adopted', () => {
    const { db, store } = openStore();
    try {
      expect(store.signUnsignedAnchor(false)).to.deep.equal({ signed: false });
      const verdict = store.quickVerify();
      expect(verdict.ok ? '' : verdict.reason).to.contain('not signed');
    } finally {
      db.close();
    }
  });

  it('refuses an anchor (even signed) that pruned rows younger than the retention while older rows are missing', () => {
    const { db, store } = openStore();
    try {
      store.signUnsignedAnchor(true);
      const now = Date.now();
      for (let i = 0; i < 6; i++) store.append('node', 'recent', { n: i }, now - 60_000 + i);
      const cut = store.rowsAfter(0)[2];
      writeSignedAnchor(db, { lastId: cut!.id, hash: cut!.hash, lastAtMs: cut!.atMs, prunedAtMs: now, retentionDays: 30, createdAtMs: now - DAY_MS });
      db.prepare('DELETE FROM audit_log WHERE id <= ?').run(cut!.id);
      for (const verdict of [store.verify(), store.quickVerify()]) {
        expect(verdict.ok).to.equal(false);
        expect(verdict.ok ? '' : verdict.reason).to.contain('younger than the retention');
      }
      // Signed under a shorter retention than the config now says: refused unless verify is told that retention.
      writeSignedAnchor(db, { lastId: cut!.id, hash: cut!.hash, lastAtMs: now - 2 * DAY_MS, prunedAtMs: now, retentionDays: 1, createdAtMs: now - 3 * DAY_MS });
      expect(store.verify().ok).to.equal(false);
      expect(store.verify({ ...signer, retentionDays: 1 })).to.include({ ok: true, entries: 3 });
    } finally {
      db.close();
    }
  });

  it('refuses an anchor dated before the oldest plausible time, or in the future', () => {
    const now = Date.now();
    const base = { lastId: 3, hash: Buffer.alloc(32, 1), retentionDays: 30 };
    const anchorOf = (f: { lastAtMs: number; prunedAtMs: number; createdAtMs: number }) => {
      const all = { member: signer.member, ...base, ...f };
      return { ...all, signature: signDetached(auditAnchorSigningBytes(all), signer.secretKey) };
    };
    const early = OLDEST_PLAUSIBLE_AUDIT_MS - 400 * DAY_MS;
    expect(anchorProblem(anchorOf({ lastAtMs: early, prunedAtMs: early + 31 * DAY_MS, createdAtMs: early }), signer, now)).to.contain('before any Mamori audit log existed');
    expect(anchorProblem(anchorOf({ lastAtMs: now - 40 * DAY_MS, prunedAtMs: now + DAY_MS, createdAtMs: now - 50 * DAY_MS }), signer, now)).to.contain('in the future');
    expect(anchorProblem(anchorOf({ lastAtMs: now - 40 * DAY_MS, prunedAtMs: now, createdAtMs: now - 50 * DAY_MS }), signer, now)).to.equal(undefined);
  });

  it('never prunes (and so never re-signs) over a broken chain', () => {
    const { db, store } = openStore();
    try {
      store.signUnsignedAnchor(true, Date.now() - 50 * DAY_MS);
      const now = Date.now();
      for (let i = 0; i < 4; i++) store.append('node', 'old', { n: i }, now - 40 * DAY_MS + i);
      store.append('node', 'recent', {}, now);
      db.prepare("UPDATE audit_log SET details = '{\"n\":9}' WHERE id = 2").run();
      const before = store.anchor();
      expect(() => store.prune(now)).to.throw(/not pruned: broken at row #2/);
      expect(store.anchor()).to.deep.equal(before);
      expect(store.count()).to.equal(5);
    } finally {
      db.close();
    }
  });
});
