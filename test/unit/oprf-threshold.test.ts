import { expect } from 'chai';
import { OprfInputError, oprfReady, scalarFromInt, scalarMult, IDENTITY } from '../../proto/ts/oprf/group';
import {
  TPRF_MAX_BATCH,
  TprfEvaluator,
  assembleDescription,
  binKey,
  blindPan,
  checkEvaluatorSeeds,
  combineAnswers,
  combineShamir,
  coverage,
  dealSeeds,
  evaluateDirect,
  generateOwnSeeds,
  planEvaluation,
  requestFor,
  subsets,
  type BatchResult,
  type BlindedPan,
  type EvaluationPlan,
  type EvaluatorSeeds,
  type TprfDescription,
} from '../../proto/ts/oprf/threshold';
import { withLuhnDigit } from '../../proto/ts/normalize';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const pan = (bin: string, body: string): string => withLuhnDigit(bin + body);

interface Dealing {
  description: TprfDescription;
  shares: EvaluatorSeeds[];
  evaluators: Map<string, TprfEvaluator>;
}

function deal(n: number, t: number): Dealing {
  const ids = Array.from({ length: n }, (_, i) => `member-${String.fromCharCode(97 + i)}`);
  const { description, shares } = dealSeeds(ids, t);
  return { description, shares, evaluators: new Map(shares.map((s) => [s.evaluator, new TprfEvaluator(description, s)])) };
}

type Tamper = (evaluator: string, element: number, group: number, point: Uint8Array) => Uint8Array;

function runReplicated(d: Dealing, plan: EvaluationPlan, batch: BlindedPan[], tamper?: Tamper): BatchResult {
  const answers = new Map<string, Uint8Array[][]>();
  for (const id of plan.requests.keys()) {
    const response = (d.evaluators.get(id) as TprfEvaluator).evaluate(requestFor(plan, id, batch));
    answers.set(
      id,
      response.map((row, e) => row.map((point, g) => (tamper ? tamper(id, e, g, point) : point))),
    );
  }
  return combineAnswers(plan, batch, answers);
}

function runShamir(d: Dealing, ids: string[], batch: BlindedPan[], tamper?: Tamper, maxFaulty = 1): BatchResult {
  const answers = new Map<string, Uint8Array[]>();
  for (const id of ids) {
    const response = (d.evaluators.get(id) as TprfEvaluator).evaluateShamir({ bins: batch.map((b) => b.bin), blindedElements: batch.map((b) => b.blindedElement) });
    answers.set(
      id,
      response.map((point, e) => (tamper ? tamper(id, e, 0, point) : point)),
    );
  }
  return combineShamir(d.description, batch, answers, maxFaulty);
}

function plan(d: Dealing, available: string[], options: Parameters<typeof planEvaluation>[2] = {}): EvaluationPlan {
  const result = planEvaluation(d.description, available, options);
  if (!result.ok) throw new Error(result.reason);
  return result;
}

/** A wrong but valid group element: the answer times 2. */
const doubled = (point: Uint8Array): Uint8Array => scalarMult(scalarFromInt(2), point);

const PANS = [pan('411111', '111111111'), pan('411111', '222222222'), pan('52545612', '3456789'), pan('601100', '99990000')];
const BINS = ['411111', '411111', '52545612', '601100'];

function expectedSelectors(d: Dealing): string[] {
  return PANS.map((p, i) => hex(evaluateDirect(binKey(d.description, d.shares, BINS[i]), p, BINS[i]).subarray(0, 32)));
}

function selectors(result: BatchResult): string[] {
  return result.results.map((r) => {
    if (r.status !== 'ok') throw new Error(`element ${r.status}`);
    return hex(r.selector);
  });
}

describe('threshold PRF (mamori-tprf-v1)', () => {
  before(async () => {
    await oprfReady();
  });

  describe('dealer', () => {
    it('gives each of n evaluators C(n−1, t−1) seeds, one per (t−1)-subset not containing it', () => {
      for (const [n, t] of [[3, 2], [5, 3], [4, 2]]) {
        const d = deal(n, t);
        expect(d.description.seeds).to.have.length(subsets(n, t - 1).length);
        for (const share of d.shares) {
          expect(share.seeds).to.have.length(subsets(n - 1, t - 1).length);
          for (const s of share.seeds) expect(s.label.split('.').map(Number)).to.not.include(share.index);
          checkEvaluatorSeeds(d.description, share);
        }
      }
    });

    it('lets a member check its seeds against the public commitments', () => {
      const d = deal(3, 2);
      const share = d.shares[1];
      const tampered = { ...share, seeds: share.seeds.map((s, i) => (i === 1 ? { ...s, seed: new Uint8Array(32).fill(7) } : s)) };
      expect(() => checkEvaluatorSeeds(d.description, tampered)).to.throw(OprfInputError).with.property('field', 'share.seeds[1].seed');
      expect(() => checkEvaluatorSeeds(d.description, { ...share, seeds: share.seeds.slice(1) })).to.throw(OprfInputError).with.property('field', 'share.seeds');
      expect(() => dealSeeds(['a', 'b', 'c'], 1)).to.throw(OprfInputError).with.property('field', 't');
      expect(() => dealSeeds(['a', 'a', 'c'], 2)).to.throw(OprfInputError).with.property('field', 'evaluators');
    });
  });

  it('dealerless setup: each seed drawn by one of its holders and sent to the others only', () => {
    const ids = ['member-a', 'member-b', 'member-c', 'member-d', 'member-e'];
    const t = 3;
    const setId = 'feedfacefeedfacefeedfacefeedface';
    const generated = ids.map((_, i) => generateOwnSeeds(ids, t, i + 1, setId));
    const commitments = new Map(generated.flat().map((g) => [g.label, g.commitment]));
    const description = assembleDescription(ids, t, setId, commitments);
    const shares: EvaluatorSeeds[] = ids.map((evaluator, i) => ({ setId, evaluator, index: i + 1, seeds: [] }));
    generated.forEach((list, i) => {
      for (const g of list) {
        // The generator keeps its copy and seals one to each other holder: nobody else receives it.
        const recipients = [ids[i], ...g.sendTo];
        expect(recipients.map((id) => ids.indexOf(id) + 1)).to.deep.equal(description.seeds.find((s) => s.label === g.label)?.holders);
        for (const id of recipients) shares[ids.indexOf(id)].seeds.push({ label: g.label, seed: g.seed });
      }
    });
    for (const share of shares) share.seeds.sort((a, b) => description.seeds.findIndex((s) => s.label === a.label) - description.seeds.findIndex((s) => s.label === b.label));
    const d: Dealing = { description, shares, evaluators: new Map(shares.map((s) => [s.evaluator, new TprfEvaluator(description, s)])) };
    const batch = PANS.map((p, i) => blindPan(p, BINS[i]));
    for (const combo of subsets(5, 3)) expect(selectors(runReplicated(d, plan(d, combo.map((i) => ids[i - 1])), batch))).to.deep.equal(expectedSelectors(d));
  });

  for (const [n, t] of [[3, 2], [5, 3]] as const) {
    describe(`n = ${n}, t = ${t}`, () => {
      it('every t-subset gives the same selectors, equal to the direct computation with k_b (replicated mode)', () => {
        const d = deal(n, t);
        const batch = PANS.map((p, i) => blindPan(p, BINS[i]));
        const expected = expectedSelectors(d);
        for (const combo of subsets(n, t)) {
          const ids = combo.map((i) => d.description.evaluators[i - 1]);
          const p = plan(d, ids);
          expect(p.requests.size).to.equal(t);
          expect(p.evaluatorMults).to.equal(t);
          const result = runReplicated(d, p, batch);
          expect(selectors(result)).to.deep.equal(expected);
          expect(result.results.every((r) => r.status === 'ok' && !r.verified)).to.equal(true);
        }
        // Spread over all evaluators, and the verifying plan: same selectors, the latter verified.
        const spread = plan(d, d.description.evaluators, { spread: 'all' });
        expect(spread.requests.size).to.equal(n);
        expect(selectors(runReplicated(d, spread, batch))).to.deep.equal(expected);
        const verified = runReplicated(d, plan(d, d.description.evaluators, { verify: true }), batch);
        expect(selectors(verified)).to.deep.equal(expected);
        expect(verified.results.every((r) => r.status === 'ok' && r.verified)).to.equal(true);
      });

      it('every t-subset gives the same selectors in Shamir mode, equal to the replicated ones', () => {
        const d = deal(n, t);
        const batch = PANS.map((p, i) => blindPan(p, BINS[i]));
        const expected = expectedSelectors(d);
        for (const combo of subsets(n, t)) {
          const result = runShamir(
            d,
            combo.map((i) => d.description.evaluators[i - 1]),
            batch,
          );
          expect(selectors(result)).to.deep.equal(expected);
        }
        const all = runShamir(d, d.description.evaluators, batch);
        expect(selectors(all)).to.deep.equal(expected);
        expect(all.results.every((r) => r.status === 'ok' && r.verified)).to.equal(true);
      });

      it('t − 1 evaluators cannot cover every seed: the planner refuses and names the missing seed', () => {
        const d = deal(n, t);
        for (const combo of subsets(n, t - 1)) {
          const ids = combo.map((i) => d.description.evaluators[i - 1]);
          const result = planEvaluation(d.description, ids);
          expect(result.ok).to.equal(false);
          if (!result.ok) expect(result.uncovered).to.deep.equal([combo.join('.')]);
          expect(coverage(d.description, ids).covered).to.equal(false);
        }
      });
    });
  }

  it('gives different BINs unrelated keys and selectors; an evaluation under another BIN is useless', () => {
    const d = deal(3, 2);
    const p = PANS[0];
    const kA = binKey(d.description, d.shares, '411111');
    const kB = binKey(d.description, d.shares, '411112');
    const k8 = binKey(d.description, d.shares, '41111111');
    expect(new Set([hex(kA), hex(kB), hex(k8)]).size).to.equal(3);
    const direct = hex(evaluateDirect(kA, p, '411111'));
    expect(hex(evaluateDirect(k8, p, '41111111'))).to.not.equal(direct);
    // The client claims BIN 411112's budget for a PAN of BIN 411111: what it gets finalizes to nothing useful.
    const b = blindPan(p, '411111');
    const claimed: BlindedPan = { ...b, bin: '411112' };
    const result = runReplicated(d, plan(d, d.description.evaluators.slice(0, 2)), [claimed]);
    const r = result.results[0];
    expect(r.status).to.equal('ok');
    if (r.status === 'ok') expect(hex(r.output)).to.not.equal(direct);
  });

  describe('wrong answers (n = 3, t = 2, verifying plan)', () => {
    const setup = () => {
      const d = deal(3, 2);
      const batch = PANS.map((p, i) => blindPan(p, BINS[i]));
      const p = plan(d, d.description.evaluators, { verify: true });
      return { d, batch, p, expected: expectedSelectors(d), [0]: 0 };
    };

    it('the verifying plan asks every seed from two holders: 6 multiplications per PAN', () => {
      const { p } = setup();
      expect(p.verifiable).to.equal(true);
      expect(p.evaluatorMults).to.equal(6);
      expect([...p.requests.values()].map((g) => g.length)).to.deep.equal([2, 2, 2]);
    });

    it('an evaluator wrong on all its answers is named faulty, left out, and the selectors stay right', () => {
      const { d, batch, p, expected } = setup();
      const bad = d.description.evaluators[0];
      const result = runReplicated(d, p, batch, (id, _e, _g, point) => (id === bad ? doubled(point) : point));
      expect(selectors(result)).to.deep.equal(expected);
      for (const r of result.results) expect(r.status === 'ok' && r.faulty).to.deep.equal([bad]);
      expect(result.faultyCounts.get(bad)).to.equal(PANS.length);
      // Then the two honest evaluators alone give the right selectors.
      expect(selectors(runReplicated(d, plan(d, d.description.evaluators.slice(1)), batch))).to.deep.equal(expected);
    });

    it('a single mismatch between two holders is detected but not attributable: both disputed, no selector', () => {
      const { d, batch, p } = setup();
      const bad = d.description.evaluators[0];
      // Element 2 only, and only one of evaluator 1's two answers.
      const result = runReplicated(d, p, batch, (id, e, g, point) => (id === bad && e === 2 && g === 0 ? doubled(point) : point));
      const r = result.results[2];
      expect(r.status).to.equal('disputed');
      if (r.status === 'disputed') {
        expect(r.disputed).to.include(bad);
        expect(r.disputed).to.have.length(2);
      }
      expect(result.results.filter((x) => x.status === 'ok')).to.have.length(PANS.length - 1);
      expect(result.disputedCounts.get(bad)).to.equal(1);
    });

    it('an answer that is not a group element is faulty for certain', () => {
      const { d, batch, p, expected } = setup();
      const bad = d.description.evaluators[2];
      const result = runReplicated(d, p, batch, (id, e, _g, point) => (id === bad && e === 0 ? new Uint8Array(32).fill(0xff) : point));
      expect(selectors(result)).to.deep.equal(expected);
      expect(result.results[0].faulty).to.deep.equal([bad]);
      const short = runReplicated(d, p, batch, (id, e, _g, point) => (id === bad && e === 1 ? IDENTITY : point));
      expect(short.results[1].faulty).to.deep.equal([bad]);
    });

    it('with only t evaluators, a wrong answer on a seed only one of them holds goes undetected: the result says unverified', () => {
      const { d, batch, expected } = setup();
      const p = plan(d, d.description.evaluators.slice(0, 2));
      const result = runReplicated(d, p, batch, (id, _e, _g, point) => (id === d.description.evaluators[0] ? doubled(point) : point));
      for (const r of result.results) expect(r.status === 'ok' && r.verified).to.equal(false);
      expect(selectors(result)).to.not.deep.equal(expected);
    });
  });

  describe('wrong answers (n = 5, t = 3)', () => {
    it('replicated: a faulty evaluator is named and left out; the selectors stay right', () => {
      const d = deal(5, 3);
      const batch = PANS.map((p, i) => blindPan(p, BINS[i]));
      const p = plan(d, d.description.evaluators, { verify: true });
      const bad = d.description.evaluators[1];
      const result = runReplicated(d, p, batch, (id, _e, _g, point) => (id === bad ? doubled(point) : point));
      expect(selectors(result)).to.deep.equal(expectedSelectors(d));
      for (const r of result.results) expect(r.faulty).to.deep.equal([bad]);
    });

    it('replicated, maxFaulty = 2: two evaluators giving the same wrong answers never produce a wrong selector', () => {
      const d = deal(5, 3);
      const batch = PANS.map((p, i) => blindPan(p, BINS[i]));
      const p = plan(d, d.description.evaluators, { verify: true, maxFaulty: 2 });
      expect(p.verifiable).to.equal(true);
      const bad = [d.description.evaluators[0], d.description.evaluators[4]];
      const result = runReplicated(d, p, batch, (id, _e, _g, point) => (bad.includes(id) ? doubled(point) : point));
      const expected = expectedSelectors(d);
      result.results.forEach((r, e) => {
        if (r.status === 'ok') {
          expect(hex(r.selector)).to.equal(expected[e]);
          expect(r.faulty.sort()).to.deep.equal([...bad].sort());
        } else expect(r.status).to.equal('disputed');
      });
      // With maxFaulty = 2 the Shamir decoder needs t + 2·2 = 7 answers: with 5 it detects only.
      for (const r of runShamir(d, d.description.evaluators, batch, (id, _e, _g, point) => (bad.includes(id) ? doubled(point) : point), 2).results) expect(r.status).to.equal('disputed');
    });

    it('Shamir: with 5 answers one wrong answer is named and left out; with 4 it is detected only', () => {
      const d = deal(5, 3);
      const batch = PANS.map((p, i) => blindPan(p, BINS[i]));
      const bad = d.description.evaluators[3];
      const tamper: Tamper = (id, _e, _g, point) => (id === bad ? doubled(point) : point);
      const five = runShamir(d, d.description.evaluators, batch, tamper);
      expect(selectors(five)).to.deep.equal(expectedSelectors(d));
      for (const r of five.results) expect(r.faulty).to.deep.equal([bad]);
      const four = runShamir(d, d.description.evaluators.slice(1), batch, tamper);
      for (const r of four.results) expect(r.status).to.equal('disputed');
      // Any t honest evaluators then give the right selectors.
      const honest = d.description.evaluators.filter((id) => id !== bad).slice(0, 3);
      expect(selectors(runShamir(d, honest, batch))).to.deep.equal(expectedSelectors(d));
    });
  });

  describe('input validation', () => {
    it('the evaluator rejects bad elements, BINs, groups and batch sizes, naming the field', () => {
      const d = deal(3, 2);
      const id = d.description.evaluators[0];
      const evaluator = d.evaluators.get(id) as TprfEvaluator;
      const groups = plan(d, d.description.evaluators, { verify: true }).requests.get(id) as string[][];
      const good = blindPan(PANS[0], BINS[0]).blindedElement;
      const call = (blindedElements: Uint8Array[], bins: string[] = blindedElements.map(() => '411111'), g: string[][] = groups) => () => evaluator.evaluate({ groups: g, bins, blindedElements });
      const field = (fn: () => unknown, name: string, reason?: RegExp): void => {
        const assertion = expect(fn).to.throw(OprfInputError, reason);
        assertion.with.property('field', name);
      };
      field(call([good, new Uint8Array(32)]), 'blindedElements[1]', /identity/);
      field(call([good, new Uint8Array(32).fill(0xff)]), 'blindedElements[1]', /canonical/);
      field(call([new Uint8Array(33)]), 'blindedElements[0]', /32 bytes/);
      field(call([]), 'blindedElements');
      field(call(new Array<Uint8Array>(TPRF_MAX_BATCH + 1).fill(good)), 'blindedElements', /at most/);
      field(call([good], ['41111']), 'bins[0]');
      field(call([good, good], ['411111']), 'bins');
      const notHeld = d.description.seeds.find((s) => !s.holders.includes(1))?.label as string;
      field(call([good], undefined, [[notHeld]]), 'groups[0][0]');
      field(call([good], undefined, [groups[0], groups[0]]), 'groups[1][0]');
      field(() => evaluator.evaluateShamir({ bins: ['411111'], blindedElements: [new Uint8Array(32)] }), 'blindedElements[0]', /identity/);
    });

    it('the client rejects a PAN that is not normalized and a BIN that is not its prefix', () => {
      expect(() => blindPan('4111 1111 1111 1111', '411111')).to.throw(OprfInputError).with.property('field', 'pan');
      expect(() => blindPan(PANS[0], '4111')).to.throw(OprfInputError).with.property('field', 'bin');
      expect(() => blindPan(PANS[0], '422222')).to.throw(OprfInputError).with.property('field', 'bin');
    });
  });
});
