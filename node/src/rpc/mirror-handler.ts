// MirrorFilter: the node's Bloom filter streamed to a member-local client (the SDK's
// in-process mirror), then every selector committed from then on. The copy of the bits and
// the subscription to commits happen in the same turn of the event loop, so nothing falls
// between them. Memory is bounded: a client that reads too slowly is cut off and reloads.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { MirrorFilterRequest__Output } from '../../../proto/gen/mamori/v1/MirrorFilterRequest';
import type { MirrorMessage } from '../../../proto/gen/mamori/v1/MirrorMessage';
import type { ExchangePorts } from './ports';
import type { AcceptedEntry } from '../ledger/acceptance';
import type { Authenticator, Caller } from './auth';
import { toServiceError } from './status-mapping';
import type { StreamWatch } from './streams';

const HEARTBEAT_MS = 1000;
/**
 * Bits chunks of 1 MiB and 8,192 digests (256 KiB) per message, or half the node's message-size
 * cap when that is smaller, so a node configured with a small cap still serves mirrors.
 */
function messageSizes(maxMessageBytes: number): { chunkBytes: number; digestsPerMessage: number } {
  const budget = Math.floor(maxMessageBytes / 2);
  return { chunkBytes: Math.min(1024 * 1024, budget), digestsPerMessage: Math.min(8192, Math.floor(budget / 32)) };
}
/**
 * Digests waiting for a slow client before its stream is ended (64 MiB). A bulk commit of
 * hundreds of thousands passes through: the queue only grows while the client does not read.
 */
const MAX_QUEUED_DIGESTS = 2_000_000;

export function mirrorFilterHandler(
  ports: Pick<ExchangePorts, 'filter' | 'committed' | 'audit' | 'membership'>,
  maxMessageBytes: number,
  log: Logger,
  authenticate: Authenticator,
  streams: StreamWatch,
) {
  const { filter, committed } = ports;
  return (call: grpc.ServerWritableStream<MirrorFilterRequest__Output, MirrorMessage>): void => {
    let caller: Caller;
    try {
      caller = authenticate(call.metadata, 'MirrorFilter');
    } catch (error) {
      call.emit('error', toServiceError(error, log, 'MirrorFilter'));
      return;
    }
    const { chunkBytes, digestsPerMessage } = messageSizes(maxMessageBytes);
    const { params, items, bits } = filter.copy();
    // Who downloaded the filter is audited: a copy lets its holder test selectors offline.
    ports.audit.record(caller.actor, 'mirror-filter', { items, bytes: bits.length });
    const queue: MirrorMessage[] = [];
    let queuedDigests = 0;
    let closed = false;
    let writing = false;

    const onCommitted = (entries: readonly AcceptedEntry[]) => {
      // Under the "oblivious" phase no keyed PAN selector goes to a mirror (a peer still on an
      // older file may publish one): a client holding a hashing key tests nothing against it.
      const keyedPans = ports.membership.panSelectorPhase() !== 'oblivious';
      const digests = entries.flatMap((e) =>
        (e.publication?.indicators ?? []).flatMap((ind) => ind.selectors.filter((s) => keyedPans || s.type !== 'SELECTOR_TYPE_PAN').map((s) => s.digest)),
      );
      if (digests.length === 0) return;
      for (let i = 0; i < digests.length; i += digestsPerMessage) {
        queue.push({ added: { digests: Buffer.concat(digests.slice(i, i + digestsPerMessage)) } });
      }
      queuedDigests += digests.length;
      if (queuedDigests > MAX_QUEUED_DIGESTS) return finish({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'mirror client too slow; reload the filter' });
      void pump();
    };
    const onReplaced = () => finish();
    const heartbeat = setInterval(() => {
      queue.push({ heartbeatMs: Date.now() });
      void pump();
    }, HEARTBEAT_MS);

    function finish(status?: Partial<grpc.StatusObject>) {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      committed.off('committed', onCommitted);
      filter.off('replaced', onReplaced);
      queue.length = 0;
      if (status) call.emit('error', status);
      else if (!call.cancelled) call.end();
    }

    async function pump(): Promise<void> {
      if (writing) return;
      writing = true;
      try {
        while (queue.length > 0 && !closed) {
          const message = queue.shift() as MirrorMessage;
          if (message.added) queuedDigests -= (message.added.digests as Buffer).length / 32;
          if (!call.write(message) && !(await streams.waitForDrain(call))) return finish();
        }
      } finally {
        writing = false;
      }
    }

    committed.on('committed', onCommitted);
    filter.on('replaced', onReplaced);
    call.on('cancelled', () => finish());
    call.on('close', () => finish());
    queue.unshift(
      { header: { bits: params.bits, hashes: params.hashes, capacity: params.capacity, targetFpRate: params.targetFpRate, items, totalBytes: bits.length } },
      ...Array.from({ length: Math.ceil(bits.length / chunkBytes) }, (_, i) => ({ bitsChunk: bits.subarray(i * chunkBytes, (i + 1) * chunkBytes) })),
    );
    void pump();
  };
}
