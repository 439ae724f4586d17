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
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 10);
    await sleep(10_000, controller.signal);
    expect(Date.now() - started).to.be.below(1000);
  });
});
