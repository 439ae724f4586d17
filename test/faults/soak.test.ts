// Sustained mixed load on three real node processes (scripts/soak.ts): checks, steady
// publications at two members, replication to the third. MAMORI_SOAK_MINUTES sets the length
// (default 3).
import { expect } from 'chai';
import { formatSoak, runSoak } from '../../scripts/soak';

const MINUTES = Number(process.env.MAMORI_SOAK_MINUTES ?? 3);
/**
 * RSS slope bound over the second half, MB per minute. A node's RSS is a sawtooth: V8 lets the
 * heap grow between major collections and then returns it (measured here under this load:
 * 111 -> 175 -> 132 MB, rising at up to ~20-30 MB/min), so a half-window can catch a rising edge.
 * A leak adds to that: state retained per check at ~5,000 checks/s leaks 45 MB/min at only
 * 150 bytes a check (less than one retained closure), so slope plus sawtooth passes the bound.
 */
const RSS_SLOPE_BOUND_MB_PER_MIN = 45;
/** A node holding this consortium's few thousand entries and a 3.6 MB filter needs far less. */
const RSS_CEILING_MB = 400;

describe('faults: sustained mixed load on three nodes', function () {
  it(`checks, publications and replication for ${MINUTES} min: no errors, everything replicated, no RSS growth trend`, async () => {
    const r = await runSoak({ minutes: MINUTES, log: (m) => console.log(`      ${m}`) });
    console.log(
      formatSoak(r)
        .split('\n')
        .map((l) => `      ${l}`)
        .join('\n'),
    );
    expect(r.nodesUp, 'every node stayed up').to.equal(true);
    // Rate limits are configured far above the load: a RESOURCE_EXHAUSTED here would be a fault too.
    expect(r.errors, 'failed or degraded calls by code').to.deep.equal({});
    expect(r.checks).to.be.greaterThan(0);
    expect(r.publications, 'publications at the planned rate (two publishers, two a second each)').to.be.at.least(MINUTES * 60 * 4 * 0.5);
    expect(r.notReplicatedCards, 'published cards not listed at the third member').to.equal(0);
    expect(r.lagObserved, 'replication observed for every publication').to.equal(r.publications);
    for (const [id, n] of Object.entries(r.rss)) {
      expect(n.secondHalfSlopeMBPerMin, `${id}: RSS slope over the second half`).to.be.below(RSS_SLOPE_BOUND_MB_PER_MIN);
      expect(n.maxMB, `${id}: RSS`).to.be.below(RSS_CEILING_MB);
    }
  });
});
