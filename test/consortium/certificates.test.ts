// The member certificate's lifecycle with real node processes (docs/operations.md#certificate-lifecycle):
// the expiry warned of in status, metrics and the log from 30 days before; a renewal taken by a
// running node without a restart while checks and replication go on (no failed check, no
// replication gap), the old and the new certificate both accepted during the overlap; a bad
// renewal file refused with the certificate in force kept; an expired certificate refused by
// peers, and a node started with one recovering once renewed, still without a restart.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { writeFileAtomic } from '../../proto/ts/trust/atomic-file';
import { issueMemberCertificateForKey } from '../../node/src/crypto/certificates';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { startConsortium, waitForFeed, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { randomPan } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

const DAY_MS = 86_400_000;

describe('consortium: member certificate lifecycle (expiry warning, renewal without downtime, refusal after expiry)', function () {
  this.timeout(240_000);
  let c: ConsortiumProcesses;
  const tlsDir = (id: string) => path.join(c.layout.dir, id, 'tls');
  const ca = () => ({ certPem: fs.readFileSync(path.join(c.layout.dir, 'ca', 'ca.cert.pem'), 'utf8'), keyPem: fs.readFileSync(path.join(c.layout.dir, 'ca', 'ca.key.pem'), 'utf8') });
  const keyOf = (id: string) => fs.readFileSync(path.join(tlsDir(id), 'node.key.pem'), 'utf8');
  /** A certificate for the member's own key, as `renew-cert` issues for its CSR. */
  const certFor = (id: string, window: { notBeforeMs?: number; notAfterMs: number }) => issueMemberCertificateForKey(ca(), id, keyOf(id), window);
  const install = (id: string, certPem: string) => writeFileAtomic(path.join(tlsDir(id), 'node.cert.pem'), certPem, { mode: 0o600 });
  const endpointOf = (id: string) => c.layout.members.find((m) => m.id === id)?.endpoint as string;
  const metricsOf = (id: string) => (JSON.parse(fs.readFileSync(c.layout.members.find((m) => m.id === id)?.nodeConfig as string, 'utf8')) as { metricsListen: string }).metricsListen;
  const logOf = (id: string) => fs.readFileSync(path.join(c.layout.dir, id, 'node.log'), 'utf8');

  /** The serial of the certificate a node's peer server presents on a new connection. */
  const presentedSerial = (id: string, as: string) =>
    new Promise<string>((resolve, reject) => {
      const [host, port] = [endpointOf(id).slice(0, endpointOf(id).lastIndexOf(':')), Number(endpointOf(id).split(':').pop())];
      const socket = tls.connect({
        host,
        port,
        ca: ca().certPem,
        key: keyOf(as),
        cert: fs.readFileSync(path.join(tlsDir(as), 'node.cert.pem')),
        servername: 'localhost',
        ALPNProtocols: ['h2'],
        checkServerIdentity: () => undefined,
      });
      socket.once('secureConnect', () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.destroy();
        resolve(serial);
      });
      socket.once('error', reject);
    });

  /** A Heads call to a node's peer server presenting this certificate (PEM) for a member. */
  const headsAs = (target: string, member: string, certPem: string) =>
    new Promise<void>((resolve, reject) => {
      const credentials = grpc.credentials.createSsl(Buffer.from(ca().certPem), Buffer.from(keyOf(member)), Buffer.from(certPem));
      const client = new (loadGrpcTypes().mamori.v1.Replication)(target, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
      client.Heads({}, { deadline: Date.now() + 10_000 }, (error: grpc.ServiceError | null) => {
        client.close();
        if (error) reject(error);
        else resolve();
      });
    });

  before(async () => {
    c = await startConsortium({ only: [] });
    // issuer-a starts with a certificate that expires in 10 days: inside the warning window.
    install('issuer-a', await certFor('issuer-a', { notAfterMs: Date.now() + 10 * DAY_MS + 3_600_000 }));
    await Promise.all(c.layout.members.map((m) => c.start(m.id)));
  });

  after(async () => {
    await c?.stopAll();
  });

  it('warns of a certificate that expires within 30 days in status, metrics and the log', async () => {
    const status = (await c.client('issuer-a').status()).certificate;
    expect(status?.state).to.equal('expiring');
    expect(status?.daysLeft).to.equal(10);
    const other = (await c.client('acquirer-b').status()).certificate;
    expect(other?.state).to.equal('valid');
    expect(other?.daysLeft).to.be.greaterThan(30);
    const metrics = await (await fetch(`http://${metricsOf('issuer-a')}/metrics`)).text();
    expect(metrics).to.match(/^mamori_certificate_expiring\{member="issuer-a"\} 1$/m);
    expect(Number(/^mamori_certificate_not_after_seconds\{member="issuer-a"\} (\S+)$/m.exec(metrics)?.[1]) * 1000).to.equal(Number(status?.notAfterMs));
    expect(await (await fetch(`http://${metricsOf('acquirer-b')}/metrics`)).text()).to.match(/^mamori_certificate_expiring\{member="acquirer-b"\} 0$/m);
    await waitFor(() => logOf('issuer-a').includes('member certificate expires in 10 days'), 'the expiry warning in the log');
    expect(logOf('acquirer-b')).not.to.include('member certificate expires');
  });

  it('takes a renewed certificate without a restart while checks and replication run: no failed check, no gap, old and new accepted during the overlap', async () => {
    // A card listed everywhere, checked at issuer-a throughout; psp-c publishes throughout.
    const listed = randomPan('454545');
    const seq0 = (await c.client('psp-c').publishCompromisedCards([listed], { reason: 'phishing' })).seq;
    await waitForFeed(c.client('issuer-a'), 'psp-c', seq0);
    const oldCert = fs.readFileSync(path.join(tlsDir('issuer-a'), 'node.cert.pem'), 'utf8');
    const oldSerial = await presentedSerial('issuer-a', 'acquirer-b');
    const pid = c.nodes.get('issuer-a')?.child.pid;

    let running = true;
    let checks = 0;
    let publications = 0;
    let lastSeq = seq0;
    const failures: string[] = [];
    const checking = (async () => {
      while (running) {
        try {
          const v = await c.client('issuer-a').checkCard(listed);
          checks++;
          if (!v.listed) failures.push('check answered not listed');
        } catch (error) {
          failures.push(`check: ${String(error)}`);
        }
      }
    })();
    const publishing = (async () => {
      while (running) {
        try {
          lastSeq = (await c.client('psp-c').publishCompromisedCards([randomPan('356900')], { reason: 'phishing' })).seq;
          publications++;
        } catch (error) {
          failures.push(`publish: ${String(error)}`);
        }
      }
    })();

    await waitFor(() => checks > 50 && publications > 5, 'checks and publications under way');
    const renewed = await certFor('issuer-a', { notAfterMs: Date.now() + 365 * DAY_MS });
    const started = Date.now();
    install('issuer-a', renewed);
    const status = await waitFor(async () => {
      const s = (await c.client('issuer-a').status()).certificate;
      return Number(s?.renewals) === 1 ? s : undefined;
    }, 'issuer-a to take the renewed certificate');
    const tookMs = Date.now() - started;
    expect(status.state).to.equal('valid');
    expect(status.daysLeft).to.equal(364);
    const newSerial = await presentedSerial('issuer-a', 'acquirer-b');
    expect(newSerial, 'a new connection is served with the new certificate').not.to.equal(oldSerial);
    // Both certificates are accepted by a peer during the overlap.
    await headsAs(endpointOf('acquirer-b'), 'issuer-a', oldCert);
    await headsAs(endpointOf('acquirer-b'), 'issuer-a', renewed);
    // Replication keeps going after the switch.
    const checksAtSwitch = checks;
    const publicationsAtSwitch = publications;
    await waitFor(() => checks > checksAtSwitch + 50 && publications > publicationsAtSwitch + 5, 'checks and publications after the renewal');
    running = false;
    await Promise.all([checking, publishing]);
    console.log(`      renewal taken ${tookMs} ms after the file was replaced; ${checks} checks and ${publications} publications meanwhile, ${failures.length} failed`);
    expect(failures).to.deep.equal([]);
    for (const id of ['issuer-a', 'acquirer-b']) await waitForFeed(c.client(id), 'psp-c', lastSeq);
    for (const id of ['issuer-a', 'acquirer-b']) expect((await c.client(id).status()).feeds.find((f) => f.origin === 'psp-c')?.seq, `${id}: psp-c's feed, no gap`).to.equal(lastSeq);
    expect(c.nodes.get('issuer-a')?.child.pid, 'the same process: no restart').to.equal(pid);
    expect(c.nodes.get('issuer-a')?.child.exitCode).to.equal(null);
    await waitFor(() => logOf('issuer-a').includes('member certificate renewed'), 'the renewal in the log');
  });

  it('refuses a renewal file naming another member, or already expired, and keeps presenting the certificate in force', async () => {
    const inForce = fs.readFileSync(path.join(tlsDir('issuer-a'), 'node.cert.pem'), 'utf8');
    const serial = await presentedSerial('issuer-a', 'acquirer-b');
    const before = Number((await c.client('issuer-a').status()).certificate?.refused);

    install('issuer-a', await issueMemberCertificateForKey(ca(), 'acquirer-b', keyOf('issuer-a'), { notAfterMs: Date.now() + 365 * DAY_MS }));
    const other = await waitFor(async () => {
      const s = (await c.client('issuer-a').status()).certificate;
      return Number(s?.refused) === before + 1 ? s : undefined;
    }, 'the certificate for another member to be refused');
    expect(other.lastRefusal).to.include('names member "acquirer-b", not "issuer-a"');

    install('issuer-a', await certFor('issuer-a', { notBeforeMs: Date.now() - 2 * DAY_MS, notAfterMs: Date.now() - DAY_MS }));
    const expired = await waitFor(async () => {
      const s = (await c.client('issuer-a').status()).certificate;
      return Number(s?.refused) === before + 2 ? s : undefined;
    }, 'the expired certificate to be refused');
    expect(expired.lastRefusal).to.match(/expired at/);
    expect(expired.state).to.equal('valid');
    expect(Number(expired.renewals)).to.equal(1);
    expect(await presentedSerial('issuer-a', 'acquirer-b'), 'still the certificate in force').to.equal(serial);
    install('issuer-a', inForce);
  });

  it('an expired certificate is refused by peers; a node started with one recovers once renewed, without a restart', async () => {
    // Presented by a client, an expired certificate fails the TLS handshake at every peer.
    const expired = await certFor('psp-c', { notBeforeMs: Date.now() - 2 * DAY_MS, notAfterMs: Date.now() - DAY_MS });
    const refused = await headsAs(endpointOf('acquirer-b'), 'psp-c', expired).then(
      () => undefined,
      (error: grpc.ServiceError) => error,
    );
    expect(refused?.code, 'an expired client certificate').to.equal(grpc.status.UNAVAILABLE);

    // psp-c restarts with the expired certificate: its status says so, and no peer connects.
    await c.kill('psp-c', 'SIGTERM');
    install('psp-c', expired);
    await c.start('psp-c', { waitForOwnWrites: false });
    const status = (await c.client('psp-c').status()).certificate;
    expect(status?.state).to.equal('expired');
    expect(status?.daysLeft).to.be.below(0);
    await waitFor(() => logOf('psp-c').includes('member certificate EXPIRED'), 'the expiry in the log');
    await waitFor(async () => (await c.client('psp-c').status()).peers.every((p) => !p.connected && p.lastError !== ''), 'every peer to refuse psp-c', 30_000, 100);
    const peersOfA = (await c.client('issuer-a').status()).peers.find((p) => p.peer === 'psp-c');
    expect(peersOfA?.connected, "issuer-a's link to psp-c (psp-c's server presents an expired certificate)").to.equal(false);

    // Renewed: the same process presents the new certificate and replicates again.
    const pid = c.nodes.get('psp-c')?.child.pid;
    install('psp-c', await certFor('psp-c', { notAfterMs: Date.now() + 365 * DAY_MS }));
    await waitFor(async () => (await c.client('psp-c').status()).certificate?.state === 'valid', 'psp-c to take the renewed certificate');
    await waitFor(async () => (await c.client('psp-c').status()).peers.every((p) => p.connected), 'psp-c connected to every peer again', 60_000, 100);
    await waitFor(async () => (await c.client('issuer-a').status()).peers.find((p) => p.peer === 'psp-c')?.connected === true, 'issuer-a connected to psp-c again', 60_000, 100);
    expect(c.nodes.get('psp-c')?.child.pid).to.equal(pid);
  });
});
