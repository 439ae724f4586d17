// Prometheus metrics of real nodes (`mamori start` in this process): checks and hits counted,
// latency histogram, filter and storage gauges, replication per peer — and never a card number.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../node/src/config/errors';
import { loadNodeConfig } from '../../node/src/config/node-config';
import { MamoriClient } from '../../client-sdk/src/client';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { makeConsortium, memberOf } from '../helpers/node-harness';
import { panForms, randomPan, randomPans } from '../helpers/cards';
import { runMemberNode, sample, scrape } from '../helpers/ops';
import { waitFor } from '../helpers/wait';

describe('operations: Prometheus metrics', function () {
  let layout: DevConsortiumLayout;
  let psp: Awaited<ReturnType<typeof runMemberNode>>;
  let acquirer: Awaited<ReturnType<typeof runMemberNode>>;
  let client: MamoriClient;
  const listed = randomPans(20);
  const unlisted = randomPans(5);

  before(async () => {
    await sodiumReady();
    layout = await makeConsortium();
    // Two members replicating over mutual TLS on their consortium endpoints; issuer-a stays down.
    const fast = { metricsListen: '127.0.0.1:0', antiEntropyIntervalMs: 200 };
    [psp, acquirer] = await Promise.all([runMemberNode(layout, 'psp-c', fast), runMemberNode(layout, 'acquirer-b', fast)]);
    client = MamoriClient.fromConfigFile(memberOf(layout, 'psp-c').clientConfig, { mode: 'remote', deadlineMs: 30_000 });
  });
  after(async () => {
    client?.close();
    await Promise.all([psp?.stop(), acquirer?.stop()]);
  });

  const metricsOf = async (node: typeof psp) => {
    const address = node.metrics?.address;
    if (!address) throw new Error('no metrics server');
    const scraped = await scrape(address);
    expect(scraped.status).to.equal(200);
    return scraped.body;
  };

  it('serves Prometheus text on /metrics, and nothing elsewhere', async () => {
    const scraped = await scrape(psp.metrics?.address ?? '');
    expect(scraped.contentType).to.match(/^text\/plain; version=0\.0\.4/);
    expect(scraped.body).to.contain('# TYPE mamori_checks_total counter');
    expect(scraped.body).to.contain('# TYPE mamori_check_duration_seconds histogram');
    expect(scraped.body).to.contain('process_cpu_seconds_total'); // the default process metrics
    expect((await scrape(psp.metrics?.address ?? '', '/')).status).to.equal(404);
  });

  it('counts checks and hits, observes check latency, and reports publications, filter and storage', async () => {
    const before = await metricsOf(psp);
    const checksBefore = sample(before, 'mamori_checks_total') ?? NaN;
    const hitsBefore = sample(before, 'mamori_check_hits_total') ?? NaN;
    const callsBefore = sample(before, 'mamori_check_duration_seconds_count') ?? NaN;

    const published = await client.publishCompromisedCards(listed, { reason: 'phishing', exposed: ['pan'] });
    expect(published.accepted).to.equal(listed.length);
    const results = await client.checkCards([...listed.slice(0, 3), ...unlisted]);
    expect(results.map((r) => r.listed)).to.deep.equal([true, true, true, false, false, false, false, false]);
    expect((await client.checkCard(randomPan())).listed).to.equal(false);

    const after = await metricsOf(psp);
    expect(sample(after, 'mamori_checks_total')).to.equal(checksBefore + 9);
    expect(sample(after, 'mamori_check_hits_total')).to.equal(hitsBefore + 3);
    expect(sample(after, 'mamori_check_duration_seconds_count')).to.be.at.least(callsBefore + 1);
    expect(sample(after, 'mamori_check_duration_seconds_bucket', { le: '+Inf' })).to.equal(sample(after, 'mamori_check_duration_seconds_count'));
    expect(sample(after, 'mamori_publications_total')).to.equal(1);
    expect(sample(after, 'mamori_published_indicators_total', { result: 'accepted' })).to.equal(listed.length);

    expect(sample(after, 'mamori_indicators')).to.be.at.least(listed.length);
    expect(sample(after, 'mamori_entries')).to.be.at.least(1);
    expect(sample(after, 'mamori_feed_seq', { origin: 'psp-c' })).to.equal(published.seq);
    expect(sample(after, 'mamori_filter_items')).to.equal(sample(after, 'mamori_indicators'));
    expect(sample(after, 'mamori_filter_capacity')).to.equal(1_000_000);
    expect(sample(after, 'mamori_filter_fill_ratio')).to.be.greaterThan(0).and.lessThan(0.01);
    expect(sample(after, 'mamori_filter_estimated_fp_rate')).to.be.greaterThan(0).and.lessThan(1e-6);
    expect(sample(after, 'mamori_filter_target_fp_rate')).to.equal(1e-6);
    expect(sample(after, 'mamori_database_size_bytes')).to.be.greaterThan(0);
    expect(sample(after, 'mamori_wal_size_bytes')).to.be.at.least(0);
    expect(sample(after, 'mamori_frozen_origins')).to.equal(0);
    expect(sample(after, 'mamori_key_epoch')).to.equal(1);
  });

  it('reports replication per peer: connected, entries behind, accepted, and the peer that is down', async () => {
    const seq = (await client.status()).ownFeed?.seq ?? 0;
    expect(seq).to.be.greaterThan(0);
    const body = await waitFor(
      async () => {
        const text = await metricsOf(acquirer);
        const caughtUp = sample(text, 'mamori_feed_seq', { origin: 'psp-c' }) === seq && sample(text, 'mamori_replication_peer_connected', { peer: 'psp-c' }) === 1;
        return caughtUp ? text : undefined;
      },
      'acquirer-b to replicate psp-c and report it',
      15_000,
      50,
    );
    expect(sample(body, 'mamori_replication_entries_accepted_total', { peer: 'psp-c' })).to.be.at.least(1);
    expect(sample(body, 'mamori_replication_entries_behind', { peer: 'psp-c' })).to.equal(0);
    expect(sample(body, 'mamori_replication_last_contact_timestamp_seconds', { peer: 'psp-c' })).to.be.closeTo(Date.now() / 1000, 60);
    expect(sample(body, 'mamori_replication_peer_connected', { peer: 'issuer-a' })).to.equal(0);
    // The acquirer published nothing: every indicator it holds arrived by replication.
    expect(sample(body, 'mamori_indicators')).to.equal(listed.length);
  });

  it('refuses a metricsListen that is not host:port, naming the field', () => {
    const file = path.join(layout.dir, 'issuer-a', 'metrics-variant.json');
    const raw = JSON.parse(fs.readFileSync(memberOf(layout, 'issuer-a').nodeConfig, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...raw, metricsListen: 'http://0.0.0.0:9464/metrics' }));
    let error: unknown;
    try {
      loadNodeConfig(file);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect(String(error)).to.contain('metricsListen').and.contain('host:port');
  });

  it('never names a card number in a scrape', async () => {
    const scrapes = [await metricsOf(psp), await metricsOf(acquirer)].join('\n');
    for (const pan of [...listed, ...unlisted]) {
      for (const form of panForms(pan)) expect(scrapes.includes(form), 'a PAN in the metrics').to.equal(false);
    }
    // Label names: member ids, error codes, a result, bucket bounds and Node's own process labels.
    const labelNames = new Set([...scrapes.matchAll(/[{,]([a-zA-Z_]\w*)="/g)].map((m) => m[1]));
    for (const name of labelNames) expect(['member', 'origin', 'peer', 'reason', 'result', 'le', 'quantile', 'version', 'major', 'minor', 'patch', 'space', 'kind', 'type', 'scope']).to.include(name);
  });
});
