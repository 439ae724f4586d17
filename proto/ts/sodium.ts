import _sodium from 'libsodium-wrappers';

export type Sodium = typeof _sodium;

let ready: Sodium | undefined;

/** Resolves once libsodium's WebAssembly is initialised; call before any crypto. */
export async function sodiumReady(): Promise<Sodium> {
  if (!ready) {
    await _sodium.ready;
    ready = _sodium;
  }
  return ready;
}

/** The initialised libsodium; throws if sodiumReady() has not completed. */
export function sodium(): Sodium {
  if (!ready) throw new Error('libsodium is not initialised: await sodiumReady() first');
  return ready;
}
