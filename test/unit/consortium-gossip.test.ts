// Whom a node asks for a newer consortium document and whom it tells (replication/consortium-gossip.ts),
// without a network: a peer ahead is asked once per advertised version, a peer behind or one
// that refused this node is offered once per version of ours, and a failure to reach it is tried
// again. What is taken is the intake's decision (covered with real processes in
// test/consortium/formation.test.ts).
import { expect } from 'chai';
import pino from 'pino';
import { MamoriError } from '../../node/src/ledger/errors';
import { ConsortiumGossip, type LocalConsortium } from '../../node/src/replication/consortium-gossip';
import { PeerRefusedDocument, type ConsortiumChannel } from '../../node/src/replication/types';

const log = pino({ level: 'silent' });

/** The node's side: a version and a document text; offer() takes a higher version, refuses the rest. */
function local(version: number): LocalConsortium & { offered: string[]; version(): number } {
  let v = version;
  const offered: string[] = [];
  return {
    offered,
    version: () => v,
    signedDocument: () => Buffer.from(`document ${v}`),
    offer: (text, source) => {
      offered.push(`${source}: ${text.toString()}`);
      const n = Number(/document (\d+)/.exec(text.toString())?.[1]);
      if (!(n > v)) throw MamoriError.failedPrecondition(`signed_document.document.version: ${n} is not newer`);
      v = n;
      return { taken: true, versionInForce: n };
    },
  };
}

/** A peer's channel at a version; `answer` decides what its OfferConsortium does. */
function channel(version: number, answer: (text: string) => Promise<{ taken: boolean; versionInForce: number }> = async () => ({ taken: true, versionInForce: version })) {
  const calls = { get: 0, offers: [] as string[] };
  const c: ConsortiumChannel = {
    advertised: () => version,
    get: async () => {
      calls.get++;
      return Buffer.from(`document ${version}`);
    },
    offer: async (doc) => {
      calls.offers.push(doc.toString());
      return answer(doc.toString());
    },
  };
  return { channel: c, calls };
}

describe('unit: consortium gossip', () => {
  it('fetches from a peer that advertises a higher version and hands it to the intake, naming the peer', async () => {
    const node = local(3);
    const gossip = new ConsortiumGossip(node, log);
    const peer = channel(5);
    await gossip.afterHeads('issuer-a', peer.channel);
    expect(peer.calls.get).to.equal(1);
    expect(node.offered).to.deep.equal(['peer issuer-a: document 5']);
    expect(node.version()).to.equal(5);
    await gossip.afterHeads('issuer-a', peer.channel);
    expect(peer.calls.get, 'equal versions: nothing to fetch').to.equal(1);
    expect(peer.calls.offers, 'equal versions: nothing to offer').to.deep.equal([]);
  });

  it('does not fetch again, from the same peer at the same advertised version, a document the intake refused', async () => {
    const node = local(3);
    node.offer = (text, source) => {
      node.offered.push(`${source}: ${text.toString()}`);
      throw MamoriError.invalidArgument('signed_document.signature', 'does not verify');
    };
    const gossip = new ConsortiumGossip(node, log);
    const peer = channel(9);
    await gossip.afterHeads('psp-c', peer.channel);
    await gossip.afterHeads('psp-c', peer.channel);
    expect(peer.calls.get).to.equal(1);
    expect(node.version()).to.equal(3);
    // Another peer advertising the same version is still asked.
    const other = channel(9);
    await gossip.afterHeads('issuer-a', other.channel);
    expect(other.calls.get).to.equal(1);
  });

  it('offers its document once per version to a peer that is behind', async () => {
    const node = local(6);
    const gossip = new ConsortiumGossip(node, log);
    const peer = channel(4);
    await gossip.afterHeads('acquirer-b', peer.channel);
    await gossip.afterHeads('acquirer-b', peer.channel);
    expect(peer.calls.offers).to.deep.equal(['document 6']);
    expect(peer.calls.get).to.equal(0);
  });

  it('ignores a peer that advertises no version (a node from before the field)', async () => {
    const gossip = new ConsortiumGossip(local(2), log);
    const peer = channel(0);
    await gossip.afterHeads('acquirer-b', peer.channel);
    await gossip.afterHeads('acquirer-b', undefined);
    expect(peer.calls).to.deep.equal({ get: 0, offers: [] });
  });

  it('offers its document to a peer that refused it as a non-member: again after a network failure, not after the peer refused the document', async () => {
    const node = local(5);
    const gossip = new ConsortiumGossip(node, log);
    let reachable = false;
    const peer = channel(0, async () => {
      if (!reachable) throw new MamoriError('UNAVAILABLE', 'peer: connection refused');
      throw new PeerRefusedDocument('FAILED_PRECONDITION', 'peer: signed_document.document.version: 5 is older than version 6 in force');
    });
    await gossip.refusedBy('issuer-d', peer.channel);
    expect(peer.calls.offers).to.have.length(1);
    await gossip.refusedBy('issuer-d', peer.channel);
    expect(peer.calls.offers, 'tried again: the first offer never arrived').to.have.length(2);
    reachable = true;
    await gossip.refusedBy('issuer-d', peer.channel);
    await gossip.refusedBy('issuer-d', peer.channel);
    expect(peer.calls.offers, 'refused as not newer: not offered again at this version').to.have.length(3);
    // A newer version of ours is offered again.
    node.offer(Buffer.from('document 7'), 'file');
    await gossip.refusedBy('issuer-d', peer.channel);
    expect(peer.calls.offers).to.have.length(4);
    expect(peer.calls.offers[3]).to.equal('document 7');
  });

  it('never throws: a peer whose GetConsortium fails is asked again on its next Heads answer', async () => {
    const node = local(1);
    const gossip = new ConsortiumGossip(node, log);
    let fail = true;
    const c: ConsortiumChannel = {
      advertised: () => 2,
      get: async () => {
        if (fail) throw new MamoriError('UNAVAILABLE', 'peer: deadline exceeded');
        return Buffer.from('document 2');
      },
      offer: async () => ({ taken: false, versionInForce: 2 }),
    };
    await gossip.afterHeads('issuer-a', c);
    expect(node.version()).to.equal(1);
    fail = false;
    await gossip.afterHeads('issuer-a', c);
    expect(node.version()).to.equal(2);
  });
});
