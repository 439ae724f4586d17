// A peer that follows and stops reading: the serving node waits on backpressure, and once
// more than its queue limit of entries is waiting it ends the Follow stream with ABORTED
// (the peer resumes with Fetch) instead of growing its memory.
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { loadGrpcTypes } from '../../node/src/rpc/grpc-types';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { MamoriClient } from '../../client-sdk/src/client';
import { makeConsortium, memberOf } from '../helpers/node-harness';
import { randomPan } from '../helpers/cards';
import { memberTlsTarget, runMemberNode } from '../helpers/ops';
import { waitFor } from '../helpers/wait';

/** More entries than the Follow queue holds (FOLLOW_QUEUE_LIMIT, 2,048) plus what the HTTP/2 windows absorb. */
const ENTRIES = 3_000;

describe('operations: a peer that stops reading its Follow stream', function () {
  this.timeout(180_000);
  let layout: DevConsortiumLayout;
  let psp: Awaited<ReturnType<typeof runMemberNode>>;
  let client: MamoriClient;

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    psp = await runMemberNode(layout, 'psp-c');
    client = MamoriClient.fromConfigFile(memberOf(layout, 'psp-c').clientConfig, { mode: 'remote', deadlineMs: 60_000 });
  });
  after(async () => {
    client?.close();
    await psp?.stop();
  });

  it('is cut off with ABORTED once too many entries wait, and the node keeps publishing', async () => {
    const at = memberTlsTarget(layout, 'acquirer-b', memberOf(layout, 'psp-c').endpoint);
    const peer = new (loadGrpcTypes().mamori.v1.Replication)(at.target, at.credentials, at.options);
    try {
      const follow = peer.Follow({});
      let received = 0;
      let stalled = true;
      let status: grpc.StatusObject | undefined;
      follow.on('status', (s: grpc.StatusObject) => (status = s));
      follow.on('error', () => undefined);
      follow.on('data', () => {
        received++;
        if (stalled) follow.pause(); // read one entry, then stop reading
      });

      let published = 0;
      for (let i = 0; i < ENTRIES; i += 50) {
        await Promise.all(Array.from({ length: 50 }, () => client.publishCompromisedCards([randomPan()], { reason: 'phishing' }).then(() => published++)));
        if (psp.logLines.some((l) => l.includes('a follower fell too far behind'))) break;
      }
      const line = await waitFor(() => psp.logLines.find((l) => l.includes('a follower fell too far behind')), 'the node to cut the slow follower off', 60_000);
      expect(JSON.parse(line)).to.include({ peer: 'acquirer-b' });
      expect(received).to.be.lessThan(published);

      stalled = false;
      follow.resume();
      const ended = await waitFor(() => status, 'the Follow stream to end', 60_000);
      expect(ended.code).to.equal(grpc.status.ABORTED);
      expect(ended.details).to.contain('resume with Fetch');
      // The publisher was never held up by the slow follower.
      expect((await client.status()).ownFeed?.seq).to.equal(published);
    } finally {
      peer.close();
    }
  });
});
