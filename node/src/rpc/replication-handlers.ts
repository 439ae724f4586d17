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
import type { NodeLimits } from '../config/limits-schema';
import type { ReplicationPorts } from './ports';
import type { AcceptedEntry } from '../ledger/acceptance';
import { MamoriError } from '../ledger/errors';
import { MEMBER_ID_PATTERN } from '../ledger/limits';
import { replicationGuard } from './limits';
import { toServiceError } from './status-mapping';
import type { StreamWatch } from './streams';
import { unary } from './unary';

/** Entries read from SQLite per page of a Fetch. */
const FETCH_PAGE = 16;
/** Entries sent per Fetch call at most; the peer asks again from where it got to. */
const FETCH_LIMIT = 4096;
/** Entries a slow follower may have queued before its stream is ended. */
const FOLLOW_QUEUE_LIMIT = 2048;

export type PeerIdentifier = (call: { getAuthContext?: () => { sslPeerCertificate?: unknown } | null; metadata: grpc.Metadata }) => string;


export function replicationHandlers(ports: ReplicationPorts, limits: NodeLimits, log: Logger, identify: PeerIdentifier, streams: StreamWatch): ReplicationHandlers {
  const requireMember = (call: Parameters<PeerIdentifier>[0]): string => {
    const peer = identify(call);
    if (!ports.isMember(peer)) throw MamoriError.permissionDenied(`"${peer}" is not a current member of the consortium`);
    return peer;
  };
  // Rate limits per peer member (limits.ts).
  const guard = replicationGuard(ports.observer, limits);

  return {
    Heads: unary('Heads', log, (md) => void md, (_request, call) => {
      guard.heads.take(requireMember(call));
      return { heads: [...ports.heads()].map(([origin, h]) => ({ origin, seq: h.seq, headHash: h.hash })) };
    }),

    Fetch: (call: grpc.ServerWritableStream<FetchRequest__Output, Entry>) => {
      void (async () => {
        const peer = requireMember(call);
        guard.fetches.take(peer);
        const { origin, fromSeq, limit } = call.request;
        if (!MEMBER_ID_PATTERN.test(origin)) throw MamoriError.invalidArgument('origin', 'must be a member id');
        if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) throw MamoriError.invalidArgument('fromSeq', 'must be 1 or more');
        const max = limit > 0 ? Math.min(limit, FETCH_LIMIT) : FETCH_LIMIT;
        let next = fromSeq;
        let sent = 0;
        while (sent < max && !call.cancelled) {
          const page = ports.entriesOf(origin, next, Math.min(FETCH_PAGE, max - sent));
          for (const row of page) {
            sent++;
            next = row.seq + 1;
            if (!call.write({ body: row.body, signature: row.signature }) && !(await streams.waitForDrain(call))) return;
          }
          if (page.length < FETCH_PAGE) break;
        }
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
      const onCommitted = (entries: readonly AcceptedEntry[]) => {
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
        ports.committed.off('committed', onCommitted);
      };
      ports.committed.on('committed', onCommitted);
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      // Tell the follower it is subscribed: an empty message marks the point from which
      // nothing committed is missed (it compares heads after this).
      call.sendMetadata(new grpc.Metadata());
    },
  };
}
