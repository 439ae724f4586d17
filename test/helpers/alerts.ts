// Reading a member's alert stream in tests, and expecting a typed refusal from the SDK.
import { expect } from 'chai';
import type { MamoriClient } from '../../client-sdk/src/client';
import type { MamoriAlert } from '../../client-sdk/src/alerts';
import { MamoriClientError } from '../../client-sdk/src/errors';

/** Every alert a member's node holds after a cursor (a replay, no follow). */
export async function replay(client: MamoriClient, after = 0): Promise<MamoriAlert[]> {
  const alerts: MamoriAlert[] = [];
  for await (const a of client.alerts({ after })) alerts.push(a);
  return alerts;
}

/** The next value of an iterator, or a failure after `ms` (a bound, not a sleep). */
export async function nextWithin<T>(iterator: AsyncIterator<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    const r = await Promise.race([iterator.next(), timeout]);
    if (r.done) throw new Error(`the iterator ended while waiting for ${what}`);
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

/** The SDK error a call is refused with, after checking its code. */
export async function expectRefused(promise: Promise<unknown>, code: string): Promise<MamoriClientError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(MamoriClientError);
    expect((error as MamoriClientError).code).to.equal(code);
    return error as MamoriClientError;
  }
  throw new Error(`expected ${code}`);
}
