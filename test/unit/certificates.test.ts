// Consortium certificates proven over real mutual TLS on loopback: node:tls first, then
// grpc-js with the project's Exchange service. Nothing is mocked.
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import {
  type CertificateAndKey,
  checkMemberCertificateRequest,
  createConsortiumCa,
  createMemberCertificateRequest,
  inspectMemberCertificate,
  issueMemberCertificate,
  issueMemberCertificateForRequest,
  memberIdFromPeerCertificate,
} from '../../node/src/crypto/certificates';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { peerChannelCredentials, peerServerCredentials, type TlsMaterial } from '../../node/src/rpc/peer-credentials';
import type { ExchangeClient, ExchangeHandlers } from '../../proto/gen/mamori/v1/Exchange';
import type { StatusResponse__Output } from '../../proto/gen/mamori/v1/StatusResponse';

interface Pki {
  ca: CertificateAndKey;
  issuerA: CertificateAndKey;
  pspC: CertificateAndKey;
  /** Same member id as pspC, issued by a CA the consortium does not trust. */
  rogue: CertificateAndKey;
}

// ---- node:tls helpers -------------------------------------------------------------------

interface TlsServerHandle {
  port: number;
  /** Member ids of the peers the server accepted (authorized sockets only). */
  acceptedPeers: (string | undefined)[];
  /** Handshakes the server refused. */
  clientErrors: Error[];
  close(): Promise<void>;
}

async function startTlsServer(pki: Pki, identity: CertificateAndKey): Promise<TlsServerHandle> {
  const acceptedPeers: (string | undefined)[] = [];
  const clientErrors: Error[] = [];
  const server = tls.createServer({
    key: identity.keyPem,
    cert: identity.certPem,
    ca: [pki.ca.certPem],
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on('secureConnection', (socket) => {
    if (!socket.authorized) {
      socket.destroy();
      return;
    }
    const member = memberIdFromPeerCertificate(socket.getPeerCertificate());
    acceptedPeers.push(member);
    socket.end(`hello ${member}\n`);
  });
  server.on('tlsClientError', (error) => clientErrors.push(error));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    acceptedPeers,
    clientErrors,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type TlsOutcome = { ok: true; serverMember: string | undefined; greeting: string } | { ok: false; error: string };

/**
 * Connects and waits for the server's greeting. Under TLS 1.3 the client finishes its side of
 * the handshake before the server has judged the client certificate, so 'secureConnect' alone
 * proves nothing: only data from the server means the server accepted us.
 */
function connectTls(port: number, options: tls.ConnectionOptions): Promise<TlsOutcome> {
  return new Promise((resolve) => {
    let serverMember: string | undefined;
    let greeting = '';
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), 5_000);
    const finish = (outcome: TlsOutcome): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    socket.on('secureConnect', () => {
      serverMember = memberIdFromPeerCertificate(socket.getPeerCertificate());
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      greeting += chunk;
    });
    socket.on('end', () => finish(greeting ? { ok: true, serverMember, greeting } : { ok: false, error: 'closed without data' }));
    socket.on('error', (error: NodeJS.ErrnoException) => finish({ ok: false, error: `${error.code ?? ''} ${error.message}` }));
  });
}

// ---- grpc-js helpers ---------------------------------------------------------------------

interface GrpcServerHandle {
  port: number;
  seenMembers: (string | undefined)[];
  close(): void;
}

async function startGrpcServer(pki: Pki, identity: CertificateAndKey, serverCredentials?: grpc.ServerCredentials): Promise<GrpcServerHandle> {
  const types = loadGrpcTypes();
  const seenMembers: (string | undefined)[] = [];
  const unimplemented = (_call: unknown, callback: (error: Partial<grpc.StatusObject>) => void): void =>
    callback({ code: grpc.status.UNIMPLEMENTED });
  const handlers: ExchangeHandlers = {
    Status(call, callback) {
      const member = memberIdFromPeerCertificate(call.getAuthContext()?.sslPeerCertificate);
      seenMembers.push(member);
      callback(null, { member: member ?? '' });
    },
    Publish: unimplemented,
    Retract: unimplemented,
    Check: unimplemented,
    CheckStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
    GetHashingKeys: unimplemented,
    Unfreeze: unimplemented,
    MirrorFilter: (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
    ReportCardTesting: unimplemented,
    Alerts: (call: grpc.ServerWritableStream<unknown, unknown>) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
    ReportSightings: unimplemented,
    ReportFraud: unimplemented,
    WatchMerchants: unimplemented,
    EvaluatePanSelectors: unimplemented,
    EvaluatePanSelectorsStream: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
  };
  const server = new grpc.Server();
  server.addService(types.mamori.v1.Exchange.service, handlers);
  const credentials =
    serverCredentials ??
    grpc.ServerCredentials.createSsl(Buffer.from(pki.ca.certPem), [{ cert_chain: Buffer.from(identity.certPem), private_key: Buffer.from(identity.keyPem) }], true);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { port, seenMembers, close: () => server.forceShutdown() };
}

/**
 * The target is an IP literal; without the override grpc-js sends it as the TLS ServerName, which
 * Node flags (DEP0123, RFC 6066 forbids IP SNI). 'localhost' is a SAN of every member certificate.
 */
function grpcClient(port: number, credentials: grpc.ChannelCredentials): ExchangeClient {
  return new (loadGrpcTypes().mamori.v1.Exchange)(`127.0.0.1:${port}`, credentials, {
    'grpc.ssl_target_name_override': 'localhost',
  });
}

function callStatus(client: ExchangeClient): Promise<StatusResponse__Output> {
  return new Promise((resolve, reject) =>
    client.Status({}, { deadline: Date.now() + 5_000 }, (error, response) => (error || !response ? reject(error) : resolve(response))),
  );
}

async function expectGrpcFailure(client: ExchangeClient): Promise<grpc.ServiceError> {
  try {
    await callStatus(client);
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

// ---- tests -------------------------------------------------------------------------------

describe('unit: consortium certificates', function () {
  this.timeout(20_000);
  let pki: Pki;

  before(async () => {
    const ca = await createConsortiumCa('Test');
    const otherCa = await createConsortiumCa('Other');
    pki = {
      ca,
      issuerA: await issueMemberCertificate(ca, 'issuer-a'),
      pspC: await issueMemberCertificate(ca, 'psp-c'),
      rogue: await issueMemberCertificate(otherCa, 'psp-c'),
    };
  });

  describe('certificate contents (node:crypto X509Certificate)', () => {
    it('issues a P-256 CA and a leaf it signed, with the member URI SAN', () => {
      const ca = new X509Certificate(pki.ca.certPem);
      const leaf = new X509Certificate(pki.pspC.certPem);
      expect(ca.ca).to.equal(true);
      expect(ca.subject).to.equal('CN=Test Mamori consortium CA');
      expect(ca.checkIssued(ca)).to.equal(true);
      expect(ca.verify(ca.publicKey)).to.equal(true);
      expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).to.equal('prime256v1');

      expect(leaf.ca).to.equal(false);
      expect(leaf.subject).to.equal('CN=psp-c');
      expect(leaf.checkIssued(ca)).to.equal(true);
      expect(leaf.verify(ca.publicKey)).to.equal(true);
      expect(leaf.verify(new X509Certificate(pki.rogue.certPem).publicKey)).to.equal(false);
      expect(leaf.subjectAltName?.split(', ')).to.include.members(['URI:mamori:member:psp-c', 'DNS:localhost', 'IP Address:127.0.0.1']);
      expect(leaf.keyUsage).to.have.members(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
      expect(leaf.serialNumber).to.not.equal(new X509Certificate(pki.issuerA.certPem).serialNumber);

      const notBefore = Date.parse(leaf.validFrom);
      const notAfter = Date.parse(leaf.validTo);
      expect(Date.now() - notBefore).to.be.within(4 * 60_000, 6 * 60_000 + 30_000);
      expect(Math.round((notAfter - Date.now()) / 86_400_000)).to.equal(825);
    });

    it('writes PKCS#8 private keys that match their certificates', () => {
      for (const pair of [pki.ca, pki.pspC]) {
        expect(pair.keyPem).to.match(/^-----BEGIN PRIVATE KEY-----\n/);
        expect(new X509Certificate(pair.certPem).checkPrivateKey(createPrivateKey(pair.keyPem))).to.equal(true);
      }
    });

    it('adds extra hosts as IP or DNS SANs', async () => {
      const cert = await issueMemberCertificate(pki.ca, 'node-b', { hosts: ['10.1.2.3', 'node-b.example', '::1'], validDays: 30 });
      const leaf = new X509Certificate(cert.certPem);
      expect(leaf.subjectAltName?.split(', ')).to.include.members(['IP Address:10.1.2.3', 'DNS:node-b.example', 'IP Address:0:0:0:0:0:0:0:1']);
      expect(leaf.checkHost('node-b.example')).to.equal('node-b.example');
      expect(leaf.checkIP('10.1.2.3')).to.equal('10.1.2.3');
      expect(Math.round((Date.parse(leaf.validTo) - Date.now()) / 86_400_000)).to.equal(30);
    });

    it('refuses to issue a certificate for an invalid member id', async () => {
      for (const bad of ['ab', 'Issuer-A', 'a_b_c', 'x'.repeat(33), 'psp-c,CN=admin']) {
        let thrown: unknown;
        try {
          await issueMemberCertificate(pki.ca, bad);
        } catch (error) {
          thrown = error;
        }
        expect(thrown, bad).to.be.instanceOf(Error);
      }
    });
  });

  describe('certificate signing requests (the member keeps its key; the operator signs)', () => {
    it('issues a one-year certificate for the key of a member CSR, naming the member and its endpoint host', async () => {
      const request = await createMemberCertificateRequest('issuer-a', ['10.0.0.7']);
      expect(request.keyPem).to.match(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(request.csrPem).to.match(/^-----BEGIN CERTIFICATE REQUEST-----\n/).and.not.include('PRIVATE');
      expect(await checkMemberCertificateRequest(request.csrPem, 'issuer-a')).to.deep.equal([]);
      const certPem = await issueMemberCertificateForRequest(pki.ca, 'issuer-a', request.csrPem, { hosts: ['10.0.0.7'] });
      const leaf = new X509Certificate(certPem);
      expect(leaf.checkPrivateKey(createPrivateKey(request.keyPem))).to.equal(true);
      expect(leaf.checkIssued(new X509Certificate(pki.ca.certPem))).to.equal(true);
      expect(leaf.subject).to.equal('CN=issuer-a');
      expect(leaf.subjectAltName?.split(', ')).to.include.members(['URI:mamori:member:issuer-a', 'IP Address:10.0.0.7']);
      expect(leaf.ca).to.equal(false);
      expect(Math.round((Date.parse(leaf.validTo) - Date.now()) / 86_400_000)).to.equal(365);
      const facts = await inspectMemberCertificate(certPem, pki.ca.certPem, request.keyPem);
      expect(facts).to.include({ memberId: 'issuer-a', issuedByCa: true, matchesKey: true });
      const other = await createMemberCertificateRequest('issuer-a');
      expect(await inspectMemberCertificate(certPem, pki.ca.certPem, other.keyPem)).to.include({ matchesKey: false });
      expect(await inspectMemberCertificate(certPem, pki.rogue.certPem, request.keyPem)).to.include({ issuedByCa: false });
    });

    it('refuses a CSR naming another member, altered, not a CSR, or asking for a CA or other key usages', async () => {
      const request = await createMemberCertificateRequest('psp-c');
      expect((await checkMemberCertificateRequest(request.csrPem, 'issuer-a')).join('; ')).to.include('expected exactly "CN=issuer-a"').and.include('expected mamori:member:issuer-a');
      expect(await checkMemberCertificateRequest('not a csr', 'psp-c')).to.deep.equal(['is not a PEM PKCS#10 certificate signing request']);
      const der = Buffer.from(request.csrPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      der[der.length - 40] = (der[der.length - 40] as number) ^ 1;
      const altered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      expect((await checkMemberCertificateRequest(altered, 'psp-c')).join('; ')).to.include('signature does not verify');
      const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
      const caRequest = await x509.Pkcs10CertificateRequestGenerator.create({
        name: [{ CN: ['psp-c'] }],
        keys,
        signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
        extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature, true)],
      });
      const problems = (await checkMemberCertificateRequest(caRequest.toString('pem'), 'psp-c')).join('; ');
      expect(problems).to.include('requests a CA certificate').and.include('never certificate or CRL signing');
      const noUsage = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: ['psp-c'] }], keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
      expect((await checkMemberCertificateRequest(noUsage.toString('pem'), 'psp-c')).join('; ')).to.include('requests no key usage');
      let thrown: unknown;
      try {
        await issueMemberCertificateForRequest(pki.ca, 'psp-c', caRequest.toString('pem'));
      } catch (error) {
        thrown = error;
      }
      expect(String(thrown)).to.include('certificate signing request: ').and.include('requests a CA certificate');
    });
  });

  describe('memberIdFromPeerCertificate', () => {
    it('reads the id from the URI SAN of a real peer certificate', () => {
      expect(memberIdFromPeerCertificate(new X509Certificate(pki.pspC.certPem).toLegacyObject())).to.equal('psp-c');
    });

    it('returns undefined without a member URI SAN or with an invalid id', () => {
      const cases: (Parameters<typeof memberIdFromPeerCertificate>[0])[] = [
        undefined,
        {},
        new X509Certificate(pki.ca.certPem).toLegacyObject(), // a real certificate with no SAN
        { subject: { CN: 'psp-c' }, subjectaltname: 'DNS:localhost, IP Address:127.0.0.1' }, // CN alone is not enough
        { subjectaltname: 'URI:https://psp-c.example' },
        { subjectaltname: 'URI:mamori:member:PSP-C' },
        { subjectaltname: 'URI:mamori:member:ab' },
        { subjectaltname: 'URI:mamori:member:psp_c' },
        { subjectaltname: `URI:mamori:member:${'a'.repeat(33)}` },
        { subjectaltname: 'URI:mamori:member:' },
        { subjectaltname: 'URI:mamori:member:psp-c, URI:mamori:member:issuer-a' }, // ambiguous
        // Node quotes a SAN value containing ", " (CVE-2021-44532); it must not split into two entries.
        { subjectaltname: 'URI:"mamori:member:x, URI:mamori:member:evil"' },
      ];
      for (const cert of cases) expect(memberIdFromPeerCertificate(cert), JSON.stringify(cert)).to.equal(undefined);
      expect(memberIdFromPeerCertificate({ subjectaltname: 'DNS:a, URI:mamori:member:psp-c, URI:mamori:member:psp-c' })).to.equal('psp-c');
    });
  });

  describe('node:tls with the consortium CA', () => {
    let server: TlsServerHandle;
    beforeEach(async () => {
      server = await startTlsServer(pki, pki.issuerA);
    });
    afterEach(() => server.close());

    it('accepts a member client and each side reads the other member id', async () => {
      const outcome = await connectTls(server.port, { key: pki.pspC.keyPem, cert: pki.pspC.certPem, ca: [pki.ca.certPem] });
      expect(outcome).to.deep.equal({ ok: true, serverMember: 'issuer-a', greeting: 'hello psp-c\n' });
      expect(server.acceptedPeers).to.deep.equal(['psp-c']);
    });

    it('refuses a client without a certificate', async () => {
      const outcome = await connectTls(server.port, { ca: [pki.ca.certPem] });
      expect(outcome.ok).to.equal(false);
      expect(server.acceptedPeers).to.deep.equal([]);
      expect(server.clientErrors).to.have.length(1);
    });

    it('refuses a client whose certificate comes from another CA', async () => {
      const outcome = await connectTls(server.port, { key: pki.rogue.keyPem, cert: pki.rogue.certPem, ca: [pki.ca.certPem] });
      expect(outcome.ok).to.equal(false);
      expect(server.acceptedPeers).to.deep.equal([]);
      expect(server.clientErrors).to.have.length(1);
    });

    it('lets the client refuse a server outside the consortium', async () => {
      const rogueServer = await startTlsServer(pki, pki.rogue);
      try {
        const outcome = await connectTls(rogueServer.port, { key: pki.pspC.keyPem, cert: pki.pspC.certPem, ca: [pki.ca.certPem] });
        expect(outcome.ok).to.equal(false);
        expect(outcome.ok === false && outcome.error).to.match(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/);
      } finally {
        await rogueServer.close();
      }
    });

    it('checks the server name against the SANs', async () => {
      const outcome = await connectTls(server.port, {
        key: pki.pspC.keyPem,
        cert: pki.pspC.certPem,
        ca: [pki.ca.certPem],
        servername: 'elsewhere.example',
      });
      expect(outcome.ok === false && outcome.error).to.match(/ERR_TLS_CERT_ALTNAME_INVALID/);
    });
  });

  describe('grpc-js with the consortium CA', () => {
    let server: GrpcServerHandle;
    const clients: grpc.Client[] = [];
    const client = (credentials: grpc.ChannelCredentials): ExchangeClient => {
      const created = grpcClient(server.port, credentials);
      clients.push(created);
      return created;
    };
    beforeEach(async () => {
      server = await startGrpcServer(pki, pki.issuerA);
    });
    afterEach(() => {
      for (const c of clients.splice(0)) c.close();
      server.close();
    });

    it('serves a member client and sees its id in the auth context', async () => {
      const credentials = grpc.credentials.createSsl(Buffer.from(pki.ca.certPem), Buffer.from(pki.pspC.keyPem), Buffer.from(pki.pspC.certPem));
      const response = await callStatus(client(credentials));
      expect(response.member).to.equal('psp-c');
      expect(server.seenMembers).to.deep.equal(['psp-c']);
    });

    it('fails with UNAVAILABLE for a client from another CA', async () => {
      const credentials = grpc.credentials.createSsl(Buffer.from(pki.ca.certPem), Buffer.from(pki.rogue.keyPem), Buffer.from(pki.rogue.certPem));
      const error = await expectGrpcFailure(client(credentials));
      expect(error.code).to.equal(grpc.status.UNAVAILABLE);
      expect(server.seenMembers).to.deep.equal([]);
    });

    it('fails for a client without a certificate', async () => {
      const error = await expectGrpcFailure(client(grpc.credentials.createSsl(Buffer.from(pki.ca.certPem))));
      expect(error.code).to.equal(grpc.status.UNAVAILABLE);
      expect(server.seenMembers).to.deep.equal([]);
    });
  });
  // The client-side member-id check as a node dials a peer: Mamori's own credentials
  // (node/src/rpc/peer-credentials.ts), not a copy. A server with a valid certificate from the
  // consortium CA that names another member than the one dialled must not be talked to.
  describe("Mamori's peer credentials (rpc/peer-credentials.ts) dialling a member", () => {
    let server: GrpcServerHandle;
    const clients: grpc.Client[] = [];
    const material = (identity: CertificateAndKey): TlsMaterial => ({
      ca: Buffer.from(pki.ca.certPem),
      cert: Buffer.from(identity.certPem),
      key: Buffer.from(identity.keyPem),
    });
    const dial = (expectedMember: string): ExchangeClient => {
      const created = grpcClient(server.port, peerChannelCredentials(material(pki.pspC), expectedMember));
      clients.push(created);
      return created;
    };
    beforeEach(async () => {
      // A real TLS server on 127.0.0.1:0 presenting issuer-a's CA-signed certificate, with Mamori's server credentials.
      server = await startGrpcServer(pki, pki.issuerA, peerServerCredentials(material(pki.issuerA)));
    });
    afterEach(() => {
      for (const c of clients.splice(0)) c.close();
      server.close();
    });

    it('reaches the member it dialled: the server names issuer-a and sees psp-c', async () => {
      const response = await callStatus(dial('issuer-a'));
      expect(response.member).to.equal('psp-c');
      expect(server.seenMembers).to.deep.equal(['psp-c']);
    });

    it("refuses a server presenting another member's valid certificate: the dial fails and no call reaches it", async () => {
      const error = await expectGrpcFailure(dial('acquirer-b'));
      expect(error.code).to.equal(grpc.status.UNAVAILABLE);
      expect(server.seenMembers, 'calls answered by the wrong member').to.deep.equal([]);
    });

    it('refuses a server certificate from another CA, even naming the member dialled', async () => {
      server.close();
      server = await startGrpcServer(pki, pki.rogue, grpc.ServerCredentials.createSsl(Buffer.from(pki.ca.certPem), [{ cert_chain: Buffer.from(pki.rogue.certPem), private_key: Buffer.from(pki.rogue.keyPem) }], true));
      const error = await expectGrpcFailure(dial('psp-c'));
      expect(error.code).to.equal(grpc.status.UNAVAILABLE);
      expect(server.seenMembers).to.deep.equal([]);
    });
  });
});
