// The pieces behind the node's interfaces, without processes: apiTls and client.json tls parse
// and resolve their paths, a TLS section whose files do not fit is a ConfigError naming the
// field, a certificate's host names are read and matched as TLS clients match them, and a
// failed bind is explained by field, address and reason.
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bindFailure } from '../../node/src/config/addresses';
import { ConfigError } from '../../node/src/config/errors';
import { loadNodeConfig } from '../../node/src/config/node-config';
import { readConfiguredTlsMaterial } from '../../node/src/rpc/peer-credentials';
import {
  certificateCoversHost,
  certificateHostNames,
  certificateMatchesKey,
  createCertificateAuthority,
  issueApiClientCertificate,
  issueMemberCertificate,
} from '../../node/src/crypto/certificates';
import { configToOptions, readClientConfig } from '../../client-sdk/src/config';
import { MamoriClientError } from '../../client-sdk/src/errors';

const TOKEN_DIGEST = 'a'.repeat(64);

describe('unit: interfaces (apiTls, client.json tls, certificate names, bind errors)', () => {
  let dir: string;
  let ca: { certPem: string; keyPem: string };
  let server: { certPem: string; keyPem: string };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-interfaces-'));
    ca = await createCertificateAuthority('unit Mamori member API CA');
    server = await issueMemberCertificate(ca, 'psp-c', { hosts: ['node-c.example.net', '10.0.0.5', '*.pipelines.example.net'] });
    fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
    fs.writeFileSync(path.join(dir, 'cert.pem'), server.certPem);
    fs.writeFileSync(path.join(dir, 'key.pem'), server.keyPem);
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const nodeConfig = (extra: Record<string, unknown>): string => {
    const file = path.join(dir, 'node.json');
    const base = { member: 'psp-c', listen: '0.0.0.0:7101', dataDir: './data', consortiumFile: './c.json', operatorPublicKey: Buffer.alloc(32).toString('base64'), memberKeyFile: './k.json', clientTokenDigests: [TOKEN_DIGEST] };
    fs.writeFileSync(file, JSON.stringify({ ...base, ...extra }));
    return file;
  };

  it('resolves apiTls paths against node.json and refuses an unknown field in it', () => {
    const config = loadNodeConfig(nodeConfig({ apiTls: { caFile: './ca.pem', certFile: './cert.pem', keyFile: './key.pem' } }));
    expect(config.apiTls).to.deep.equal({ caFile: path.join(dir, 'ca.pem'), certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') });
    expect(() => loadNodeConfig(nodeConfig({ apiTls: { caFile: './ca.pem', certFile: './cert.pem', keyFile: './key.pem', ca: 'x' } }))).to.throw(ConfigError, /apiTls/);
  });

  it('names the field when a TLS file cannot be read or the certificate is not for the key', async () => {
    const files = { caFile: path.join(dir, 'ca.pem'), certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') };
    expect(readConfiguredTlsMaterial('node.json', 'apiTls', files).cert.toString()).to.equal(server.certPem);
    expect(() => readConfiguredTlsMaterial('node.json', 'apiTls', { ...files, caFile: path.join(dir, 'missing.pem') })).to.throw(ConfigError, /apiTls\.caFile: .*missing\.pem cannot be read \(ENOENT\)/);
    const other = await issueApiClientCertificate(ca, 'payments');
    fs.writeFileSync(path.join(dir, 'other.key.pem'), other.keyPem);
    expect(() => readConfiguredTlsMaterial('node.json', 'tls', { ...files, keyFile: path.join(dir, 'other.key.pem') })).to.throw(ConfigError, /tls\.certFile: .* is not a PEM certificate for the key in tls\.keyFile/);
    expect(certificateMatchesKey(other.certPem, other.keyPem)).to.equal(true);
    expect(certificateMatchesKey('not a certificate', other.keyPem)).to.equal(false);
  });

  it("reads a certificate's host names and matches hosts as a TLS client does", () => {
    expect(certificateHostNames(server.certPem)).to.deep.equal(['localhost', '127.0.0.1', 'node-c.example.net', '10.0.0.5', '*.pipelines.example.net']);
    expect(certificateCoversHost(server.certPem, '10.0.0.5')).to.equal(true);
    expect(certificateCoversHost(server.certPem, 'NODE-C.example.net')).to.equal(true);
    expect(certificateCoversHost(server.certPem, 'a.pipelines.example.net')).to.equal(true);
    expect(certificateCoversHost(server.certPem, 'a.b.pipelines.example.net')).to.equal(false);
    expect(certificateCoversHost(server.certPem, '10.0.0.6')).to.equal(false);
    expect(certificateCoversHost(server.certPem, 'node-d.example.net')).to.equal(false);
    // The CN (psp-c) is not a host name.
    expect(certificateCoversHost(server.certPem, 'psp-c')).to.equal(false);
  });

  it('gives an API client certificate only the client use and a name that is no member', async () => {
    const client = await issueApiClientCertificate(ca, 'payments');
    const x509 = new X509Certificate(client.certPem);
    expect(x509.subjectAltName).to.equal('URI:mamori:api-client:payments');
    expect(x509.keyUsage).to.deep.equal(['1.3.6.1.5.5.7.3.2']);
    expect(x509.verify(new X509Certificate(ca.certPem).publicKey)).to.equal(true);
    await issueApiClientCertificate(ca, 'Not A Name').then(
      () => expect.fail('accepted'),
      (error: Error) => expect(error.message).to.contain('Invalid client name'),
    );
  });

  it('reads client.json tls relative to the file into credentials, naming a field it cannot use', () => {
    const file = path.join(dir, 'client.json');
    const base = { member: 'psp-c', target: 'node-c.example.net:7101', token: 't'.repeat(32) };
    fs.writeFileSync(file, JSON.stringify({ ...base, tls: { caFile: './ca.pem', certFile: './cert.pem', keyFile: './key.pem', serverName: 'node-c.example.net' } }));
    const config = readClientConfig(file);
    expect(config.tls?.caFile).to.equal(path.join(dir, 'ca.pem'));
    expect(configToOptions(config, file).credentials).to.be.an('object');
    expect(configToOptions(config, file)).to.have.property('target', base.target);

    fs.writeFileSync(file, JSON.stringify({ ...base, tls: { caFile: './nowhere.pem', certFile: './cert.pem', keyFile: './key.pem' } }));
    expect(() => configToOptions(readClientConfig(file), file)).to.throw(MamoriClientError, /tls\.caFile: .*nowhere\.pem cannot be read \(ENOENT\)/);
    fs.writeFileSync(file, JSON.stringify({ ...base, tls: { caFile: './ca.pem', certFile: './cert.pem' } }));
    expect(() => readClientConfig(file)).to.throw(MamoriClientError, /tls\.keyFile/);
    fs.writeFileSync(file, JSON.stringify({ ...base, tls: { caFile: './ca.pem', certFile: './cert.pem', keyFile: './key.pem', serverName: 'a b' } }));
    expect(() => readClientConfig(file)).to.throw(MamoriClientError, /tls\.serverName/);
  });

  it('explains a failed bind by field, address and reason', () => {
    const config = { configFile: '/etc/node.json' };
    const inUse = bindFailure(config, 'peerListen', '0.0.0.0:7401', new Error('No address added out of total 1 resolved, errors: [listen EADDRINUSE: address already in use 0.0.0.0:7401]'));
    expect(inUse.message).to.equal('/etc/node.json: peerListen: 0.0.0.0:7401 is already in use (another process listens there)');
    const nodeError = Object.assign(new Error('listen EADDRNOTAVAIL: address not available 192.0.2.1:9464'), { code: 'EADDRNOTAVAIL' });
    expect(bindFailure(config, 'metricsListen', '192.0.2.1:9464', nodeError).message).to.contain('metricsListen: 192.0.2.1:9464 is not an address of this machine');
    expect(bindFailure(config, 'listen', '0.0.0.0:80', new Error('listen EACCES: permission denied 0.0.0.0:80')).message).to.contain('permission denied');
  });
});
