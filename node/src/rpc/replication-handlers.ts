// The Replication service: heads, paged Fetch and live Follow, served to peers whose
// certificate names a current member. Both streams respect backpressure: when write()
// returns false they wait for 'drain', and a follower that falls too far behind is cut
// off (it resumes with Fetch) instead of growing this node's memory.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ReplicationHandlers } from '../../../proto/gen/mamori/v1/Replication';
import type { Entry } from '../../../proto/gen/mamori/v1/Entry';
import type { FetchRequest__Output } from '../../../proto/gen/mamori/v1/FetchRequest';
import type { FollowRequest__Output } from '../../../proto/gen/mamori/v1/FollowRequest';
import type { PeerEvaluateRequest__Output } from '../../../proto/gen/mamori/v1/PeerEvaluateRequest';
import type { PeerEvaluateStreamRequest__Output } from '../../../proto/gen/mamori/v1/PeerEvaluateStreamRequest';
import type { PeerEvaluateStreamResponse } from '../../../proto/gen/mamori/v1/PeerEvaluateStreamResponse';
import { answerStreamHandler } from './answer-stream';
import type { NodeLimits } from '../config/limits-schema';
import type { ReplicationPorts } from './ports';
import { MamoriError } from '../ledger/errors';
import { FeedServer } from '../replication/feed-server';
import type { RawEntry } from '../replication/types';
import { replicationGuard } from './limits';
import { toServiceError } from './status-mapping';
import type { StreamWatch } from './streams';
import { unary } from './unary';
import { isOperatorCertificate } from '../crypto/certificates';

/**
 * Evaluations one peer's EvaluateStream may have outstanding. A node sends at most
 * EVALUATE_STREAM_MAX_WAITING (rpc/evaluator-link.ts) on its stream and the rest by unary calls.
 */
export const MAX_EVALUATIONS_IN_FLIGHT_PER_STREAM = 64;

/** Entries a slow follower may have queued before its stream is ended. */
const FOLLOW_QUEUE_LIMIT = 2048;

export type PeerIdentifier = (call: { getAuthContext?: () => { sslPeerCertificate?: unknown } | null; metadata: grpc.Metadata }) => string;


export function replicationHandlers(ports: ReplicationPorts, limits: NodeLimits, log: Logger, identify: PeerIdentifier, streams: StreamWatch): ReplicationHandlers {
  const requireMember = (call: Parameters<PeerIdentifier>[0]): string => {
    const peer = identify(call);
    if (!ports.isMember(peer)) throw MamoriError.permissionDenied(`"${peer}" is not a current member of the consortium`);
    return peer;
  };
  /** Who offers a document, for the audit and the rate limit: a member id (known here or not), the operator, or neither. */
  const offerSource = (call: Parameters<PeerIdentifier>[0]): string => {
    try {
      return `peer ${identify(call)}`;
    } catch {
      const cert = call.getAuthContext?.()?.sslPeerCertificate as Parameters<typeof isOperatorCertificate>[0];
      return isOperatorCertificate(cert) ? 'operator' : 'a caller whose certificate names no member';
    }
  };
  const evaluate = async (peer: string, request: PeerEvaluateRequest__Output): Promise<{ elements: Buffer }> => {
    if (!ports.evaluator) throw MamoriError.failedPrecondition('the consortium file in force has no oprf section: this node evaluates nothing');
    const elements = await ports.evaluator.evaluate(peer, {
      setId: request.setId,
      groups: (request.groups ?? []).map((g) => g.labels ?? []),
      items: (request.items ?? []).map((item) => ({ bin: item.bin, blinded: item.blinded })),
    });
    return { elements };
  };
  // Rate limits per peer member (limits.ts).
  const guard = replicationGuard(ports.observer, limits);
  // What is served, without the transport (replication/feed-server.ts).
  const feeds = new FeedServer({
    committedHeads: () => ports.heads(),
    entriesOf: (origin, fromSeq, limit) => ports.entriesOf(origin, fromSeq, limit),
    onCommitted: (listener) => {
      ports.committed.on('committed', listener);
      return () => ports.committed.off('committed', listener);
    },
  });

  return {
    Heads: unary('Heads', log, (md) => void md, (_request, call) => {
      guard.heads.take(requireMember(call));
      return { heads: feeds.heads().map((h) => ({ origin: h.origin, seq: h.seq, headHash: h.hash })), consortiumVersion: ports.consortium.version() };
    }),

    // The document in force, for a current member whose Heads call showed it a higher version.
    GetConsortium: unary('GetConsortium', log, (md) => void md, (_request, call) => {
      const peer = requireMember(call);
      guard.consortium.take(peer);
      return { signedDocument: ports.consortium.signedDocument(), version: ports.consortium.version() };
    }),

    // Open to any caller with a certificate from the consortium CA (the peer gate lets this call
    // through): the document's own operator signature is what makes it acceptable.
    OfferConsortium: unary('OfferConsortium', log, (md) => void md, (request, call) => {
      const source = offerSource(call);
      guard.consortium.take(source);
      const document = request.signedDocument;
      if (!document || document.length === 0) throw MamoriError.invalidArgument('signed_document', 'is empty: send the consortium file\'s JSON { document, signature }');
      return ports.consortium.offer(document, source);
    }),

    // Threshold-PRF evaluation for the calling member (docs/oprf.md): counted against its budgets.
    Evaluate: unary('Evaluate', log, (md) => void md, (request, call) => evaluate(requireMember(call), request)),

    // The same on one open stream; membership is asked again for every message, so a member
    // removed while its stream is open gets no more answers.
    EvaluateStream: answerStreamHandler<PeerEvaluateStreamRequest__Output, PeerEvaluateStreamResponse & { id: number }, string>({
      method: 'EvaluateStream',
      log,
      streams,
      authenticate: (call) => requireMember(call),
      answer: async (message, peer) => {
        if (!message.evaluate) throw MamoriError.invalidArgument('evaluate', 'missing: each message carries one PeerEvaluateRequest');
        if (!ports.isMember(peer)) throw MamoriError.permissionDenied(`"${peer}" is not a current member of the consortium`);
        return { evaluate: await evaluate(peer, message.evaluate) };
      },
      maxInFlight: MAX_EVALUATIONS_IN_FLIGHT_PER_STREAM,
      tooManyWaiting: `more than ${MAX_EVALUATIONS_IN_FLIGHT_PER_STREAM} evaluations waiting on one EvaluateStream: read the answers before sending more`,
      callerName: (peer) => peer,
      endedForNotReading: 'evaluate stream ended: its peer sends evaluations and does not read the answers',
    }),

    Fetch: (call: grpc.ServerWritableStream<FetchRequest__Output, Entry>) => {
      void (async () => {
        const peer = requireMember(call);
        guard.fetches.take(peer);
        const { origin, fromSeq } = call.request;
        const { sent, complete } = await feeds.fetch(call.request, (entry) => call.write(entry) || streams.waitForDrain(call), () => call.cancelled);
        if (!complete) return;
        // The origin is the peer's string: named only when it is a member.
        log.debug({ peer, origin: ports.isMember(origin) ? origin : '(not a member)', fromSeq, sent }, 'fetch served');
        call.end();
      })().catch((error: unknown) => {
        call.emit('error', toServiceError(error, log, 'Fetch'));
      });
    },

    Follow: (call: grpc.ServerWritableStream<FollowRequest__Output, Entry>) => {
      let peer: string;
      try {
        peer = requireMember(call);
      } catch (error) {
        call.emit('error', toServiceError(error, log, 'Follow'));
        return;
      }
      const queue: Entry[] = [];
      let waiting = false;
      let ended = false;
      const pump = () => {
        while (queue.length > 0 && !waiting && !ended) {
          const entry = queue.shift() as Entry;
          if (!call.write(entry)) {
            waiting = true;
            void streams.waitForDrain(call).then((ok) => {
              waiting = false;
              if (ok) pump();
            });
          }
        }
      };
      const onCommitted = (entries: RawEntry[]) => {
        if (ended) return;
        if (!ports.isMember(peer)) {
          // Removed by a newer consortium file while connected: nothing more for it.
          stop();
          call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: `"${peer}" is no longer a member of the consortium` });
          return;
        }
        for (const e of entries) queue.push({ body: e.body, signature: e.signature });
        if (queue.length > FOLLOW_QUEUE_LIMIT) {
          const queued = queue.length;
          stop();
          log.warn({ peer, queued }, 'a follower fell too far behind; its stream is ended and it resumes with Fetch');
          // ABORTED, not RESOURCE_EXHAUSTED: flow control, not a fault of the follower's peer.
          call.emit('error', { code: grpc.status.ABORTED, details: 'follower too far behind; resume with Fetch' });
          return;
        }
        pump();
      };
      const stop = () => {
        ended = true;
        queue.length = 0;
        unsubscribe();
      };
      const unsubscribe = feeds.follow(onCommitted);
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      // Tell the follower it is subscribed: an empty message marks the point from which
      // nothing committed is missed (it compares heads after this).
      call.sendMetadata(new grpc.Metadata());
    },
  };
}
