// The consortium document travels with replication (docs/design.md#membership-carried-by-replication):
// every Heads answer advertises the version in force at the peer. A peer ahead is asked for its
// document (GetConsortium), a peer behind is offered ours (OfferConsortium), and a peer that
// refuses this node as a non-member is offered ours too: it may not have learnt yet that the
// operator added this member. Whatever comes in goes through the node's intake
// (membership/consortium-intake.ts), which takes only a validly signed, newer document; this
// module only decides whom to ask and whom to tell, and never asks twice for what was refused.
import type { Logger } from 'pino';
import type { IntakeAnswer } from '../membership/consortium-intake';
import { PeerRefusedDocument, type ConsortiumChannel } from './types';

/** The node's side: the document in force and the intake. */
export interface LocalConsortium {
  version(): number;
  signedDocument(): Buffer;
  /** Throws on refusal (the intake counts, logs and audits it). */
  offer(signedDocument: Buffer, source: string): IntakeAnswer;
}

export class ConsortiumGossip {
  /** Per peer: the highest of our versions it has answered for (taken, or refused as not newer): not offered again. */
  private readonly answered = new Map<string, number>();
  /** Per peer: an advertised version whose document this node refused: not fetched again. */
  private readonly refusedFrom = new Map<string, number>();
  private readonly busy = new Set<string>();

  constructor(
    private readonly local: LocalConsortium,
    private readonly log: Logger,
  ) {}

  /** After a Heads answer from the peer: fetch a higher version, offer ours to a peer behind. */
  async afterHeads(peer: string, channel: ConsortiumChannel | undefined): Promise<void> {
    if (!channel) return;
    const theirs = channel.advertised();
    if (theirs === 0) return; // a node that does not advertise: nothing to compare
    const ours = this.local.version();
    if (theirs > ours) await this.fetchFrom(peer, channel, theirs);
    else if (theirs < ours) await this.offerTo(peer, channel);
  }

  /** The peer refused this node's call as from a non-member: offer it our document (once per version). */
  async refusedBy(peer: string, channel: ConsortiumChannel | undefined): Promise<void> {
    if (channel) await this.offerTo(peer, channel);
  }

  /** Offers our document unless the peer already answered for this version. Never throws. */
  async offerTo(peer: string, channel: ConsortiumChannel): Promise<void> {
    const version = this.local.version();
    if ((this.answered.get(peer) ?? 0) >= version || this.busy.has(`offer ${peer}`)) return;
    this.busy.add(`offer ${peer}`);
    try {
      const answer = await channel.offer(this.local.signedDocument());
      this.answered.set(peer, version);
      if (answer.taken) this.log.info({ peer, version }, 'a peer took this node\'s consortium document');
    } catch (error) {
      if (error instanceof PeerRefusedDocument) {
        // Not newer there, or not usable by it: telling it again would change nothing.
        this.answered.set(peer, version);
        this.log.debug({ peer, version, reason: error.message }, 'a peer did not take this node\'s consortium document');
      } else {
        this.log.debug({ peer, version, err: error instanceof Error ? error.message : String(error) }, 'offering the consortium document to a peer failed; offered again on the next contact');
      }
    } finally {
      this.busy.delete(`offer ${peer}`);
    }
  }

  private async fetchFrom(peer: string, channel: ConsortiumChannel, advertised: number): Promise<void> {
    if (this.refusedFrom.get(peer) === advertised || this.busy.has(`fetch ${peer}`)) return;
    this.busy.add(`fetch ${peer}`);
    let text: Buffer;
    try {
      text = await channel.get();
    } catch (error) {
      this.log.debug({ peer, advertised, err: error instanceof Error ? error.message : String(error) }, 'fetching the consortium document from a peer failed; asked again on the next contact');
      this.busy.delete(`fetch ${peer}`);
      return;
    }
    try {
      this.local.offer(text, `peer ${peer}`);
    } catch {
      // Refused: the intake counted, logged and audited why. Do not ask this peer for it again.
      this.refusedFrom.set(peer, advertised);
    } finally {
      this.busy.delete(`fetch ${peer}`);
    }
  }
}
