// Real interfaces, as real `mamori start` processes: the member API served on all interfaces
// (0.0.0.0, not loopback) only behind mutual TLS with certificates from the member's own API CA
// and the client token; the Replication service on 0.0.0.0 reached by peers through
// 127.0.0.1; and clear start errors for an address in use and for a certificate that does not
// cover the node's own endpoint. (Tests reach only 127.0.0.0/8: a node listening on 0.0.0.0 is
// the testable "not loopback".)
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { sodiumReady } from '../../proto/ts/sodium';
import { MamoriClient } from '../../client-sdk/src/client';
import { readClientConfig } from '../../client-sdk/src/config';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { bearer, filesUnder, freePort, makeConsortium, memberOf, nodeConfigVariant, rawCall, rawExchange, runCli, spawnNode, waitUntilServing, type NodeProcess } from '../helpers/node-harness';
import { editNodeConfig, startConsortium, waitForPeers, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { resignConsortium } from '../helpers/resign-consortium';
import { panForms, randomPan } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

/** The gRPC status a Status call with this channel and token ends with (OK when it answers). */
async function statusCallResult(target: string, credentials: grpc.ChannelCredentials, token: string): Promise<string> {
  const stub = rawExchange(target, credentials);
  try {
    await rawCall(stub, 'Status', {}, bearer(token));
    return 'OK';
  } catch (error) {
    return grpc.status[(error as grpc.ServiceError).code] ?? String((error as grpc.ServiceError).code);
  } finally {
    stub.close();
  }
}

/** Holds a TCP port on 127.0.0.1 until closed: an address in use. */
async function occupyPort(): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return server;
}

const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;

describe('interfaces: the member API behind mutual TLS, peers on all interfaces, clear start errors', function () {
  this.timeout(180_000);

  before(async () => {
    await sodiumReady();
  });

  describe('the member API on 0.0.0.0 with apiTls (mamori member api-tls)', () => {
    let layout: DevConsortiumLayout;
    let memberDir: string;
    let apiPort: number;
    let node: NodeProcess | undefined;
    let token: string;
    const file = (name: string) => fs.readFileSync(path.join(memberDir, 'api-tls', name));

    before(async () => {
      layout = await makeConsortium();
      memberDir = path.dirname(memberOf(layout, 'psp-c').nodeConfig);
      apiPort = await freePort();
      const made = await runCli(['member', 'api-tls', '--dir', memberDir, '--host', '127.0.0.1,node-c.example.net', '--listen', `0.0.0.0:${apiPort}`]);
      expect(made.code, made.stderr).to.equal(0);
      expect(made.stdout).to.contain(`0.0.0.0:${apiPort}`);
      token = readClientConfig(memberOf(layout, 'psp-c').clientConfig).token;
      node = spawnNode(memberOf(layout, 'psp-c').nodeConfig, path.join(layout.dir, 'psp-c-node.log'));
      // waitUntilServing connects through client.json: its tls section and the new target.
      await waitUntilServing(memberOf(layout, 'psp-c').clientConfig);
    });

    after(async () => {
      if (node && node.child.exitCode === null) {
        node.child.kill('SIGTERM');
        await node.exited;
      }
    });

    it('writes the material 0600 in a 0700 folder and points node.json and client.json at it', () => {
      const tlsDir = path.join(memberDir, 'api-tls');
      expect(fs.statSync(tlsDir).mode & 0o777).to.equal(0o700);
      for (const name of fs.readdirSync(tlsDir)) expect(fs.statSync(path.join(tlsDir, name)).mode & 0o777, name).to.equal(0o600);
      expect(fs.readdirSync(tlsDir).sort()).to.deep.equal(['ca.cert.pem', 'ca.key.pem', 'client.cert.pem', 'client.key.pem', 'node.cert.pem', 'node.key.pem']);
      const nodeConfig = JSON.parse(fs.readFileSync(memberOf(layout, 'psp-c').nodeConfig, 'utf8')) as Record<string, unknown>;
      expect(nodeConfig.listen).to.equal(`0.0.0.0:${apiPort}`);
      expect(nodeConfig.apiTls).to.deep.equal({ caFile: './api-tls/ca.cert.pem', certFile: './api-tls/node.cert.pem', keyFile: './api-tls/node.key.pem' });
      const client = JSON.parse(fs.readFileSync(memberOf(layout, 'psp-c').clientConfig, 'utf8')) as Record<string, unknown>;
      expect(client.target).to.equal(`127.0.0.1:${apiPort}`);
      expect(client.tls).to.deep.equal({ caFile: './api-tls/ca.cert.pem', certFile: './api-tls/client.cert.pem', keyFile: './api-tls/client.key.pem' });
      expect(fs.statSync(memberOf(layout, 'psp-c').clientConfig).mode & 0o777).to.equal(0o600);
    });

    it('refuses to make the material twice, writing nothing', async () => {
      const before = fs.readFileSync(memberOf(layout, 'psp-c').nodeConfig, 'utf8');
      const again = await runCli(['member', 'api-tls', '--dir', memberDir, '--host', '127.0.0.1', '--listen', `0.0.0.0:${apiPort}`]);
      expect(again.code).to.equal(1);
      expect(again.stderr).to.contain('api-tls exists').and.to.contain('nothing was written');
      expect(fs.readFileSync(memberOf(layout, 'psp-c').nodeConfig, 'utf8')).to.equal(before);
    });

    it('publishes and checks a card through the CLI over mutual TLS, the number in clear nowhere', async () => {
      const client = memberOf(layout, 'psp-c').clientConfig;
      const pan = randomPan();
      const published = await runCli(['publish', 'card', '-', '--config', client], { input: `${pan}\n` });
      expect(published.code, published.stderr).to.equal(0);
      const checked = await runCli(['check', 'card', '-', '--config', client], { input: `${pan}\n` });
      expect(checked.code, checked.stderr).to.equal(0);
      expect(checked.stdout).to.match(/^LISTED by 1 member/);
      // The SDK in its default mirror mode: the filter streamed over the same mutual TLS.
      const sdk = MamoriClient.fromConfigFile(client);
      try {
        await waitFor(async () => {
          const result = await sdk.checkCard(pan);
          return result.listed && result.source !== 'fallback' && sdk.sdkStatus().mirror?.ready === true;
        }, 'the SDK mirror to load over mutual TLS and confirm the card', 60_000, 50);
      } finally {
        sdk.close();
      }
      for (const f of [...filesUnder(path.join(memberDir, 'data')), path.join(layout.dir, 'psp-c-node.log')]) {
        const text = fs.readFileSync(f).toString('latin1');
        for (const form of panForms(pan)) expect(text.includes(form), `${form} in ${f}`).to.equal(false);
      }
    });

    it('answers only a client with a certificate from the API CA and a valid token', async () => {
      const target = `127.0.0.1:${apiPort}`;
      const ca = file('ca.cert.pem');
      const right = grpc.credentials.createSsl(ca, file('client.key.pem'), file('client.cert.pem'));
      expect(await statusCallResult(target, right, token)).to.equal('OK');
      // No TLS at all, TLS without a client certificate, a client certificate from another CA
      // (the member's own consortium certificate: a peer's certificate does not open the API).
      expect(await statusCallResult(target, grpc.credentials.createInsecure(), token)).to.equal('UNAVAILABLE');
      expect(await statusCallResult(target, grpc.credentials.createSsl(ca), token)).to.equal('UNAVAILABLE');
      const tlsDir = path.join(memberDir, 'tls');
      const otherCa = grpc.credentials.createSsl(ca, fs.readFileSync(path.join(tlsDir, 'node.key.pem')), fs.readFileSync(path.join(tlsDir, 'node.cert.pem')));
      expect(await statusCallResult(target, otherCa, token)).to.equal('UNAVAILABLE');
      // The right certificate does not stand for the token.
      expect(await statusCallResult(target, right, 'not-the-token-of-this-member')).to.equal('UNAUTHENTICATED');
      const noToken = rawExchange(target, grpc.credentials.createSsl(ca, file('client.key.pem'), file('client.cert.pem')));
      try {
        const failure = await rawCall(noToken, 'Status', {}, new grpc.Metadata()).catch((error: grpc.ServiceError) => error);
        expect((failure as grpc.ServiceError).code).to.equal(grpc.status.UNAUTHENTICATED);
      } finally {
        noToken.close();
      }
    });

    it('verifies the node against serverName when client.json names one', async () => {
      const client = memberOf(layout, 'psp-c').clientConfig;
      const raw = JSON.parse(fs.readFileSync(client, 'utf8')) as { tls: Record<string, unknown> };
      const named = path.join(memberDir, 'client-named.json');
      fs.writeFileSync(named, JSON.stringify({ ...raw, tls: { ...raw.tls, serverName: 'node-c.example.net' } }), { mode: 0o600 });
      const ok = await runCli(['status', '--config', named]);
      expect(ok.code, ok.stderr).to.equal(0);
      const wrong = path.join(memberDir, 'client-wrong-name.json');
      fs.writeFileSync(wrong, JSON.stringify({ ...raw, tls: { ...raw.tls, serverName: 'elsewhere.example.net' } }), { mode: 0o600 });
      const refused = await runCli(['status', '--config', wrong]);
      expect(refused.code).to.equal(1);
      // Node's TLS check names the name it looked for and the certificate's names.
      expect(refused.stderr).to.contain('elsewhere.example.net').and.to.match(/altnames/);
    });
  });

  describe('clear errors at start', () => {
    let layout: DevConsortiumLayout;

    before(async () => {
      layout = await makeConsortium();
    });

    for (const field of ['listen', 'peerListen', 'metricsListen'] as const) {
      it(`exits 1 naming ${field}, the address and "already in use", without a stack trace`, async () => {
        const busy = await occupyPort();
        try {
          const address = `127.0.0.1:${portOf(busy)}`;
          const config = nodeConfigVariant(layout, 'issuer-a', `node-busy-${field}.json`, { [field]: address });
          const run = await runCli(['start', '--config', config]);
          expect(run.code).to.equal(1);
          expect(run.stderr).to.contain(`${field}: ${address} is already in use`);
          expect(run.stderr).to.contain(config);
          expect(run.stderr).not.to.match(/^\s+at /m);
        } finally {
          busy.close();
        }
      });
    }

    it("exits 1 when the node's certificate does not cover the host of its endpoint, naming both", async () => {
      const other = await makeConsortium();
      const endpoint = `127.0.0.9:${await freePort()}`;
      resignConsortium<{ members: { id: string; endpoint: string }[] }>(other, (document) => {
        const entry = document.members.find((m) => m.id === 'acquirer-b');
        if (entry) entry.endpoint = endpoint;
      });
      const run = await runCli(['start', '--config', memberOf(other, 'acquirer-b').nodeConfig]);
      expect(run.code).to.equal(1);
      expect(run.stderr).to.contain('tls.certFile').and.to.contain(`endpoint ${endpoint}`).and.to.contain('names localhost, 127.0.0.1');
      expect(run.stderr).not.to.match(/^\s+at /m);
    });
  });

  describe('peerListen on 0.0.0.0', () => {
    let consortium: ConsortiumProcesses | undefined;

    after(async () => {
      await consortium?.stopAll();
    });

    it('replicates with peers that dial it through 127.0.0.1, over mutual TLS', async () => {
      consortium = await startConsortium({
        configure: (layout) => {
          const port = memberOf(layout, 'issuer-a').endpoint.split(':')[1];
          editNodeConfig(layout, 'issuer-a', (c) => Object.assign(c, { peerListen: `0.0.0.0:${port}` }));
        },
      });
      // The other two fetch issuer-a's feed from its 0.0.0.0 listener.
      await waitForPeers(consortium.client('acquirer-b'), 2);
      await waitForPeers(consortium.client('psp-c'), 2);
      const pan = randomPan();
      await consortium.client('issuer-a').publishCompromisedCards([pan], { reason: 'merchant-breach', exposed: ['pan'], validDays: 30, confidence: 80 });
      for (const id of ['acquirer-b', 'psp-c']) {
        await waitFor(async () => (await consortium?.client(id).checkCard(pan))?.listed === true, `${id} to list the card published at issuer-a`, 60_000, 50);
      }
    });
  });
});
