// Oblivious PAN selectors end to end on three real node processes over mutual TLS: a client
// (this test, with a member's client token) blinds card numbers, calls EvaluatePanSelectors on
// its own node, rebuilds the plan from the answers and combines them; the selectors equal a
// direct computation from the dealt seeds (opened here with the members' box keys). Also: the
// peer Evaluate RPC's validation, EvaluatePanSelectorsStream (answers by id, errors per message), the budgets (refusal, nothing counted, audited, the issuer
// budget on its own BINs), an evaluator down (t of n still answer) and two down (UNAVAILABLE),
// and no card number in any data directory or log.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import * as grpc from '@grpc/grpc-js';
import { oprfReady } from '../../proto/ts/oprf/group';
import { binKey, blindPan, combineAnswers, evaluateDirect, type BlindedPan, type EvaluationPlan, type EvaluatorSeeds, type TprfDescription } from '../../proto/ts/oprf/threshold';
import { sodiumReady } from '../../proto/ts/sodium';
import type { EvaluatePanSelectorsResponse__Output } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsResponse';
import type { EvaluatePanSelectorsStreamResponse__Output } from '../../proto/gen/mamori/v1/EvaluatePanSelectorsStreamResponse';
import type { StatusResponse__Output } from '../../proto/gen/mamori/v1/StatusResponse';
import { consortiumFileSchema, type OprfSection } from '../../node/src/config/schemas';
import { loadMemberIdentity } from '../../node/src/membership/consortium';
import { oprfDescription, openEvaluatorSeeds } from '../../node/src/membership/oprf-dealing';
import { dialEvaluator } from '../../node/src/rpc/evaluator-link';
import { databaseFile } from '../../node/src/store/database';
import type { MamoriError } from '../../node/src/ledger/errors';
import { resignConsortium } from '../helpers/resign-consortium';
import { startConsortium, type ConsortiumProcesses } from '../helpers/consortium-harness';
import { bearer, filesUnder, memberOf, rawExchange } from '../helpers/node-harness';
import { panForms, randomPans } from '../helpers/cards';
import { scrape } from '../helpers/ops';
import { waitFor } from '../helpers/wait';

const BUDGETS = { perMemberBinHour: 20, perMemberDay: 200, issuerPerMemberBinHour: 100_000, issuerPerMemberDay: 1_000_000 };

interface Call {
  items: { bin: string; blinded: Uint8Array }[];
  verify?: boolean;
  exclude?: string[];
}

function evaluatePanSelectors(c: ConsortiumProcesses, member: string, request: Call, reuse?: ReturnType<typeof rawExchange>): Promise<EvaluatePanSelectorsResponse__Output> {
  const m = memberOf(c.layout, member);
  const { token } = JSON.parse(fs.readFileSync(m.clientConfig, 'utf8')) as { token: string };
  const stub = reuse ?? rawExchange(m.listen);
  return new Promise((resolve, reject) => {
    stub.EvaluatePanSelectors(
      { items: request.items.map((i) => ({ bin: i.bin, blinded: Buffer.from(i.blinded) })), verify: request.verify ?? false, exclude: request.exclude ?? [] },
      bearer(token),
      { deadline: Date.now() + 30_000 },
      (error: grpc.ServiceError | null, response?: EvaluatePanSelectorsResponse__Output) => {
        if (!reuse) stub.close();
        if (error) reject(error);
        else resolve(response as EvaluatePanSelectorsResponse__Output);
      },
    );
  });
}

async function refusal(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (error) {
    return error as grpc.ServiceError;
  }
  throw new Error('expected a refusal');
}

function status(c: ConsortiumProcesses, member: string): Promise<StatusResponse__Output> {
  return c.client(member).status() as unknown as Promise<StatusResponse__Output>;
}

/** What a client does with the response: the plan from the answers that came, then combineAnswers. */
function combine(response: EvaluatePanSelectorsResponse__Output, batch: readonly BlindedPan[], maxFaulty = 1) {
  const answered = response.answers.filter((a) => a.errorCode === '');
  const groups: { labels: string[]; askedFrom: string[] }[] = [];
  const requests = new Map<string, string[][]>();
  const groupIndexes = new Map<string, number[]>();
  const answers = new Map<string, Uint8Array[][]>();
  for (const a of answered) {
    const labels = a.groups.map((g) => g.labels);
    requests.set(a.evaluator, labels);
    groupIndexes.set(
      a.evaluator,
      labels.map((l) => {
        const key = l.join(',');
        let g = groups.findIndex((x) => x.labels.join(',') === key);
        if (g < 0) g = groups.push({ labels: l, askedFrom: [] }) - 1;
        groups[g]?.askedFrom.push(a.evaluator);
        return g;
      }),
    );
    const width = labels.length * 32;
    expect(a.elements.length).to.equal(batch.length * width);
    answers.set(
      a.evaluator,
      batch.map((_, e) => labels.map((__, g) => new Uint8Array(a.elements.subarray(e * width + g * 32, e * width + g * 32 + 32)))),
    );
  }
  const plan: EvaluationPlan = {
    groups,
    requests,
    groupIndexes,
    maxFaulty,
    verifiable: groups.every((g) => g.askedFrom.length >= maxFaulty + 1),
    evaluatorMults: groups.reduce((n, g) => n + g.askedFrom.length, 0),
  };
  return combineAnswers(plan, batch, answers);
}

/** The dealt seeds, opened with every member's box key from its data directory: what the test computes selectors with directly. */
function dealtSeeds(c: ConsortiumProcesses): { section: OprfSection; description: TprfDescription; shares: EvaluatorSeeds[] } {
  const signed = consortiumFileSchema.parse(JSON.parse(fs.readFileSync(c.layout.consortiumFile, 'utf8')));
  const section = signed.document.oprf as OprfSection;
  const shares = section.evaluators.map((id) => {
    const identity = loadMemberIdentity(path.join(c.layout.dir, id, 'member.key.json'));
    const opened = openEvaluatorSeeds(section, id, identity.box);
    if (!opened.ok) throw new Error(opened.reason);
    return opened.share;
  });
  return { section, description: oprfDescription(section), shares };
}

function evaluationCounts(c: ConsortiumProcesses, evaluator: string, member: string, bin: string): number {
  const db = new Database(databaseFile(path.join(c.layout.dir, evaluator, 'data')), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COALESCE(SUM(count), 0) FROM oprf_evaluations WHERE member = ? AND bin = ?').pluck().get(member, bin) as number) ?? 0;
  } finally {
    db.close();
  }
}

function auditRows(c: ConsortiumProcesses, evaluator: string, action: string): { actor: string; details: string }[] {
  const db = new Database(databaseFile(path.join(c.layout.dir, evaluator, 'data')), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT actor, details FROM audit_log WHERE action = ?').all(action) as { actor: string; details: string }[];
  } finally {
    db.close();
  }
}

const EVALUATORS = ['issuer-a', 'acquirer-b', 'psp-c'];

describe('consortium: oblivious PAN selectors (threshold PRF evaluation)', function () {
  this.timeout(180_000);
  let c: ConsortiumProcesses;
  const usedPans: string[] = [];
  const pans = (count: number, bin: string) => {
    const out = randomPans(count, bin);
    usedPans.push(...out);
    return out;
  };

  before(async () => {
    await sodiumReady();
    await oprfReady();
    c = await startConsortium({
      // Small budgets for non-issuers, signed by the operator before any node starts.
      configure: (layout) => resignConsortium<{ oprf: { budgets: object } }>(layout, (document) => (document.oprf.budgets = BUDGETS)),
    });
  });

  after(async () => {
    await c?.stopAll();
  });

  it('an empty request answers the parameters of the dealing; every node opened and checked its seeds', async () => {
    const { section } = dealtSeeds(c);
    const response = await evaluatePanSelectors(c, 'acquirer-b', { items: [] });
    expect(response.setId).to.equal(section.setId);
    expect(response.threshold).to.equal(2);
    expect(response.evaluators).to.deep.equal(EVALUATORS);
    expect(response.binDigits).to.equal(6);
    expect(response.answers).to.deep.equal([]);
    for (const m of EVALUATORS) {
      const s = await status(c, m);
      expect(s.oprf?.evaluatorState, m).to.equal('ready');
      expect(s.oprf?.setId).to.equal(section.setId);
    }
  });

  it('the combined answers are the selectors a direct computation gives, minimal and verified plans', async () => {
    const { description, shares } = dealtSeeds(c);
    const cards = [...pans(3, '411111'), ...pans(2, '356900')];
    const batch = cards.map((p) => blindPan(p, p.slice(0, 6)));
    const expected = cards.map((p) => Buffer.from(evaluateDirect(binKey(description, shares, p.slice(0, 6)), p, p.slice(0, 6)).subarray(0, 32)).toString('hex'));

    const minimal = await evaluatePanSelectors(c, 'acquirer-b', { items: batch.map((b) => ({ bin: b.bin, blinded: b.blindedElement })) });
    expect(minimal.answers.map((a) => a.evaluator)).to.include('acquirer-b'); // its own node evaluates locally
    expect(minimal.answers).to.have.length(2);
    const combined = combine(minimal, batch);
    expect(combined.results.map((r) => (r.status === 'ok' ? Buffer.from(r.selector).toString('hex') : r.status))).to.deep.equal(expected);

    const verified = await evaluatePanSelectors(c, 'psp-c', { items: batch.map((b) => ({ bin: b.bin, blinded: b.blindedElement })), verify: true });
    expect(verified.answers).to.have.length(3);
    const checked = combine(verified, batch);
    expect(checked.results.every((r) => r.status === 'ok' && r.verified)).to.equal(true);
    expect(checked.results.map((r) => (r.status === 'ok' ? Buffer.from(r.selector).toString('hex') : r.status))).to.deep.equal(expected);
  });

  it('refuses bad input with INVALID_ARGUMENT naming the field, and counts nothing', async () => {
    const bin = '422222';
    const [card] = pans(1, bin) as [string];
    const good = { bin, blinded: blindPan(card, bin).blindedElement };
    const before = await Promise.all(EVALUATORS.map(async (m) => (await status(c, m)).oprf?.evaluated));
    const notAPoint = new Uint8Array(32).fill(0xff);
    const cases: [Call, string][] = [
      [{ items: [good, good, { bin, blinded: notAPoint }] }, 'items[2].blinded'],
      [{ items: [good, { bin, blinded: new Uint8Array(32) }] }, 'items[1].blinded'],
      [{ items: [good, { bin, blinded: new Uint8Array(31).fill(1) }] }, 'items[1].blinded'],
      [{ items: [good, { bin: '42222', blinded: good.blinded }] }, 'items[1].bin'],
      [{ items: [{ bin: '42222222', blinded: good.blinded }] }, 'items[0].bin'],
      [{ items: Array.from({ length: 10_001 }, () => good) }, 'items'],
      [{ items: [good], exclude: ['nobody'] }, 'exclude[0]'],
    ];
    for (const [request, field] of cases) {
      const error = await refusal(evaluatePanSelectors(c, 'acquirer-b', request));
      expect(error.code, field).to.equal(grpc.status.INVALID_ARGUMENT);
      expect(error.details, field).to.match(new RegExp(`^${field.replace(/[[\]]/g, '\\$&')}: `));
    }

    // The peer RPC, called as acquirer-b's node would (its certificate), with what the member-local API never sends.
    const { section } = dealtSeeds(c);
    const b = memberOf(c.layout, 'acquirer-b');
    const bDir = path.dirname(b.nodeConfig);
    const tls = { caFile: path.join(c.layout.dir, 'ca', 'ca.cert.pem'), certFile: path.join(bDir, 'tls', 'node.cert.pem'), keyFile: path.join(bDir, 'tls', 'node.key.pem') };
    const link = dialEvaluator({ tls, member: 'acquirer-b', maxMessageBytes: 8 * 1024 * 1024 }, 'issuer-a', memberOf(c.layout, 'issuer-a').endpoint);
    try {
      const peerCases: [Parameters<typeof link.evaluate>[0], string][] = [
        [{ setId: '00'.repeat(16), groups: [['2']], items: [good] }, 'set_id'],
        [{ setId: section.setId, groups: [['1']], items: [good] }, 'groups[0].labels[0]'],
        [{ setId: section.setId, groups: [['2'], ['2']], items: [good] }, 'groups[1].labels[0]'],
        [{ setId: section.setId, groups: [], items: [good] }, 'groups'],
        [{ setId: section.setId, groups: [['2']], items: [] }, 'items'],
        [{ setId: section.setId, groups: [['2', '3']], items: [good, { bin, blinded: notAPoint }] }, 'items[1].blinded'],
      ];
      for (const [request, field] of peerCases) {
        const error = await refusal(link.evaluate(request, Date.now() + 10_000));
        expect((error as unknown as MamoriError).code, field).to.equal('INVALID_ARGUMENT');
        expect(error.message, field).to.match(new RegExp(`^${field.replace(/[[\]]/g, '\\$&')}: `));
      }
      // And a well-formed one is answered: one element per item and group.
      expect(await link.evaluate({ setId: section.setId, groups: [['2', '3']], items: [good] }, Date.now() + 10_000)).to.have.length(32);
    } finally {
      link.close();
    }

    const after = await Promise.all(EVALUATORS.map(async (m) => (await status(c, m)).oprf?.evaluated));
    expect(after.map(Number)).to.deep.equal(before.map((n, i) => Number(n) + (EVALUATORS[i] === 'issuer-a' ? 1 : 0)));
    for (const e of EVALUATORS) expect(evaluationCounts(c, e, 'acquirer-b', bin), e).to.equal(e === 'issuer-a' ? 1 : 0);
  });

  it('EvaluatePanSelectorsStream answers each message by its id as the unary call does; a bad message is refused by itself; no token ends it', async () => {
    const { description, shares } = dealtSeeds(c);
    const cards = pans(2, '466666');
    const batch = cards.map((p) => blindPan(p, p.slice(0, 6)));
    const expected = cards.map((p) => Buffer.from(evaluateDirect(binKey(description, shares, p.slice(0, 6)), p, p.slice(0, 6)).subarray(0, 32)).toString('hex'));
    const m = memberOf(c.layout, 'acquirer-b');
    const { token } = JSON.parse(fs.readFileSync(m.clientConfig, 'utf8')) as { token: string };
    const stub = rawExchange(m.listen);
    try {
      const stream = stub.EvaluatePanSelectorsStream(bearer(token));
      const answers = new Map<number, EvaluatePanSelectorsStreamResponse__Output>();
      stream.on('data', (a: EvaluatePanSelectorsStreamResponse__Output) => answers.set(Number(a.id), a));
      stream.on('error', () => undefined);
      stream.write({ id: 7, evaluate: { items: batch.map((b) => ({ bin: b.bin, blinded: Buffer.from(b.blindedElement) })) }, timeoutMs: 10_000 });
      stream.write({ id: 8, evaluate: { items: [{ bin: '466666', blinded: Buffer.alloc(32, 0xff) }] } });
      stream.write({ id: 9 });
      await waitFor(() => answers.size === 3, 'three answers on the stream');
      const ok = answers.get(7)?.evaluate as EvaluatePanSelectorsResponse__Output;
      expect(answers.get(7)?.errorCode).to.equal('');
      expect(combine(ok, batch).results.map((r) => (r.status === 'ok' ? Buffer.from(r.selector).toString('hex') : r.status))).to.deep.equal(expected);
      expect(answers.get(8)?.errorCode).to.equal('INVALID_ARGUMENT');
      expect(answers.get(8)?.errorMessage).to.match(/^items\[0\]\.blinded: /);
      expect(answers.get(9)?.errorCode).to.equal('INVALID_ARGUMENT');
      expect(answers.get(9)?.errorMessage).to.match(/^evaluate: missing/);
      stream.end();

      const anonymous = stub.EvaluatePanSelectorsStream(new grpc.Metadata());
      anonymous.on('data', () => undefined);
      anonymous.on('error', () => undefined); // 'status' reports the same end
      anonymous.write({ id: 1, evaluate: { items: [] } });
      const ended = await new Promise<grpc.StatusObject>((resolve) => anonymous.on('status', resolve));
      expect(ended.code).to.equal(grpc.status.UNAUTHENTICATED);
    } finally {
      stub.close();
    }
  });

  it('enforces the per (member, BIN) hourly budget: RESOURCE_EXHAUSTED naming it, nothing counted, audited', async () => {
    const bin = '433333';
    const first = pans(15, bin).map((p) => blindPan(p, bin));
    // verify: every evaluator answers, so each has counted 15 for (acquirer-b, 433333).
    await evaluatePanSelectors(c, 'acquirer-b', { items: first.map((b) => ({ bin, blinded: b.blindedElement })), verify: true });
    for (const e of EVALUATORS) expect(evaluationCounts(c, e, 'acquirer-b', bin), e).to.equal(15);

    const more = pans(10, bin).map((p) => blindPan(p, bin));
    const error = await refusal(evaluatePanSelectors(c, 'acquirer-b', { items: more.map((b) => ({ bin, blinded: b.blindedElement })) }));
    expect(error.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(error.details).to.contain('perMemberBinHour').and.to.contain('limit 20');
    for (const e of EVALUATORS) expect(evaluationCounts(c, e, 'acquirer-b', bin), e).to.equal(15);
    // acquirer-b (itself) and issuer-a were asked and refused; psp-c alone cannot cover the seeds, so it was not asked.
    for (const e of ['acquirer-b', 'issuer-a']) {
      const rows = await waitFor(() => {
        const r = auditRows(c, e, 'oprf.budget-refused');
        return r.length > 0 ? r : undefined;
      }, `${e}'s audit row`);
      expect(rows[0]?.actor).to.equal('member:acquirer-b');
      expect(JSON.parse(rows[0]?.details ?? '{}')).to.include({ budget: 'perMemberBinHour', limit: 20, used: 15, asked: 10, bin });
      expect(Number((await status(c, e)).oprf?.refusedBudget)).to.be.greaterThan(0);
    }
    // The same, as Prometheus metrics: the evaluator's refusals by reason, the forwarder's calls.
    const metric = async (member: string, name: string, label = ''): Promise<number> => {
      const config = JSON.parse(fs.readFileSync(path.join(c.layout.dir, member, 'node.json'), 'utf8')) as { metricsListen: string };
      const { body } = await scrape(config.metricsListen);
      const line = body.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
      if (!line) throw new Error(`${member}: no ${name}{${label}} in /metrics`);
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    expect(await metric('issuer-a', 'mamori_oprf_evaluator_ready')).to.equal(1);
    expect(await metric('issuer-a', 'mamori_oprf_evaluated_total')).to.be.at.least(15);
    const budgetRefusals = await metric('issuer-a', 'mamori_oprf_refused_total', 'reason="budget"');
    expect(budgetRefusals).to.be.greaterThan(0);
    expect(await metric('acquirer-b', 'mamori_oprf_forwarded_unavailable_total'), 'a refusal of every evaluator asked').to.be.greaterThan(0);
    expect(await metric('acquirer-b', 'mamori_oprf_forwarded_total')).to.be.at.least(2);
    // Another BIN still has its own budget.
    const other = pans(5, '444444').map((p) => blindPan(p, '444444'));
    const ok = await evaluatePanSelectors(c, 'acquirer-b', { items: other.map((b) => ({ bin: '444444', blinded: b.blindedElement })) });
    expect(combine(ok, other).results.every((r) => r.status === 'ok')).to.equal(true);
  });

  it('gives an issuer the issuer budget on its own BINs, and others the ordinary budget there', async () => {
    const bin = '454545'; // issuer-a's binRanges
    const batch = pans(30, bin).map((p) => blindPan(p, bin));
    const items = batch.map((b) => ({ bin, blinded: b.blindedElement }));
    const byIssuer = await evaluatePanSelectors(c, 'issuer-a', { items });
    expect(combine(byIssuer, batch).results.every((r) => r.status === 'ok')).to.equal(true);
    const error = await refusal(evaluatePanSelectors(c, 'psp-c', { items }));
    expect(error.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(error.details).to.contain('perMemberBinHour');
    expect(evaluationCounts(c, 'issuer-a', 'psp-c', bin)).to.equal(0);
  });

  it('measures one round: 1 and 1,000 items', async () => {
    const bin = '356900'; // issuer-a's own: the issuer budget
    const stub = rawExchange(memberOf(c.layout, 'issuer-a').listen);
    try {
      for (const [size, rounds] of [
        [1, 20],
        [1000, 3],
      ] as const) {
        const times: number[] = [];
        await evaluatePanSelectors(c, 'issuer-a', { items: [{ bin, blinded: blindPan(pans(1, bin)[0] as string, bin).blindedElement }] }, stub); // warm the connections
        for (let r = 0; r < rounds; r++) {
          const batch = pans(size, bin).map((p) => blindPan(p, bin));
          const items = batch.map((b) => ({ bin, blinded: b.blindedElement }));
          const started = process.hrtime.bigint();
          const response = await evaluatePanSelectors(c, 'issuer-a', { items }, stub);
          times.push(Number(process.hrtime.bigint() - started) / 1e6);
          expect(combine(response, batch).results.every((x) => x.status === 'ok')).to.equal(true);
        }
        times.sort((a, b) => a - b);
        const median = times[Math.floor(times.length / 2)] as number;
        console.log(`      EvaluatePanSelectors, ${size} item(s), 2 evaluators (one local), ${rounds} rounds: median ${median.toFixed(1)} ms, max ${(times.at(-1) as number).toFixed(1)} ms`);
      }
    } finally {
      stub.close();
    }
  });

  it('still answers with one evaluator down (t = 2 of 3), re-planning once; with two down, UNAVAILABLE saying how many answered', async () => {
    const { description, shares } = dealtSeeds(c);
    const bin = '455555';
    const cards = pans(4, bin);
    const batch = cards.map((p) => blindPan(p, bin));
    const items = batch.map((b) => ({ bin, blinded: b.blindedElement }));
    await c.kill('issuer-a');
    // acquirer-b's first plan is itself and issuer-a (dealing order): issuer-a fails, psp-c answers instead.
    const response = await evaluatePanSelectors(c, 'acquirer-b', { items });
    const failed = response.answers.filter((a) => a.errorCode !== '');
    expect(failed.map((a) => [a.evaluator, a.errorCode])).to.deep.equal([['issuer-a', 'UNAVAILABLE']]);
    const combined = combine(response, batch);
    const expected = cards.map((p) => Buffer.from(evaluateDirect(binKey(description, shares, bin), p, bin).subarray(0, 32)).toString('hex'));
    expect(combined.results.map((r) => (r.status === 'ok' ? Buffer.from(r.selector).toString('hex') : r.status))).to.deep.equal(expected);
    // Now known down: the next call goes to psp-c first, with no failed answer.
    const again = await evaluatePanSelectors(c, 'acquirer-b', { items });
    expect(again.answers.map((a) => a.evaluator).sort()).to.deep.equal(['acquirer-b', 'psp-c']);

    await c.kill('psp-c');
    const error = await refusal(evaluatePanSelectors(c, 'acquirer-b', { items }));
    expect(error.code).to.equal(grpc.status.UNAVAILABLE);
    expect(error.details).to.match(/^1 of the 2 evaluators needed answered/);
  });

  it('leaves no card number in any data directory or log', async () => {
    await c.stopAll();
    await waitFor(() => [...c.nodes.values()].every((n) => n.child.exitCode !== null || n.child.signalCode !== null), 'every node to exit');
    const files = filesUnder(c.layout.dir);
    expect(files.some((f) => f.endsWith('node.log'))).to.equal(true);
    for (const file of files) {
      const text = fs.readFileSync(file).toString('latin1');
      for (const pan of usedPans) for (const form of panForms(pan)) expect(text.includes(form), `${path.relative(c.layout.dir, file)} holds a test PAN`).to.equal(false);
    }
  });
});
