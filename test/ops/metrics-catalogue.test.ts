// The metrics table of docs/operations.md is the catalogue a reviewer and an operator rely on: a real
// node's /metrics must export every metric the table lists, the table must list every
// mamori_* metric the node exports, and the labels a metric carries must be the ones the
// table names. Also: the node warns when the unauthenticated endpoint is not on loopback.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import pino from 'pino';
import { sodiumReady } from '../../proto/ts/sodium';
import { startMetricsServer } from '../../node/src/metrics/http-server';
import { makeConsortium } from '../helpers/node-harness';
import { runMemberNode, scrape } from '../helpers/ops';
import { waitFor } from '../helpers/wait';

const CATALOGUE = path.resolve(__dirname, '../../../docs/operations.md');

/** Metric name → label names, from the table under "### Metrics" in docs/operations.md. */
function readmeMetrics(): Map<string, string[]> {
  const text = fs.readFileSync(CATALOGUE, 'utf8');
  const start = text.indexOf('\n### Metrics\n');
  if (start < 0) throw new Error('docs/operations.md has no "### Metrics" section');
  const end = text.indexOf('\n### ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  const metrics = new Map<string, string[]>();
  for (const match of section.matchAll(/^\| `(mamori_[a-z0-9_]+)(?:\{([a-z_,]+)\})?` \|/gm)) {
    metrics.set(match[1] as string, match[2] ? match[2].split(',') : []);
  }
  return metrics;
}

/** Metric family → label names seen on its samples (histogram series folded into their family). */
function scrapedMetrics(body: string): Map<string, Set<string>> {
  const families = new Map<string, Set<string>>();
  for (const match of body.matchAll(/^# TYPE (mamori_\w+) \w+$/gm)) families.set(match[1] as string, new Set());
  for (const line of body.split('\n')) {
    const sample = /^(mamori_\w+?)(_bucket|_sum|_count)?(?:\{(.*)\})? \S+$/.exec(line);
    if (!sample) continue;
    const family = families.get(sample[1] as string) ?? families.get(`${sample[1]}${sample[2] ?? ''}`);
    for (const label of (sample[3] ?? '').matchAll(/([a-zA-Z_]\w*)="/g)) family?.add(label[1] as string);
  }
  return families;
}

describe('operations: the docs/operations.md metrics table matches what a node exports', function () {
  let running: Awaited<ReturnType<typeof runMemberNode>> | undefined;

  after(async () => {
    await running?.stop();
  });

  it('lists every mamori_* metric of /metrics, and each one it lists is exported with the labels it names', async () => {
    await sodiumReady();
    const layout = await makeConsortium();
    // psp-c is the dev consortium's common-point aggregator: it exports every metric there is.
    running = await runMemberNode(layout, 'psp-c', { metricsListen: '127.0.0.1:0' });
    const listed = readmeMetrics();
    expect(listed.size, 'metrics in the docs/operations.md table').to.be.greaterThan(30);

    const scraped = await scrape(running.metrics?.address ?? '');
    expect(scraped.status).to.equal(200);
    const exported = scrapedMetrics(scraped.body);

    const unlisted = [...exported.keys()].filter((name) => !listed.has(name));
    expect(unlisted, 'exported but missing from the docs/operations.md table').to.deep.equal([]);
    const missing = [...listed.keys()].filter((name) => !exported.has(name));
    expect(missing, 'in the docs/operations.md table but not exported').to.deep.equal([]);
    const unlabelled = scraped.body.split('\n').filter((line) => line.startsWith('mamori_') && !line.includes('member="psp-c"'));
    expect(unlabelled, 'series without the member label').to.deep.equal([]);
    for (const [name, labels] of exported) {
      const allowed = new Set([...(listed.get(name) ?? []), 'member', 'le']); // member: every series; le: histogram buckets
      for (const label of labels) expect(allowed.has(label), `${name} has label "${label}", docs/operations.md does not name it`).to.equal(true);
    }
  });

  it('warns in the log when the metrics endpoint listens beyond loopback, and not on loopback', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const source = { scrape: async () => '', registry: { contentType: 'text/plain' } };
    const onLoopback = await startMetricsServer('127.0.0.1:0', source, log);
    await onLoopback.close();
    expect(lines.join('')).not.to.contain('metrics served beyond loopback');
    const open = await startMetricsServer('0.0.0.0:0', source, log);
    try {
      await waitFor(() => lines.join('').includes('metrics served beyond loopback'), 'the warning about an open metrics endpoint');
    } finally {
      await open.close();
    }
  });
});
