// Key-epoch acknowledgement with three real node processes: after `mamori keys rotate`, each
// node publishes one KeyEpochAck for the new epoch and every node reports who acknowledged it;
// a node that was down acknowledges when it starts; a restart never acknowledges twice; and
// `mamori keys retire` refuses to retire the old epoch while a member has not acknowledged
// the new one, unless --force.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { sodiumReady } from '../../proto/ts/sodium';
import { AuditStore } from '../../node/src/store/audit-store';
import { startConsortium, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { memberOf, runCli } from '../helpers/node-harness';
import { waitFor } from '../helpers/wait';
import { randomPans } from '../helpers/cards';

const MEMBERS = ['acquirer-b', 'issuer-a', 'psp-c'];

function dbOf(c: ConsortiumProcesses, member: string): string {
  return path.join(c.layout.dir, member, 'data', 'mamori.db');
}

/** KeyEpochAck entries of an origin's feed stored in a member's database. */
function storedAcks(c: ConsortiumProcesses, member: string, origin: string): number {
  const db = new Database(dbOf(c, member), { readonly: true });
  try {
    return (
      db
        .prepare("SELECT COUNT(*) AS n FROM entries e JOIN origins o ON o.id = e.origin_id WHERE o.member = ? AND e.operation = 'keyEpochAck'")
        .get(origin) as { n: number }
    ).n;
  } finally {
    db.close();
  }
}

function auditActions(c: ConsortiumProcesses, member: string): { action: string; details: Record<string, unknown> }[] {
  const db = new Database(dbOf(c, member), { readonly: true });
  try {
    return new AuditStore(db).rowsAfter(0, 100_000).map((r) => ({ action: r.action, details: JSON.parse(r.details) as Record<string, unknown> }));
  } finally {
    db.close();
  }
}

async function epochAcks(c: ConsortiumProcesses, member: string, epoch: number) {
  return (await c.client(member).status()).keyEpochs.find((e) => e.epoch === epoch);
}

describe('consortium: key-epoch acknowledgement', function () {
  this.timeout(240_000);
  let c: ConsortiumProcesses | undefined;

  before(async () => {
    await sodiumReady();
  });
  after(async () => {
    await c?.stopAll();
  });

  it('every member acknowledges a rotated epoch once; retire refuses until all have, unless --force', async () => {
    c = await startConsortium();
    const consortium = path.join(c.layout.dir, 'consortium.json');
    const operatorKey = path.join(c.layout.dir, 'operator', 'operator.key.json');
    const issuerClient = memberOf(c.layout, 'issuer-a').clientConfig;

    // The founding epoch needs no ack: nobody's feed has an entry before anything is published.
    const before = await c.client('issuer-a').status();
    expect(before.keyEpochs.map((e) => [e.epoch, e.issuedWithConsortium])).to.deep.equal([[1, true]]);
    expect(before.ownFeed?.seq ?? 0).to.equal(0);

    // psp-c is down while the operator rotates.
    await c.kill('psp-c', 'SIGTERM');
    const rotated = await runCli(['keys', 'rotate', '--consortium', consortium, '--operator-key', operatorKey]);
    expect(rotated.code, rotated.stderr).to.equal(0);
    for (const m of ['issuer-a', 'acquirer-b']) {
      await waitFor(async () => (await epochAcks(c!, m, 2))?.acknowledgedBy.join(',') === 'acquirer-b,issuer-a', `${m} to hold the acks of issuer-a and acquirer-b`);
      expect((await epochAcks(c, m, 2))?.notAcknowledgedBy).to.deep.equal(['psp-c']);
    }

    // The operator asks issuer-a's node: psp-c has not acknowledged, so retiring epoch 1 is refused.
    const fileBefore = fs.readFileSync(consortium, 'utf8');
    const refused = await runCli(['keys', 'retire', '--consortium', consortium, '--operator-key', operatorKey, '--epoch', '1', '--client-config', issuerClient]);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.contain('refusing to retire epoch 1');
    expect(refused.stderr).to.contain('epoch 2 not acknowledged by psp-c');
    expect(refused.stderr).to.contain('--force');
    const unchecked = await runCli(['keys', 'retire', '--consortium', consortium, '--operator-key', operatorKey, '--epoch', '1']);
    expect(unchecked.code).to.equal(1);
    expect(unchecked.stderr).to.contain('--client-config');
    expect(fs.readFileSync(consortium, 'utf8')).to.equal(fileBefore);

    const listed = await runCli(['keys', 'list', '--consortium', consortium, '--client-config', issuerClient]);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(listed.stdout).to.match(/epoch 2 +active .*acknowledged by acquirer-b, issuer-a; NOT YET by psp-c/);
    expect(listed.stdout).to.match(/epoch 1 +active .*issued with the consortium/);
    const status = await runCli(['status', '--config', issuerClient]);
    expect(status.stdout).to.contain('key epoch 2 active: acknowledged by acquirer-b, issuer-a; not yet by psp-c');

    // psp-c starts with the new file already in place and acknowledges at start.
    await c.start('psp-c');
    for (const m of MEMBERS) {
      await waitFor(async () => (await epochAcks(c!, m, 2))?.acknowledgedBy.join(',') === MEMBERS.join(','), `${m} to hold the acks of all three members`);
      expect((await epochAcks(c, m, 2))?.notAcknowledgedBy).to.deep.equal([]);
    }

    // A restart does not acknowledge again: the next entry of psp-c's feed is its publication.
    const seqBefore = (await c.client('psp-c').status()).ownFeed?.seq ?? 0;
    expect(seqBefore).to.equal(1);
    await c.kill('psp-c', 'SIGTERM');
    await c.start('psp-c');
    await waitFor(async () => (await c!.client('psp-c').status()).keyEpochs.length === 2, 'psp-c to serve after the restart');
    const published = await c.client('psp-c').publishCompromisedCards(randomPans(1), { reason: 'phishing', exposed: ['pan'] });
    expect(published.seq).to.equal(seqBefore + 1);

    // With every ack in, retiring epoch 1 goes through.
    const retired = await runCli(['keys', 'retire', '--consortium', consortium, '--operator-key', operatorKey, '--epoch', '1', '--client-config', issuerClient]);
    expect(retired.code, retired.stderr).to.equal(0);
    for (const m of MEMBERS) await waitFor(async () => (await epochAcks(c!, m, 1))?.state === 'retired', `${m} to retire epoch 1`);

    await c.stopAll();
    for (const m of MEMBERS) {
      // One ack per member in every member's ledger.
      for (const origin of MEMBERS) expect(storedAcks(c, m, origin), `${origin}'s acks at ${m}`).to.equal(1);
      const rows = auditActions(c, m);
      expect(rows.filter((r) => r.action === 'keys.epoch-ack').map((r) => r.details.epoch)).to.deep.equal([2]);
      expect((await runCli(['audit', 'verify', '--config', memberOf(c.layout, m).nodeConfig])).code).to.equal(0);
    }
  });

  it('--force retires although a member has not acknowledged, with a warning', async () => {
    await c?.stopAll();
    c = await startConsortium({ only: ['issuer-a'] });
    const consortium = path.join(c.layout.dir, 'consortium.json');
    const operatorKey = path.join(c.layout.dir, 'operator', 'operator.key.json');
    const issuerClient = memberOf(c.layout, 'issuer-a').clientConfig;
    expect((await runCli(['keys', 'rotate', '--consortium', consortium, '--operator-key', operatorKey])).code).to.equal(0);
    await waitFor(async () => (await epochAcks(c!, 'issuer-a', 2))?.acknowledgedBy.includes('issuer-a') === true, 'issuer-a to acknowledge epoch 2');
    const forced = await runCli(['keys', 'retire', '--consortium', consortium, '--operator-key', operatorKey, '--epoch', '1', '--client-config', issuerClient, '--force']);
    expect(forced.code, forced.stderr).to.equal(0);
    expect(forced.stderr).to.contain('warning: epoch 2 not acknowledged by acquirer-b, psp-c');
    expect(forced.stdout).to.contain('Epoch 1 retirement set');
  });
});
