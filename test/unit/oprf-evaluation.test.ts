// The node side of threshold-PRF evaluation, in process: the budget counter (per member, BIN
// and hour; per member and day; the issuer budget; refusals count nothing; counts survive a
// restart), the evaluator's validation (field names, nothing counted), the consortium file's
// oprf section checks, and seeds that do not match their commitments.
import { expect } from 'chai';
import Database from 'better-sqlite3';
import pino from 'pino';
import { oprfReady } from '../../proto/ts/oprf/group';
import { blindPan, dealSeeds, TprfEvaluator, type EvaluatorSeeds } from '../../proto/ts/oprf/threshold';
import { withLuhnDigit } from '../../proto/ts/normalize';
import { sodiumReady } from '../../proto/ts/sodium';
import type { OprfBudgets, OprfSection } from '../../node/src/config/schemas';
import { generateBoxKeyPair, type BoxKeyPair } from '../../node/src/crypto/epochs';
import { BudgetExceeded, EvaluationBudget, binInRanges } from '../../node/src/evaluation/budget';
import { EvaluatorService } from '../../node/src/evaluation/evaluator-service';
import { MamoriError } from '../../node/src/ledger/errors';
import { oprfSectionProblems, openEvaluatorSeeds, sealEvaluatorSeeds } from '../../node/src/membership/oprf-dealing';
import { EvaluationCountStore, HOUR_MS } from '../../node/src/store/evaluation-count-store';
import { migrate } from '../../node/src/store/migrations';

const BUDGETS: OprfBudgets = { perMemberBinHour: 10, perMemberDay: 25, issuerPerMemberBinHour: 100, issuerPerMemberDay: 150 };
const DAY_START = Date.UTC(2030, 0, 1);

function memoryStore(): { db: Database.Database; store: EvaluationCountStore } {
  const db = new Database(':memory:');
  migrate(db);
  return { db, store: new EvaluationCountStore(db) };
}

function refusedWith(fn: () => unknown): BudgetExceeded {
  try {
    fn();
  } catch (error) {
    if (error instanceof BudgetExceeded) return error;
    throw error;
  }
  throw new Error('expected a budget refusal');
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<MamoriError> {
  try {
    await p;
  } catch (error) {
    expect(error).to.be.instanceOf(MamoriError);
    expect((error as MamoriError).code).to.equal(code);
    return error as MamoriError;
  }
  throw new Error(`expected ${code}`);
}

describe('oprf evaluation (node side)', () => {
  before(async () => {
    await sodiumReady();
    await oprfReady();
  });

  describe('budget counter', () => {
    let now = DAY_START + 5 * HOUR_MS + 1000;
    const own = (member: string, bin: string) => member === 'issuer-a' && binInRanges(bin, ['454545']);
    const budget = (store: EvaluationCountStore) => new EvaluationBudget(store, () => BUDGETS, own, () => now);
    const bins = (bin: string, n: number) => Array.from({ length: n }, () => bin);

    it('counts per (member, BIN, hour); refuses a request that would pass the hourly budget whole, naming it', () => {
      const { store } = memoryStore();
      const b = budget(store);
      b.reserve('acquirer-b', [...bins('411111', 6), ...bins('422222', 2)]);
      const error = refusedWith(() => b.reserve('acquirer-b', [...bins('422222', 1), ...bins('411111', 5)]));
      expect(error.budget).to.equal('perMemberBinHour');
      expect(error.limit).to.equal(10);
      expect(error.bin).to.equal('411111');
      expect(error.message).to.contain('perMemberBinHour').and.contain('limit 10');
      expect(error.code).to.equal('RESOURCE_EXHAUSTED');
      b.flush();
      // Nothing of the refused request was counted, 422222's item included.
      expect(store.all().map((r) => [r.bin, r.count])).to.deep.equal([
        ['411111', 6],
        ['422222', 2],
      ]);
      b.reserve('acquirer-b', bins('411111', 4)); // exactly the limit
      b.reserve('psp-c', bins('411111', 10)); // another member has its own budget
      now += HOUR_MS; // the next hour bucket
      b.reserve('acquirer-b', bins('411111', 1));
    });

    it('refuses past the daily budget across BINs and hours', () => {
      const { store } = memoryStore();
      now = DAY_START + 2 * HOUR_MS;
      const b = budget(store);
      b.reserve('acquirer-b', bins('411111', 10));
      b.reserve('acquirer-b', bins('422222', 10));
      now += HOUR_MS;
      const error = refusedWith(() => b.reserve('acquirer-b', bins('411111', 6)));
      expect(error.budget).to.equal('perMemberDay');
      expect(error.limit).to.equal(25);
      b.reserve('acquirer-b', bins('433333', 5));
      now = DAY_START + 24 * HOUR_MS; // the next UTC day
      b.reserve('acquirer-b', bins('411111', 10));
    });

    it('gives an issuer its issuer budgets on its own BIN ranges only', () => {
      const { store } = memoryStore();
      now = DAY_START + 3 * HOUR_MS;
      const b = budget(store);
      b.reserve('issuer-a', bins('454545', 100));
      expect(refusedWith(() => b.reserve('issuer-a', bins('454545', 1))).budget).to.equal('issuerPerMemberBinHour');
      expect(refusedWith(() => b.reserve('issuer-a', bins('411111', 11))).budget).to.equal('perMemberBinHour');
      expect(refusedWith(() => b.reserve('acquirer-b', bins('454545', 11))).budget).to.equal('perMemberBinHour');
      b.reserve('issuer-a', bins('411111', 10)); // the ordinary day budget is separate from the issuer's
      now += HOUR_MS;
      b.reserve('issuer-a', bins('454545', 50));
      expect(refusedWith(() => b.reserve('issuer-a', bins('454545', 1))).budget).to.equal('issuerPerMemberDay');
      b.flush();
      expect(store.all().filter((r) => r.member === 'issuer-a' && r.bin === '454545').every((r) => r.own)).to.equal(true);
    });

    it('keeps its counts across a restart (a new counter on the same database)', () => {
      const { store } = memoryStore();
      now = DAY_START + 7 * HOUR_MS;
      const first = budget(store);
      first.reserve('acquirer-b', bins('411111', 9));
      first.flush();
      const second = budget(store);
      expect(refusedWith(() => second.reserve('acquirer-b', bins('411111', 2))).used).to.equal(9);
      second.reserve('acquirer-b', bins('411111', 1));
    });

    it('binInRanges: a BIN is inside a range it starts with', () => {
      expect(binInRanges('45454512', ['454545'])).to.equal(true);
      expect(binInRanges('454545', ['45454512'])).to.equal(false);
      expect(binInRanges('411111', [])).to.equal(false);
    });
  });

  describe('evaluator service', () => {
    const members = ['issuer-a', 'acquirer-b', 'psp-c'];
    let boxes: Map<string, BoxKeyPair>;
    let section: OprfSection;
    let shares: EvaluatorSeeds[];

    before(() => {
      boxes = new Map(members.map((m) => [m, generateBoxKeyPair()]));
      const dealt = dealSeeds(members, 2);
      shares = dealt.shares;
      section = {
        ...dealt.description,
        binDigits: 6,
        panSelectors: 'keyed',
        budgets: BUDGETS,
        counts: { floor: 64, alertThreshold: 4_096, bucketSeconds: 3_600 },
        sealedSeeds: Object.fromEntries(dealt.shares.map((s) => [s.evaluator, sealEvaluatorSeeds(s, (boxes.get(s.evaluator) as BoxKeyPair).publicKey)])),
      };
    });

    function service(member: string, s: OprfSection = section) {
      const { store } = memoryStore();
      const audit: { actor: string; action: string; details?: object }[] = [];
      const svc = new EvaluatorService({
        member,
        box: boxes.get(member) as BoxKeyPair,
        section: () => s,
        binRanges: (m) => (m === 'issuer-a' ? ['454545'] : []),
        counts: store,
        audit: { record: (actor, action, details) => void audit.push({ actor, action, details }) },
        log: pino({ level: 'silent' }),
      });
      return { svc, store, audit };
    }

    const item = (bin = '411111') => ({ bin, blinded: blindPan(withLuhnDigit(`${bin}123456789`), bin).blindedElement });

    it('answers as the evaluator of its seeds does, one element per item and group', async () => {
      const { svc, store } = service('acquirer-b');
      expect(svc.status()).to.deep.equal({ state: 'ready', reason: '' });
      const items = [item(), item('422222')];
      const out = await svc.evaluate('psp-c', { setId: section.setId, groups: [['1'], ['3']], items });
      const direct = new TprfEvaluator({ ...section, version: 1 }, shares[1] as EvaluatorSeeds).evaluate({ groups: [['1'], ['3']], bins: items.map((i) => i.bin), blindedElements: items.map((i) => i.blinded) });
      expect(out).to.deep.equal(Buffer.concat(direct.flat()));
      svc.close();
      expect(store.all().map((r) => [r.member, r.bin, r.count])).to.deep.equal([
        ['psp-c', '411111', 1],
        ['psp-c', '422222', 1],
      ]);
    });

    it('refuses invalid requests naming the field, counting nothing', async () => {
      const { svc, store } = service('issuer-a');
      const good = item();
      const cases: [object, string][] = [
        [{ setId: 'ff'.repeat(16), groups: [['2']], items: [good] }, 'set_id'],
        [{ setId: section.setId, groups: [['2']], items: [] }, 'items'],
        [{ setId: section.setId, groups: [['2']], items: Array.from({ length: 10_001 }, () => good) }, 'items'],
        [{ setId: section.setId, groups: [], items: [good] }, 'groups'],
        [{ setId: section.setId, groups: [[]], items: [good] }, 'groups[0].labels'],
        [{ setId: section.setId, groups: [['2'], ['1']], items: [good] }, 'groups[1].labels[0]'],
        [{ setId: section.setId, groups: [['2', '2']], items: [good] }, 'groups[0].labels[1]'],
        [{ setId: section.setId, groups: [['2']], items: [good, { bin: '4111111', blinded: good.blinded }] }, 'items[1].bin'],
        [{ setId: section.setId, groups: [['2']], items: [good, good, { bin: '411111', blinded: new Uint8Array(32) }] }, 'items[2].blinded'],
        [{ setId: section.setId, groups: [['2']], items: [{ bin: '411111', blinded: new Uint8Array(32).fill(0xff) }] }, 'items[0].blinded'],
      ];
      for (const [request, field] of cases) {
        const error = await rejectsWith(svc.evaluate('acquirer-b', request as never), 'INVALID_ARGUMENT');
        expect(error.message.startsWith(`${field}: `), `${field}: ${error.message}`).to.equal(true);
      }
      svc.close();
      expect(store.all()).to.deep.equal([]);
      expect(svc.counters).to.deep.equal({ evaluated: 0, refusedBudget: 0, refusedInvalid: cases.length });
    });

    it('refuses over budget with RESOURCE_EXHAUSTED, audited and counted in its status', async () => {
      const { svc, audit } = service('psp-c');
      await svc.evaluate('acquirer-b', { setId: section.setId, groups: [['1', '2']], items: Array.from({ length: 10 }, () => item()) });
      const error = await rejectsWith(svc.evaluate('acquirer-b', { setId: section.setId, groups: [['1', '2']], items: [item()] }), 'RESOURCE_EXHAUSTED');
      expect(error.message).to.contain('perMemberBinHour');
      expect(audit.filter((a) => a.action === 'oprf.budget-refused')).to.deep.equal([
        { actor: 'member:acquirer-b', action: 'oprf.budget-refused', details: { budget: 'perMemberBinHour', limit: 10, used: 10, asked: 1, bin: '411111', items: 1 } },
      ]);
      expect(svc.counters).to.deep.equal({ evaluated: 10, refusedBudget: 1, refusedInvalid: 0 });
    });

    it('refuses to evaluate when its seeds do not match their commitments, saying why', async () => {
      const other = dealSeeds(members, 2);
      // psp-c's sealed seeds from another dealing: they open, but match no commitment of this one.
      const tampered: OprfSection = { ...section, sealedSeeds: { ...section.sealedSeeds, 'psp-c': sealEvaluatorSeeds({ ...(other.shares[2] as EvaluatorSeeds), setId: section.setId }, (boxes.get('psp-c') as BoxKeyPair).publicKey) } };
      const { svc, audit } = service('psp-c', tampered);
      expect(svc.status()?.state).to.equal('refused');
      expect(svc.status()?.reason).to.match(/^document\.oprf\.sealedSeeds\.psp-c: share\.seeds\[0\]\.seed: does not match its commitment/);
      expect(audit.map((a) => a.action)).to.deep.equal(['oprf.seeds-refused']);
      await rejectsWith(svc.evaluate('acquirer-b', { setId: section.setId, groups: [['1']], items: [item()] }), 'FAILED_PRECONDITION');
      // Seeds sealed to another member's key do not open.
      expect(openEvaluatorSeeds(section, 'psp-c', boxes.get('issuer-a') as BoxKeyPair)).to.deep.equal({ ok: false, reason: "document.oprf.sealedSeeds.psp-c: cannot be opened with this member's box key" });
    });

    it('the oprf section checks name the field', () => {
      const ids = new Set(members);
      expect(oprfSectionProblems(section, ids)).to.deep.equal([]);
      expect(oprfSectionProblems({ ...section, evaluators: ['issuer-a', 'acquirer-b', 'nobody-x'] }, ids)).to.deep.equal(['document.oprf.evaluators[2]: "nobody-x" is not a member of the consortium']);
      expect(oprfSectionProblems({ ...section, n: 4 }, ids)).to.deep.equal(['document.oprf.n: is 4 but 3 evaluators are listed']);
      const seeds = section.seeds.map((s, i) => (i === 1 ? { ...s, holders: [1, 2] } : s));
      expect(oprfSectionProblems({ ...section, seeds }, ids)).to.deep.equal(['document.oprf.seeds[1].holders: expected [1, 3]']);
      const { 'psp-c': _dropped, ...sealedSeeds } = section.sealedSeeds;
      void _dropped;
      expect(oprfSectionProblems({ ...section, sealedSeeds }, ids)).to.deep.equal(['document.oprf.sealedSeeds.psp-c: missing (every evaluator needs its seeds)']);
    });
  });
});
