import * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/**
 * How long a server stream may wait for its client to read before it is reset. A client that
 * stops reading holds the stream's buffers (and, for MirrorFilter, a copy of the filter) until
 * the connection ends; the connection-age limit alone would keep them for an hour.
 */
export const DEFAULT_STREAM_STALL_MS = 60_000;

/** A server stream the node writes to: server-streaming or bidirectional. */
type WrittenStream = grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

/** Backpressure of one server's streams: the stall limit (`limits.streamStallMs`) and who is told of a reset. */
export class StreamWatch {
  constructor(
    private readonly stallMs: number = DEFAULT_STREAM_STALL_MS,
    private readonly onReset: () => void = () => undefined,
  ) {}

  /**
   * Resolves true on 'drain', false when the call is cancelled or closed first. A client that
   * does not read for the stall limit has its stream reset: the call is then cancelled, so the
   * handler's own cancellation path frees what it holds.
   */
  waitForDrain(call: WrittenStream): Promise<boolean> {
    return waitForDrain(call, this.stallMs, () => {
      this.onReset();
      resetStalledStream(call);
    });
  }
}

function waitForDrain(call: WrittenStream, stallMs: number, stalled: () => void): Promise<boolean> {
  return new Promise((resolve) => {
    const onDrain = () => done(true);
    const onGone = () => done(false);
    const stall = setTimeout(() => {
      done(false);
      stalled();
    }, stallMs);
    stall.unref();
    function done(ok: boolean) {
      clearTimeout(stall);
      call.off('drain', onDrain);
      call.off('cancelled', onGone);
      call.off('close', onGone);
      resolve(ok);
    }
    call.on('drain', onDrain);
    call.on('cancelled', onGone);
    call.on('close', onGone);
  });
}

/**
 * A status cannot reach a client that does not read (it queues behind the unread messages), so
 * the HTTP/2 stream is reset. grpc-js keeps it in private fields of the call's interceptor chain;
 * if they are not found, ABORTED is emitted instead, which at least stops the handler.
 */
function resetStalledStream(call: WrittenStream): void {
  let link: unknown = (call as unknown as { call?: unknown }).call;
  for (let depth = 0; depth < 8 && link && typeof link === 'object'; depth++) {
    const stream = (link as { stream?: Partial<http2.ServerHttp2Stream> }).stream;
    if (stream && typeof stream.close === 'function' && 'session' in stream) {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    link = (link as { nextCall?: unknown }).nextCall;
  }
  call.emit('error', { code: 10 /* ABORTED */, details: 'the client stopped reading this stream' });
}
