// Generic gRPC tools against a running node: the standard health service and server
// reflection, on the member-local API (no token needed for either) and on the peer server
// (behind mutual TLS like everything there).
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { issueMemberCertificate } from '../../node/src/crypto/certificates';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { bearer, makeConsortium, memberOf } from '../helpers/node-harness';
import { clientFromReflection, healthCheck, insecureTarget, memberTlsTarget, reflectionListServices, runMemberNode, unaryCall, type OpsTarget, grpcError } from '../helpers/ops';
import { readClientConfig } from '../../client-sdk/src/config';

describe('operations: gRPC health and server reflection', function () {
  let layout: DevConsortiumLayout;
  let running: Awaited<ReturnType<typeof runMemberNode>>;
  let api: OpsTarget;
  let peer: OpsTarget;

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    // psp-c alone: its peers are down, which changes nothing for health or reflection.
    running = await runMemberNode(layout, 'psp-c', { listen: '127.0.0.1:0', peerListen: '127.0.0.1:0' });
    api = insecureTarget(running.exchange.address);
    // Any consortium member's certificate reaches the peer server; here acquirer-b's.
    peer = memberTlsTarget(layout, 'acquirer-b', running.replication?.address ?? 'no peer server');
  });
  after(async () => {
    await running?.stop();
  });

  it('answers SERVING on the API server for the server and for mamori.v1.Exchange, without a token', async () => {
    expect(await healthCheck(api, '')).to.equal('SERVING');
    expect(await healthCheck(api, 'mamori.v1.Exchange')).to.equal('SERVING');
    // A service this server does not host is unknown to its health service.
    expect((await grpcError(healthCheck(api, 'mamori.v1.Replication'))).code).to.equal(grpc.status.NOT_FOUND);
  });

  it('lists the Exchange API by reflection, and a client built from reflection alone can call it (with the token)', async () => {
    const services = await reflectionListServices(api);
    expect(services).to.include.members(['mamori.v1.Exchange', 'grpc.health.v1.Health']);
    expect(services).to.not.include('mamori.v1.Replication');

    // What `grpcurl -plaintext HOST:PORT grpc.health.v1.Health/Check` does: the health proto comes from reflection too.
    const health = await clientFromReflection(api, 'grpc.health.v1.Health');
    try {
      expect((await unaryCall<{ status: string }>(health, 'Check', { service: '' })).status).to.equal('SERVING');
    } finally {
      health.close();
    }

    const client = await clientFromReflection(api, 'mamori.v1.Exchange');
    try {
      const { token } = readClientConfig(memberOf(layout, 'psp-c').clientConfig);
      const status = await unaryCall<{ member: string }>(client, 'Status', {}, bearer(token));
      expect(status.member).to.equal('psp-c');
      // Reflection and health are open; the API's own methods still need the token.
      expect((await grpcError(unaryCall(client, 'Status', {}))).code).to.equal(grpc.status.UNAUTHENTICATED);
    } finally {
      client.close();
    }
  });

  it('serves health and reflection on the peer server to a member certificate, and to no one without one', async () => {
    expect(await healthCheck(peer, '')).to.equal('SERVING');
    expect(await healthCheck(peer, 'mamori.v1.Replication')).to.equal('SERVING');
    const services = await reflectionListServices(peer);
    expect(services).to.include.members(['mamori.v1.Replication', 'grpc.health.v1.Health']);
    expect(services).to.not.include('mamori.v1.Exchange');

    const noCertificate = insecureTarget(peer.target);
    expect((await grpcError(healthCheck(noCertificate, ''))).code).to.equal(grpc.status.UNAVAILABLE);
  });

  it('refuses a consortium-CA certificate that names no current member before any service answers: health, reflection and Replication', async () => {
    // The consortium's own CA signs it, so TLS completes; the member id it names is in no consortium file.
    const ca = { certPem: fs.readFileSync(layout.caFile, 'utf8'), keyPem: fs.readFileSync(path.join(layout.dir, 'ca', 'ca.key.pem'), 'utf8') };
    const stranger = await issueMemberCertificate(ca, 'mallory-x');
    const strangerTarget: OpsTarget = {
      target: peer.target,
      credentials: grpc.credentials.createSsl(Buffer.from(ca.certPem), Buffer.from(stranger.keyPem), Buffer.from(stranger.certPem)),
      options: { 'grpc.ssl_target_name_override': 'localhost' },
    };
    const refused = [grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED];

    expect(refused, 'health Check of the server').to.include((await grpcError(healthCheck(strangerTarget, ''))).code);
    expect(refused, 'health Check of Replication').to.include((await grpcError(healthCheck(strangerTarget, 'mamori.v1.Replication'))).code);
    const reflection = await grpcError(reflectionListServices(strangerTarget));
    expect(refused, `reflection (${reflection.message})`).to.include(reflection.code);
    const { Replication } = loadGrpcTypes().mamori.v1;
    const replication = new Replication(strangerTarget.target, strangerTarget.credentials, strangerTarget.options);
    try {
      expect(refused, 'Replication Heads').to.include((await grpcError(unaryCall(replication, 'Heads', {}))).code);
    } finally {
      replication.close();
    }

    // A member's certificate is still served, on the same server.
    expect(await healthCheck(peer, 'mamori.v1.Replication')).to.equal('SERVING');
    expect(await reflectionListServices(peer)).to.include('mamori.v1.Replication');
  });

  it('turns NOT_SERVING when the node begins to stop', async () => {
    running.exchange.markNotServing();
    running.replication?.markNotServing();
    expect(await healthCheck(api, '')).to.equal('NOT_SERVING');
    expect(await healthCheck(api, 'mamori.v1.Exchange')).to.equal('NOT_SERVING');
    expect(await healthCheck(peer, 'mamori.v1.Replication')).to.equal('NOT_SERVING');
  });
});
