// Requests the fault-suite fuzzer found mishandled: bytes that are not a valid protobuf message
// (grpc-js answers those INTERNAL by itself) and an Unfreeze naming something that is not a
// member (it reached the log and the audit as given, card-number-looking or not).
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { sodiumReady } from '../../proto/ts/sodium';
import { bearer, filesUnder, makeConsortium, rawCall, rawExchange, startInProcessNode, type InProcessNode } from '../helpers/node-harness';
import { panForms, randomPan } from '../helpers/cards';
import { grpcError } from '../helpers/ops';

/** A unary call whose request is sent exactly as given. */
function rawBytesCall(target: string, path: string, request: Buffer, metadata: grpc.Metadata): Promise<grpc.ServiceError | undefined> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, request, metadata, { deadline: Date.now() + 10_000 }, (error) => {
      client.close();
      resolve(error ?? undefined);
    });
  });
}

describe('operations: malformed requests', function () {
  let n: InProcessNode;

  before(async () => {
    await sodiumReady();
    n = await startInProcessNode(await makeConsortium(), 'psp-c');
  });
  after(async () => {
    await n?.stop();
  });

  it('answers a request that is not a valid protobuf message with INVALID_ARGUMENT naming the request, and keeps serving', async () => {
    const cases = [
      Buffer.from([0x0a, 0x24, 0x08, 0x01]), // a selector whose length runs past the end
      Buffer.from([0x0f]), // wire type 7 does not exist
      Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // an 11-byte varint
    ];
    for (const path of ['/mamori.v1.Exchange/Check', '/mamori.v1.Exchange/Status', '/mamori.v1.Exchange/Publish']) {
      for (const bytes of cases) {
        const error = await rawBytesCall(n.target, path, bytes, bearer(n.token));
        expect(error?.code, `${path} ${bytes.toString('hex')}`).to.equal(grpc.status.INVALID_ARGUMENT);
        expect(error?.details).to.match(/^request: not a valid protobuf encoding/);
      }
    }
    const stub = rawExchange(n.target);
    const status = await rawCall<{ entries: number }>(stub, 'Status', {}, bearer(n.token));
    stub.close();
    expect(status.entries).to.equal(0);
    expect(n.logLines.some((l) => l.includes('"level":50')), 'no error logged for a client mistake').to.equal(false);
  });

  it('refuses to unfreeze an origin that is neither a member nor frozen (NOT_FOUND) before naming it in the log or the audit', async () => {
    const pan = randomPan();
    const stub = rawExchange(n.target);
    const unfreeze = (origin: string) =>
      new Promise<unknown>((resolve, reject) => stub.Unfreeze({ origin }, bearer(n.token), { deadline: Date.now() + 10_000 }, (e, v) => (e ? reject(e) : resolve(v))));
    const error = await grpcError(unfreeze(pan));
    expect(error.code).to.equal(grpc.status.NOT_FOUND);
    expect(error.details).to.match(/^origin: /).and.not.contain(pan);
    expect(await unfreeze('issuer-a')).to.deep.include({ wasFrozen: false });
    stub.close();
    await n.stop();
    const files = filesUnder(n.dataDir).map((f) => fs.readFileSync(f));
    for (const form of panForms(pan)) {
      expect(n.logLines.some((l) => l.includes(form)), 'in the log').to.equal(false);
      expect(files.some((bytes) => bytes.includes(Buffer.from(form))), 'in the data files (audit)').to.equal(false);
    }
  });
});
