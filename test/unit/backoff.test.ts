// The one backoff of node and SDK (proto/ts/backoff.ts): exponential with jitter, capped.
import { expect } from 'chai';
import { backoffDelay, sleep } from '../../proto/ts/backoff';

describe('unit: backoff', () => {
  it('waits from half the base up to min(max, base * 2^attempt)', () => {
    expect(backoffDelay(0, 100, 2000, () => 0)).to.equal(50);
    expect(backoffDelay(0, 100, 2000, () => 1)).to.equal(100);
    expect(backoffDelay(3, 100, 2000, () => 1)).to.equal(800);
    expect(backoffDelay(10, 100, 2000, () => 1)).to.equal(2000);
    expect(backoffDelay(1_000, 100, 2000, () => 1), 'a huge attempt count stays finite').to.equal(2000);
    for (let attempt = 0; attempt < 20; attempt++) {
      const d = backoffDelay(attempt, 200, 10_000);
      expect(d).to.be.within(100, 10_000);
    }
  });

  it('sleep ends early when its signal aborts', async () => {
    // No clock: the timer is the longest Node allows (~24.8 days), so only the abort can end the wait.
    const LONGEST_TIMER_MS = 2 ** 31 - 1;
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    const controller = new AbortController();
    let ended = false;
    const waiting = sleep(LONGEST_TIMER_MS, controller.signal).then(() => (ended = true));
    await turn();
    expect(ended, 'ended before the abort').to.equal(false);
    controller.abort();
    await turn();
    expect(ended, 'ended within one turn of the abort').to.equal(true);
    await waiting;
    // A signal already aborted: no wait at all.
    let already = false;
    const none = sleep(LONGEST_TIMER_MS, controller.signal).then(() => (already = true));
    await turn();
    expect(already).to.equal(true);
    await none;
  });
});
