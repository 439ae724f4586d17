import type * as grpc from '@grpc/grpc-js';

/** Resolves true on 'drain', false when the call is cancelled or closed first. */
export function waitForDrain(call: grpc.ServerWritableStream<unknown, unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    const onDrain = () => done(true);
    const onGone = () => done(false);
    function done(ok: boolean) {
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
