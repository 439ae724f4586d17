// The verification checkpoint over a real SQLite ledger file: usable when its MAC verifies and
// it matches the stored rows; each way it can stop matching named (never bytes).
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sodiumReady } from '../../proto/ts/sodium';
import { VerificationCheckpoints } from '../../node/src/integrity/verification-checkpoint';
import { verifyStoredLedger } from '../../node/src/integrity/verify-ledger';
import { signNextEntry } from '../../node/src/ledger/entry';
import { LedgerStore } from '../../node/src/store/ledger-store';
import { tempDir } from '../helpers/node-harness';
import { cardPublication, digest, makeMember, MemoryLedger, type TestMember } from '../helpers/unit';

describe('verification checkpoint', () => {
  const key = Buffer.alloc(32, 5);
  let dir: string;
  let store: LedgerStore;
  let checkpoints: VerificationCheckpoints;
  let psp: TestMember;
  let issuer: TestMember;
  let ledger: MemoryLedger;

  before(async () => {
    await sodiumReady();
  });

  beforeEach(() => {
    dir = tempDir('mamori-checkpoint-');
    store = LedgerStore.open(path.join(dir, 'mamori.db'));
    checkpoints = new VerificationCheckpoints(store.db, key);
    psp = makeMember('psp-c', ['psp']);
    issuer = makeMember('issuer-a', ['issuer']);
    ledger = new MemoryLedger([psp, issuer]);
    // Six entries alternating origins (rows 1..6: psp-c #1..3, issuer-a #1..3), verified and checkpointed at row 6.
    for (let i = 0; i < 6; i++) {
      const m = i % 2 === 0 ? psp : issuer;
      store.append(ledger.accept(signNextEntry(m.id, ledger.head(m.id), 1, { publishIndicators: cardPublication([digest()]) }, m.keys.secretKey)));
    }
    checkpoints.record(6, verifyStoredLedger(store, (o) => ledger.member(o)));
  });

  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const load = () => checkpoints.load((o) => ledger.member(o));
  const reason = () => {
    const found = load();
    return found.usable ? 'usable' : found.reason;
  };

  it('is usable as recorded, with the heads at its row', () => {
    const found = load();
    expect(found.usable).to.equal(true);
    if (!found.usable) return;
    expect(found.checkpoint.coveredRowId).to.equal(6);
    expect([...found.checkpoint.heads].map(([o, h]) => `${o}#${h.seq}`)).to.deep.equal(['issuer-a#3', 'psp-c#3']);
  });

  it('says when there is none, and when its MAC fails (another key, or a field edited)', () => {
    store.db.exec('DELETE FROM verification_checkpoint');
    expect(reason()).to.equal('no verification checkpoint yet');
    checkpoints.record(6, verifyStoredLedger(store, (o) => ledger.member(o)));
    expect(new VerificationCheckpoints(store.db, Buffer.alloc(32, 6)).load((o) => ledger.member(o)).usable).to.equal(false);
    store.db.exec('UPDATE verification_checkpoint SET covered_row_id = 5');
    expect(reason()).to.match(/fails its MAC/);
  });

  it('does not match a ledger truncated below it, or a head with another hash', () => {
    const row6 = store.db.prepare('SELECT * FROM entries WHERE id = 6').get() as Record<string, unknown>;
    store.db.exec('DELETE FROM entries WHERE id = 6');
    expect(reason()).to.match(/head issuer-a#3 is not stored at or below row 6/);
    store.db.prepare('INSERT INTO entries (id, origin_id, seq, hash, operation, key_epoch, created_at_ms, received_at_ms, signature, body) VALUES (@id, @origin_id, @seq, @hash, @operation, @key_epoch, @created_at_ms, @received_at_ms, @signature, @body)').run(row6);
    expect(reason()).to.equal('usable');
    store.db.prepare('UPDATE entries SET hash = ? WHERE id = 5').run(Buffer.alloc(32, 1));
    expect(reason()).to.match(/head psp-c#3 has another stored hash/);
  });

  it('does not match when a head body no longer verifies', () => {
    const body = Buffer.from(store.db.prepare('SELECT body FROM entries WHERE id = 5').pluck().get() as Buffer);
    body[body.length - 3] = (body[body.length - 3] as number) ^ 1;
    store.db.prepare('UPDATE entries SET body = ? WHERE id = 5').run(body);
    expect(reason()).to.match(/head psp-c#3 does not verify/);
  });

  it('does not match when a row below it was deleted or one slipped in', () => {
    store.db.exec('DELETE FROM entries WHERE id = 3');
    expect(reason()).to.equal('5 entry rows at or below row 6 where the checkpoint heads give 6');
    // The row's place taken by the first entry of an origin the checkpoint never saw.
    store.db.exec("INSERT INTO origins (member) VALUES ('acquirer-b')");
    store.db.exec("INSERT INTO entries (id, origin_id, seq, hash, operation, key_epoch, created_at_ms, received_at_ms, signature, body) SELECT 3, (SELECT id FROM origins WHERE member = 'acquirer-b'), 1, hash, operation, key_epoch, created_at_ms, received_at_ms, signature, body FROM entries WHERE id = 1");
    expect(reason()).to.equal('entries of acquirer-b at or below row 6 have no checkpoint head');
  });
});
