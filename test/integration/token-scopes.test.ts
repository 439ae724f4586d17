// Client tokens carry scopes (node config clientTokens): each Exchange method needs one, and a
// token without it is refused PERMISSION_DENIED naming the scope; Unfreeze needs admin; tokens
// of the older clientTokenDigests keep every scope but admin. Authentication failures answer
// UNAUTHENTICATED (two authorization headers too), are logged without the token and counted.
// Key fetches and mirror downloads are audited with the token's name.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import pino from 'pino';
import * as grpc from '@grpc/grpc-js';
import { sodiumReady } from '../../proto/ts/sodium';
import { tokenDigest } from '../../node/src/crypto/epochs';
import { TOKEN_SCOPES } from '../../node/src/config/schemas';
import { METHOD_SCOPES, tokenAuthenticator, type ExchangeMethod } from '../../node/src/rpc/auth';
import { MamoriError } from '../../node/src/ledger/errors';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { createNodeMetrics } from '../../node/src/metrics/node-metrics';
import { metricsSources } from '../../node/src/runtime/ports';
import type { ExchangeClient } from '../../proto/gen/mamori/v1/Exchange';
import type { StatusResponse__Output } from '../../proto/gen/mamori/v1/StatusResponse';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { makeConsortium, memberOf, rawExchange, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { readClientConfig } from '../../client-sdk/src/config';
import { waitFor } from '../helpers/wait';

/**
 * One gRPC call with headers no HTTP/2 client library sends (grpc-js and Node's HTTP/2 client
 * refuse two authorization headers): Node's HTTP/2 client makes the call, and its HEADERS frame
 * is replaced on the way out by one written here (HPACK literals, never indexed), so the
 * answer is still decoded by Node. Resolves with the grpc-status and grpc-message.
 */
function grpcWithRawHeaders(port: number, path: string, extraHeaders: [string, string][]): Promise<{ status: number; message: string }> {
  const str = (v: string) => {
    const b = Buffer.from(v);
    if (b.length > 126) throw new Error('header too long for this encoder');
    return Buffer.concat([Buffer.from([b.length]), b]);
  };
  const literal = ([name, value]: [string, string]) => Buffer.concat([Buffer.from([0]), str(name), str(value)]);
  const headers: [string, string][] = [[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', `127.0.0.1:${port}`], ['content-type', 'application/grpc'], ['te', 'trailers'], ['grpc-timeout', '10S'], ...extraHeaders];
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let pending = Buffer.alloc(0);
    let prefaceSeen = false;
    const proxy = new Duplex({
      write(chunk: Buffer, _encoding, done) {
        pending = Buffer.concat([pending, chunk]);
        const out: Buffer[] = [];
        if (!prefaceSeen) {
          if (pending.length < 24) return done();
          out.push(pending.subarray(0, 24));
          pending = pending.subarray(24);
          prefaceSeen = true;
        }
        while (pending.length >= 9) {
          const length = pending.readUIntBE(0, 3);
          if (pending.length < 9 + length) break;
          let f = pending.subarray(0, 9 + length);
          pending = pending.subarray(9 + length);
          if (f[3] === 1) {
            const payload = Buffer.concat(headers.map(literal));
            const h = Buffer.alloc(9);
            h.writeUIntBE(payload.length, 0, 3);
            h[3] = 1;
            h[4] = ((f[4] as number) & 1) | 4; // END_STREAM as sent, END_HEADERS
            h.writeUInt32BE(f.readUInt32BE(5), 5);
            f = Buffer.concat([h, payload]);
          }
          out.push(f);
        }
        if (socket.destroyed) return done();
        socket.write(Buffer.concat(out), () => done());
      },
      read() {},
    });
    socket.on('data', (d) => proxy.push(d));
    socket.on('end', () => proxy.push(null));
    socket.on('error', () => proxy.destroy());
    const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => proxy });
    session.on('error', () => {});
    const request = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    let status: number | undefined;
    let message = '';
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) {
        status = Number(h['grpc-status']);
        message = decodeURIComponent(String(h['grpc-message'] ?? ''));
      }
    };
    request.on('response', take);
    request.on('trailers', take);
    request.on('data', () => {});
    request.on('error', reject);
    request.on('close', () => {
      session.destroy();
      socket.destroy();
      if (status === undefined) reject(new Error('no grpc-status'));
      else resolve({ status, message });
    });
    request.end(Buffer.alloc(5)); // one empty message
  });
}

const STREAMING: ReadonlySet<ExchangeMethod> = new Set(['MirrorFilter', 'Alerts']);
const BIDIRECTIONAL: ReadonlySet<ExchangeMethod> = new Set(['CheckStream', 'EvaluatePanSelectorsStream']);

function metadataWith(...authorization: string[]): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const value of authorization) md.add('authorization', value);
  return md;
}

/** Any Exchange method, unary or streaming (a bidirectional one sent `request` as its one message): resolves with the first answer, rejects with the status. */
function call(stub: ExchangeClient, method: ExchangeMethod, metadata: grpc.Metadata, request: object = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const options = { deadline: Date.now() + 10_000 };
    if (STREAMING.has(method) || BIDIRECTIONAL.has(method)) {
      let stream: grpc.ClientReadableStream<unknown>;
      if (BIDIRECTIONAL.has(method)) {
        const fn = stub[method] as unknown as (md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientDuplexStream<object, unknown>;
        const duplex = fn.call(stub, metadata, options);
        duplex.write(request);
        stream = duplex;
      } else {
        const fn = stub[method] as unknown as (r: object, md: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<unknown>;
        stream = fn.call(stub, request, metadata, options);
      }
      stream.once('data', (d) => {
        stream.cancel();
        resolve(d);
      });
      stream.once('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
      stream.once('end', () => resolve(undefined));
      return;
    }
    const fn = stub[method] as unknown as (r: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: unknown) => void) => void;
    fn.call(stub, request, metadata, options, (error, value) => (error ? reject(error) : resolve(value)));
  });
}

async function refusal(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('the call was answered');
}

describe('integration: client token scopes and authentication failures', function () {
  let layout: DevConsortiumLayout;
  let psp: InProcessNode;
  let stub: ExchangeClient;
  const statusOnly = randomBytes(24).toString('base64url');
  const checkOnly = randomBytes(24).toString('base64url');
  const legacy = randomBytes(24).toString('base64url');
  let admin = '';

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    admin = readClientConfig(memberOf(layout, 'psp-c').clientConfig).token;
    psp = await startInProcessNode(layout, 'psp-c', {
      clientTokens: [
        { name: 'operator', digest: tokenDigest(admin), scopes: [...TOKEN_SCOPES] },
        { name: 'dashboard', digest: tokenDigest(statusOnly), scopes: ['status'] },
        { name: 'checkout', digest: tokenDigest(checkOnly), scopes: ['check', 'keys'] },
      ],
      // The older form: a digest alone, every scope but admin.
      clientTokenDigests: [tokenDigest(legacy)],
    });
    stub = rawExchange(psp.target);
  });
  after(async () => {
    stub?.close();
    await psp?.stop();
  });

  it('names a scope for every method the Exchange service serves', () => {
    const served = Object.keys(loadGrpcTypes().mamori.v1.Exchange.service).sort();
    expect(Object.keys(METHOD_SCOPES).sort()).to.deep.equal(served);
    for (const scope of Object.values(METHOD_SCOPES)) expect(TOKEN_SCOPES).to.include(scope);
  });

  it('refuses every method to a token without its scope: PERMISSION_DENIED naming the scope and the token', async () => {
    for (const [method, scope] of Object.entries(METHOD_SCOPES) as [ExchangeMethod, string][]) {
      const token = scope === 'status' ? checkOnly : statusOnly;
      const name = scope === 'status' ? 'checkout' : 'dashboard';
      const error = await refusal(call(stub, method, metadataWith(`Bearer ${token}`)));
      expect(error.code, method).to.equal(grpc.status.PERMISSION_DENIED);
      expect(error.details, method).to.contain(`"${scope}" scope`).and.to.contain(`"${name}"`);
    }
    // The scope it has is served.
    expect(await call(stub, 'Status', metadataWith(`Bearer ${statusOnly}`))).to.have.property('member', 'psp-c');
  });

  it('Unfreeze needs admin: a token listed without scopes (clientTokenDigests) has every scope but admin', async () => {
    const error = await refusal(call(stub, 'Unfreeze', metadataWith(`Bearer ${legacy}`), { origin: 'acquirer-b' }));
    expect(error.code).to.equal(grpc.status.PERMISSION_DENIED);
    expect(error.details).to.contain('"admin" scope');
    // Everything else it did before still works.
    expect(await call(stub, 'Status', metadataWith(`Bearer ${legacy}`))).to.have.property('member', 'psp-c');
    expect(await call(stub, 'GetHashingKeys', metadataWith(`Bearer ${legacy}`))).to.have.property('keys');
    const refusedCheck = await refusal(call(stub, 'Check', metadataWith(`Bearer ${legacy}`), { selectors: [] }));
    expect(refusedCheck.code, 'past authentication: the empty request is refused').to.equal(grpc.status.INVALID_ARGUMENT);
    // The admin token unfreezes.
    expect(await call(stub, 'Unfreeze', metadataWith(`Bearer ${admin}`), { origin: 'acquirer-b' })).to.deep.equal({ wasFrozen: false });
  });

  it('refuses a request with two authorization headers UNAUTHENTICATED, whichever comes first', async () => {
    // Unit: the authenticator refuses metadata holding two values.
    const authenticate = tokenAuthenticator([{ name: 'operator', digest: tokenDigest(admin), scopes: [...TOKEN_SCOPES] }], pino({ level: 'silent' }));
    let refused: unknown;
    try {
      authenticate(metadataWith(`Bearer ${admin}`, `Bearer ${admin}`), 'Status');
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(MamoriError).and.to.include({ code: 'UNAUTHENTICATED' });

    // Over the wire. grpc-js and Node's HTTP/2 client refuse to send two (the INTERNAL of the
    // review came from the grpc-js client), and Node's server keeps only the first: raw frames
    // show what the node does with them. Before the fix it answered as the first token.
    const before = (await call(stub, 'Status', metadataWith(`Bearer ${admin}`))) as StatusResponse__Output;
    for (const second of [admin, statusOnly]) {
      const answer = await grpcWithRawHeaders(psp.server.port, '/mamori.v1.Exchange/Status', [
        ['authorization', `Bearer ${admin}`],
        ['authorization', `Bearer ${second}`],
      ]);
      expect(answer.status, answer.message).to.equal(grpc.status.UNAUTHENTICATED);
      expect(answer.message).to.contain('more than one "authorization" header');
    }
    // The same request with one header is answered: what is refused is the repetition.
    expect(await grpcWithRawHeaders(psp.server.port, '/mamori.v1.Exchange/Status', [['authorization', `Bearer ${admin}`]])).to.deep.include({ status: grpc.status.OK });
    const after = (await call(stub, 'Status', metadataWith(`Bearer ${admin}`))) as StatusResponse__Output;
    expect(Number(after.authFailures.duplicate ?? 0) - Number(before.authFailures.duplicate ?? 0)).to.equal(2);
    expect(psp.logLines.some((l) => l.includes('"reason":"duplicate"') && l.includes('"method":"Status"'))).to.equal(true);
    expect(psp.logLines.some((l) => l.includes('internal error'))).to.equal(false);
  });

  it('takes the Bearer scheme in any case (RFC 9110): bearer, BEARER, bEaReR', async () => {
    for (const scheme of ['bearer', 'BEARER', 'bEaReR', 'Bearer']) {
      expect(await call(stub, 'Status', metadataWith(`${scheme} ${admin}`)), scheme).to.have.property('member', 'psp-c');
    }
    for (const bad of [`Basic ${admin}`, `Bearer`, `Bearer${admin}`, admin]) {
      expect((await refusal(call(stub, 'Status', metadataWith(bad)))).code, bad).to.equal(grpc.status.UNAUTHENTICATED);
    }
  });

  it('logs failed authentications by method and reason, never the token, and counts them in status and metrics', async () => {
    const before = (await call(stub, 'Status', metadataWith(`Bearer ${admin}`))) as StatusResponse__Output;
    const wrong = randomBytes(24).toString('base64url');
    await refusal(call(stub, 'Check', metadataWith(`Bearer ${wrong}`), { selectors: [] }));
    await refusal(call(stub, 'Check', new grpc.Metadata(), { selectors: [] }));
    await refusal(call(stub, 'Publish', metadataWith(`Bearer ${statusOnly}`)));
    const after = (await call(stub, 'Status', metadataWith(`Bearer ${admin}`))) as StatusResponse__Output;
    const grew = (reason: string) => Number(after.authFailures[reason] ?? 0) - Number(before.authFailures[reason] ?? 0);
    expect(grew('unknown_token')).to.equal(1);
    expect(grew('missing')).to.equal(1);
    expect(grew('missing_scope')).to.equal(1);

    await waitFor(() => psp.logLines.some((l) => l.includes('"reason":"unknown_token"')), 'the refusal in the log');
    const refusals = psp.logLines.filter((l) => l.includes('authentication failed'));
    expect(refusals.some((l) => l.includes('"method":"Check"') && l.includes('"reason":"unknown_token"'))).to.equal(true);
    expect(refusals.some((l) => l.includes('"reason":"missing_scope"') && l.includes('"token":"dashboard"'))).to.equal(true);
    const everything = psp.logLines.join('\n');
    for (const secret of [wrong, statusOnly, admin, checkOnly, legacy]) expect(everything).to.not.contain(secret);

    const metrics = createNodeMetrics(metricsSources(psp.parts));
    try {
      const text = await metrics.scrape();
      expect(text).to.match(/mamori_auth_failures_total\{reason="unknown_token",member="psp-c"\} [1-9]/);
      expect(text).to.match(/mamori_auth_failures_total\{reason="missing_scope",member="psp-c"\} [1-9]/);
    } finally {
      metrics.close();
    }
  });

  it("audits GetHashingKeys and MirrorFilter with the token's name", async () => {
    await call(stub, 'GetHashingKeys', metadataWith(`Bearer ${checkOnly}`));
    await call(stub, 'MirrorFilter', metadataWith(`Bearer ${checkOnly}`));
    psp.parts.audit.flush();
    const rows = psp.parts.audit.store.last(50);
    const keys = rows.find((r) => r.action === 'hashing-keys' && r.actor === 'client:checkout');
    const mirror = rows.find((r) => r.action === 'mirror-filter' && r.actor === 'client:checkout');
    expect(keys, 'hashing-keys row').to.not.equal(undefined);
    expect(JSON.parse(keys?.details ?? '{}')).to.deep.equal({ epochs: [1], upcoming: [] });
    expect(mirror, 'mirror-filter row').to.not.equal(undefined);
    expect(JSON.parse(mirror?.details ?? '{}')).to.have.keys(['items', 'bytes']);
  });
});
