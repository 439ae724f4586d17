// Hashing-key rotation (the cryptoperiod procedure, docs/design.md#key-rotation) with real node processes:
// `mamori keys rotate` issues epoch 2 to every member while they run; during the overlap a
// check hashes under both epochs, so cards listed under epoch 1 are still found; once epoch 1
// retires, what was not republished under epoch 2 is no longer found (the expected end of
// the cryptoperiod). Also: the operator command refuses a tampered file and a wrong key.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sodiumReady } from '../../proto/ts/sodium';
import { MamoriClient } from '../../client-sdk/src/client';
import { canonicalJson, consortiumSigningBytes } from '../../proto/ts/trust/domains';
import { generateSigningKeyPair, signDetached } from '../../node/src/crypto/signing';
import { Consortium } from '../../node/src/membership/consortium';
import { listEpochs, retireHashingKey, rotateHashingKey } from '../../node/src/cli/keys-rotate';
import { startConsortium, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { makeConsortium, memberOf, runCli } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

const MEMBERS = ['issuer-a', 'acquirer-b', 'psp-c'];
const DAY_MS = 24 * 60 * 60 * 1000;

function files(dir: string) {
  return { consortium: path.join(dir, 'consortium.json'), operatorKey: path.join(dir, 'operator', 'operator.key.json') };
}

function operatorPublicKey(dir: string): string {
  return (JSON.parse(fs.readFileSync(files(dir).operatorKey, 'utf8')) as { publicKey: string }).publicKey;
}

/** The error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a refusal');
}

async function listedAt(client: MamoriClient, pan: string): Promise<boolean> {
  return (await client.checkCard(pan)).listed;
}

describe('consortium: hashing-key rotation (cryptoperiod)', function () {
  this.timeout(180_000);
  let c: ConsortiumProcesses | undefined;

  before(async () => {
    await sodiumReady();
  });
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  it('rotates while nodes run: both epochs found during the overlap, only republished cards after retirement', async () => {
    c = await startConsortium();
    const { consortium, operatorKey } = files(c.layout.dir);
    const [oldKept, oldDropped] = randomPans(2) as [string, string];
    const [fresh] = randomPans(1) as [string];

    // Epoch 1: psp-c lists two cards; the others find them.
    expect((await c.client('psp-c').status()).keyEpoch).to.equal(1);
    await c.client('psp-c').publishCompromisedCards([oldKept, oldDropped], { reason: 'merchant-breach', exposed: ['pan'] });
    for (const m of ['issuer-a', 'acquirer-b']) {
      await waitFor(() => listedAt(c!.client(m), oldDropped), `${m} to list the epoch-1 card`);
    }

    // The operator rotates; every running node takes epoch 2 without a restart.
    const rotated = await runCli(['keys', 'rotate', '--consortium', consortium, '--operator-key', operatorKey, '--overlap-days', '30']);
    expect(rotated.stderr).to.equal('');
    expect(rotated.code).to.equal(0);
    expect(rotated.stdout).to.contain('new epoch 2');
    expect(rotated.stdout).to.match(/epoch 1 retires \d{4}-\d{2}-\d{2}T/);
    for (const m of MEMBERS) {
      await waitFor(async () => (await c!.client(m).status()).keyEpoch === 2, `${m} to report key epoch 2`);
    }
    const signed = JSON.parse(fs.readFileSync(consortium, 'utf8')) as { document: { version: number; keyEpochs: { epoch: number; retiresAtMs?: number; activeFromMs: number }[] } };
    expect(signed.document.version).to.equal(2);
    const [e1, e2] = signed.document.keyEpochs;
    expect(e1?.retiresAtMs).to.equal((e2?.activeFromMs ?? 0) + 30 * DAY_MS);

    // During the overlap: the SDK holds both keys and a check hashes under each.
    for (const m of MEMBERS) {
      const keys = await c.client(m).hashingKeys(true);
      expect(keys.map((k) => k.epoch)).to.deep.equal([2, 1]);
      // The command printed dates and epochs, never a key.
      for (const k of keys) {
        expect(rotated.stdout).not.to.contain(Buffer.from(k.key).toString('base64'));
        expect(rotated.stdout).not.to.contain(Buffer.from(k.key).toString('hex'));
      }
    }
    for (const m of ['issuer-a', 'acquirer-b']) {
      expect(await listedAt(c.client(m), oldKept), `${m}: epoch-1 card during the overlap`).to.equal(true);
      expect(await listedAt(c.client(m), oldDropped), `${m}: epoch-1 card during the overlap`).to.equal(true);
    }
    // A fresh client (keys fetched on first use) finds it too.
    const freshClient = MamoriClient.fromConfigFile(memberOf(c.layout, 'acquirer-b').clientConfig, { mode: 'remote' });
    try {
      expect(await listedAt(freshClient, oldKept)).to.equal(true);
    } finally {
      freshClient.close();
    }

    // New publications use the newest epoch; psp-c republishes one of its epoch-1 cards.
    await c.client('psp-c').publishCompromisedCards([fresh, oldKept], { reason: 'merchant-breach', exposed: ['pan'] });
    await waitFor(() => listedAt(c!.client('acquirer-b'), fresh), 'acquirer-b to list the epoch-2 card');
    await waitFor(() => listedAt(c!.client('issuer-a'), fresh), 'issuer-a to list the epoch-2 card');
    const pspFeed = (await c.client('psp-c').status()).feeds.find((f) => f.origin === 'psp-c')?.seq ?? 0;
    await waitFor(async () => ((await c!.client('acquirer-b').status()).feeds.find((f) => f.origin === 'psp-c')?.seq ?? 0) >= pspFeed, 'acquirer-b to hold the republication');

    // End of the cryptoperiod: epoch 1 retires (here: now, instead of in 30 days).
    // Every member has acknowledged epoch 2 (a KeyEpochAck in its feed), as psp-c's node reports.
    const pspClient = memberOf(c.layout, 'psp-c').clientConfig;
    await waitFor(async () => (await c!.client('psp-c').status()).keyEpochs.find((e) => e.epoch === 2)?.notAcknowledgedBy.length === 0, 'every member to acknowledge epoch 2');
    const retired = await runCli(['keys', 'retire', '--consortium', consortium, '--operator-key', operatorKey, '--epoch', '1', '--client-config', pspClient]);
    expect(retired.code, retired.stderr).to.equal(0);
    for (const m of MEMBERS) {
      await waitFor(async () => (await c!.client(m).hashingKeys(true)).map((k) => k.epoch).join(',') === '2', `${m} to drop epoch 1`);
    }
    for (const m of ['issuer-a', 'acquirer-b']) {
      expect(await listedAt(c.client(m), fresh), `${m}: epoch-2 card after retirement`).to.equal(true);
      expect(await listedAt(c.client(m), oldKept), `${m}: republished card after retirement`).to.equal(true);
      // Expected: a card listed only under the retired epoch is no longer found.
      expect(await listedAt(c.client(m), oldDropped), `${m}: epoch-1-only card after retirement`).to.equal(false);
    }
    // Publishing under the retired epoch is refused by the node.
    const refused = await failure(c.client('psp-c').publishPanDigests([Buffer.alloc(32, 7)], { reason: 'merchant-breach', exposed: ['pan'] }, 1));
    expect(refused.message).to.contain('epoch 1 is not active');

    const list = await runCli(['keys', 'list', '--consortium', consortium]);
    expect(list.code).to.equal(0);
    expect(list.stdout).to.match(/epoch 1 +retired/);
    expect(list.stdout).to.match(/epoch 2 +active/);
  });

  describe('the operator command', () => {
    it('rotating with an activation further back than the overlap retires the previous epoch at once', async () => {
      const layout = await makeConsortium();
      const { consortium, operatorKey } = files(layout.dir);
      // Epoch 1 has been in force for 90 days (the dev file starts it a minute ago).
      const signed = JSON.parse(fs.readFileSync(consortium, 'utf8')) as { document: { keyEpochs: { activeFromMs: number }[] }; signature: string };
      (signed.document.keyEpochs[0] as { activeFromMs: number }).activeFromMs = Date.now() - 90 * DAY_MS;
      const operator = JSON.parse(fs.readFileSync(operatorKey, 'utf8')) as { secretKey: string };
      signed.signature = signDetached(consortiumSigningBytes(canonicalJson(signed.document)), Buffer.from(operator.secretKey, 'base64')).toString('base64');
      fs.writeFileSync(consortium, JSON.stringify(signed, null, 2));
      const activateAt = new Date(Date.now() - 2 * DAY_MS).toISOString();
      const r = await runCli(['keys', 'rotate', '--consortium', consortium, '--operator-key', operatorKey, '--overlap-days', '1', '--activate-at', activateAt]);
      expect(r.code, r.stderr).to.equal(0);
      const { epochs } = listEpochs(consortium);
      expect(epochs.map((e) => [e.epoch, e.state])).to.deep.equal([[1, 'retired'], [2, 'active']]);
      // The node's own loader accepts the new file, and every member can open epoch 2.
      const loaded = Consortium.load(consortium, operatorPublicKey(layout.dir));
      expect(loaded.document.version).to.equal(2);
      expect(Object.keys(loaded.document.keyEpochs[1]?.sealed ?? {}).sort()).to.deep.equal([...MEMBERS].sort());
    });

    it('an upcoming activation keeps epoch 1 the newest active until then', async () => {
      const layout = await makeConsortium();
      const { consortium, operatorKey } = files(layout.dir);
      const at = Date.now() + 7 * DAY_MS;
      const r = await rotateHashingKey({ consortiumFile: consortium, operatorKeyFile: operatorKey, overlapDays: 30, activateAtMs: at });
      expect(r.newEpoch.state).to.equal('upcoming');
      expect(r.previousEpoch.retiresAtMs).to.equal(at + 30 * DAY_MS);
      // Another rotation before epoch 2 is active is refused.
      expect((await failure(rotateHashingKey({ consortiumFile: consortium, operatorKeyFile: operatorKey }))).message).to.contain('epoch 2 is not active yet');
      // Retiring epoch 1 now would leave no active epoch.
      expect((await failure(retireHashingKey({ consortiumFile: consortium, operatorKeyFile: operatorKey, epoch: 1 }))).message).to.contain('no newer epoch is active');
    });

    it('refuses an overlap under 1 day or over 365 days, and leaves the file unchanged', async () => {
      const layout = await makeConsortium();
      const { consortium, operatorKey } = files(layout.dir);
      const before = fs.readFileSync(consortium, 'utf8');
      for (const days of ['0.5', '366']) {
        const r = await runCli(['keys', 'rotate', '--consortium', consortium, '--operator-key', operatorKey, '--overlap-days', days]);
        expect(r.code).to.not.equal(0);
        expect(r.stderr).to.contain('--overlap-days');
        expect(r.stderr).to.contain('from 1 to 365');
      }
      expect(fs.readFileSync(consortium, 'utf8')).to.equal(before);
    });

    it('refuses a tampered consortium file (signature fails)', async () => {
      const layout = await makeConsortium();
      const { consortium, operatorKey } = files(layout.dir);
      const signed = JSON.parse(fs.readFileSync(consortium, 'utf8')) as { document: { members: { endpoint: string }[] } };
      (signed.document.members[0] as { endpoint: string }).endpoint = '127.0.0.1:1';
      fs.writeFileSync(consortium, JSON.stringify(signed, null, 2));
      const before = fs.readFileSync(consortium, 'utf8');
      const r = await runCli(['keys', 'rotate', '--consortium', consortium, '--operator-key', operatorKey]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain(consortium);
      expect(r.stderr).to.contain('signature: does not verify with the operator key');
      expect(fs.readFileSync(consortium, 'utf8')).to.equal(before);
    });

    it('refuses a wrong operator key, and a key file whose secret key does not match', async () => {
      const layout = await makeConsortium();
      const { consortium, operatorKey } = files(layout.dir);
      const before = fs.readFileSync(consortium, 'utf8');
      const other = generateSigningKeyPair();
      const wrongKey = path.join(layout.dir, 'operator', 'other.key.json');
      fs.writeFileSync(wrongKey, JSON.stringify({ operator: true, publicKey: Buffer.from(other.publicKey).toString('base64'), secretKey: Buffer.from(other.secretKey).toString('base64') }), { mode: 0o600 });
      let r = await runCli(['keys', 'rotate', '--consortium', consortium, '--operator-key', wrongKey]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain(wrongKey);
      expect(r.stderr).to.contain("is not this consortium's operator key");

      // The right public key with someone else's secret key.
      const real = JSON.parse(fs.readFileSync(operatorKey, 'utf8')) as { publicKey: string };
      const mixed = path.join(layout.dir, 'operator', 'mixed.key.json');
      fs.writeFileSync(mixed, JSON.stringify({ operator: true, publicKey: real.publicKey, secretKey: Buffer.from(other.secretKey).toString('base64') }), { mode: 0o600 });
      r = await runCli(['keys', 'rotate', '--consortium', consortium, '--operator-key', mixed]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.contain('secretKey: does not belong to publicKey');
      expect(fs.readFileSync(consortium, 'utf8')).to.equal(before);
      expect(fs.readdirSync(layout.dir).filter((f) => f.endsWith('.tmp'))).to.deep.equal([]);
    });
  });
});
