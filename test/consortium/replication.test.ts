// Three member nodes as real processes, replicating over mutual TLS.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import Database from 'better-sqlite3';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { canonicalJson, consortiumSigningBytes } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';
import { createConsortiumCa, issueMemberCertificate } from '../../node/src/crypto/certificates';
import { signDetached } from '../../node/src/crypto/signing';
import { generateHashingKey, sealHashingKey } from '../../node/src/crypto/epochs';
import { editNodeConfig, startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { memberOf } from '../helpers/node-harness';
import { randomPans } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

describe('consortium: replication between member processes', function () {
  this.timeout(180_000);
  let c: ConsortiumProcesses | undefined;

  before(async () => {
    await sodiumReady();
  });
  afterEach(async () => {
    await c?.stopAll();
    c = undefined;
  });

  it('a card published at one member is listed at the two others, with its origin', async () => {
    c = await startConsortium();
    const pans = randomPans(3);
    const started = Date.now();
    const r = await c.client('psp-c').publishCompromisedCards(pans, { reason: 'merchant-breach', exposed: ['pan', 'cvv'] });
    for (const member of ['acquirer-b', 'issuer-a']) {
      const verdict = await waitFor(async () => {
        const v = await c!.client(member).checkCard(pans[1] as string);
        return v.listed ? v : undefined;
      }, `${member} to list the card`);
      expect(verdict.evidence[0]?.origin).to.equal('psp-c');
      expect(verdict.evidence[0]?.exposed).to.deep.equal(['DATA_ELEMENT_PAN', 'DATA_ELEMENT_CVV']);
    }
    expect(Date.now() - started).to.be.lessThan(30_000);
    const status = await c.client('issuer-a').status();
    expect(status.feeds.find((f) => f.origin === 'psp-c')?.seq).to.equal(r.seq);
    // Nodes started together reach each other after at most a few reconnect attempts.
    await waitFor(async () => (await c!.client('issuer-a').status()).peers.every((p) => p.connected), 'issuer-a connected to both peers');
    expect((await c.client('issuer-a').status()).peers.map((p) => p.peer).sort()).to.deep.equal(['acquirer-b', 'psp-c']);
  });

  it('a member killed during a large import converges after restart: nothing lost, nothing duplicated', async () => {
    c = await startConsortium();
    const all = randomPans(40 * 2000);
    let published = 0;
    let killed = false;
    const acknowledged: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await c.client('psp-c').publishCompromisedCards(all.slice(i * 2000, (i + 1) * 2000), { reason: 'phishing' });
      acknowledged.push(r.seq);
      published += r.accepted;
      if (i === 10) {
        await c.kill('acquirer-b');
        killed = true;
      }
    }
    expect(killed).to.equal(true);
    const head = (await c.client('psp-c').status()).ownFeed?.seq as number;
    await c.start('acquirer-b');
    await waitForFeed(c.client('acquirer-b'), 'psp-c', head);
    const b = await c.client('acquirer-b').status();
    const a = await c.client('psp-c').status();
    expect(b.indicators).to.equal(a.indicators);
    expect(published).to.equal(80_000);
    const sample = await c.client('acquirer-b').checkCards(all.filter((_, i) => i % 97 === 0));
    expect(sample.every((v) => v.listed && v.evidence[0]?.origin === 'psp-c')).to.equal(true);
    await c.kill('acquirer-b', 'SIGTERM');
    const db = new Database(path.join(c.layout.dir, 'acquirer-b', 'data', 'mamori.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).to.equal('ok');
      const rows = db.prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT digest) AS d FROM (SELECT digest FROM selectors UNION ALL SELECT digest FROM selectors_recent)').get() as { n: number; d: number };
      expect(rows).to.deep.equal({ n: 80_000, d: 80_000 });
    } finally {
      db.close();
    }
  });

  it('a member that cannot reach the origin converges through another member', async () => {
    c = await startConsortium({
      configure: (layout) => {
        editNodeConfig(layout, 'issuer-a', (cfg) => (cfg.peers = ['acquirer-b']));
        editNodeConfig(layout, 'psp-c', (cfg) => (cfg.peers = ['acquirer-b']));
      },
    });
    const pans = randomPans(500);
    const r = await c.client('psp-c').publishCompromisedCards(pans, { reason: 'skimming' });
    await waitForFeed(c.client('issuer-a'), 'psp-c', r.seq);
    expect((await c.client('issuer-a').checkCard(pans[42] as string)).evidence[0]?.origin).to.equal('psp-c');
    const status = await c.client('issuer-a').status();
    expect(status.peers.map((p) => p.peer)).to.deep.equal(['acquirer-b']);
    // And the other way: issuer-a's feed reaches psp-c through acquirer-b.
    const back = await c.client('issuer-a').publishCompromisedCards(randomPans(5), { reason: 'confirmed-fraud' });
    await waitForFeed(c.client('psp-c'), 'issuer-a', back.seq);
  });

  describe('who may connect', () => {
    const heads = (target: string, credentials: grpc.ChannelCredentials) =>
      new Promise<unknown>((resolve, reject) => {
        const client = new (loadGrpcTypes().mamori.v1.Replication)(target, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
        client.Heads({}, { deadline: Date.now() + 10_000 }, (error: grpc.ServiceError | null, value?: unknown) => {
          client.close();
          if (error) reject(error);
          else resolve(value);
        });
      });
    const expectRefused = async (promise: Promise<unknown>, code: grpc.status) => {
      try {
        await promise;
      } catch (error) {
        expect((error as grpc.ServiceError).code, (error as Error).message).to.equal(code);
        return;
      }
      expect.fail('the connection was accepted');
    };

    it('refuses a peer without a certificate, with a certificate from another CA, or no longer a member', async () => {
      c = await startConsortium({ only: ['acquirer-b'] });
      const dir = c.layout.dir;
      const target = memberOf(c.layout, 'acquirer-b').endpoint;
      const ca = fs.readFileSync(path.join(dir, 'ca', 'ca.cert.pem'));
      const pspCert = fs.readFileSync(path.join(dir, 'psp-c', 'tls', 'node.cert.pem'));
      const pspKey = fs.readFileSync(path.join(dir, 'psp-c', 'tls', 'node.key.pem'));

      // A member's certificate is accepted.
      const ok = (await heads(target, grpc.credentials.createSsl(ca, pspKey, pspCert))) as { heads: unknown[] };
      expect(ok.heads).to.be.an('array');
      // No client certificate.
      await expectRefused(heads(target, grpc.credentials.createSsl(ca)), grpc.status.UNAVAILABLE);
      // A certificate for the same member id from another CA.
      const otherCa = await createConsortiumCa('impostor');
      const forged = await issueMemberCertificate(otherCa, 'psp-c');
      await expectRefused(heads(target, grpc.credentials.createSsl(ca, Buffer.from(forged.keyPem), Buffer.from(forged.certPem))), grpc.status.UNAVAILABLE);

      // The operator removes psp-c: a new signed consortium file, picked up without a restart.
      const file = path.join(dir, 'consortium.json');
      const signed = JSON.parse(fs.readFileSync(file, 'utf8')) as { document: { version: number; members: { id: string; removedAtMs?: number }[] }; signature: string };
      signed.document.version += 1;
      (signed.document.members.find((m) => m.id === 'psp-c') as { removedAtMs?: number }).removedAtMs = Date.now();
      const operator = JSON.parse(fs.readFileSync(path.join(dir, 'operator', 'operator.key.json'), 'utf8')) as { secretKey: string };
      signed.signature = signDetached(consortiumSigningBytes(canonicalJson(signed.document)), Buffer.from(operator.secretKey, 'base64')).toString('base64');
      fs.writeFileSync(file, JSON.stringify(signed, null, 2));
      await waitFor(async () => {
        try {
          await heads(target, grpc.credentials.createSsl(ca, pspKey, pspCert));
          return false;
        } catch (error) {
          return (error as grpc.ServiceError).code === grpc.status.PERMISSION_DENIED;
        }
      }, 'the removed member to be refused');
      // Logs are written asynchronously: wait for the line rather than read at once.
      await waitFor(() => fs.readFileSync(path.join(dir, 'acquirer-b', 'node.log'), 'utf8').includes('consortium file reloaded'), 'the reload in the log');
    });

    it('takes a new hashing-key epoch from a newer consortium file without a restart', async () => {
      c = await startConsortium({ only: ['acquirer-b'] });
      const dir = c.layout.dir;
      const file = path.join(dir, 'consortium.json');
      const signed = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        document: { version: number; members: { id: string; boxPublicKey: string }[]; keyEpochs: { epoch: number; activeFromMs: number; sealed: Record<string, string> }[] };
        signature: string;
      };
      const key = generateHashingKey();
      signed.document.version += 1;
      signed.document.keyEpochs.push({
        epoch: 2,
        activeFromMs: Date.now() - 1000,
        sealed: Object.fromEntries(signed.document.members.map((m) => [m.id, sealHashingKey(key, Buffer.from(m.boxPublicKey, 'base64')).toString('base64')])),
      });
      const operator = JSON.parse(fs.readFileSync(path.join(dir, 'operator', 'operator.key.json'), 'utf8')) as { secretKey: string };
      signed.signature = signDetached(consortiumSigningBytes(canonicalJson(signed.document)), Buffer.from(operator.secretKey, 'base64')).toString('base64');
      fs.writeFileSync(file, JSON.stringify(signed, null, 2));
      await waitFor(async () => (await c!.client('acquirer-b').hashingKeys(true)).map((k) => k.epoch).join(',') === '2,1', 'epoch 2 to be active');
      expect(Buffer.from((await c.client('acquirer-b').hashingKeys())[0]?.key as Uint8Array).equals(Buffer.from(key))).to.equal(true);
      expect((await c.client('acquirer-b').status()).keyEpoch).to.equal(2);
    });

    it('refuses a consortium file whose signature fails, and keeps the one in force', async () => {
      c = await startConsortium({ only: ['acquirer-b'] });
      const file = path.join(c.layout.dir, 'consortium.json');
      const signed = JSON.parse(fs.readFileSync(file, 'utf8')) as { document: { version: number } };
      signed.document.version += 1; // not re-signed
      fs.writeFileSync(file, JSON.stringify(signed, null, 2));
      const logFile = path.join(c.layout.dir, 'acquirer-b', 'node.log');
      await waitFor(() => fs.readFileSync(logFile, 'utf8').includes('new consortium file refused'), 'the refusal in the log');
      expect(fs.readFileSync(logFile, 'utf8')).to.contain('signature: does not verify');
      expect((await c.client('acquirer-b').status()).member).to.equal('acquirer-b');
    });
  });
});
