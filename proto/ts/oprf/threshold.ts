// Mamori's threshold partially-oblivious PRF ("TPRF", context mamori-tprf-v1).
//
// The key for a BIN b is k_b = Σ_S PRF(r_S, b) mod L, summed over one 32-byte seed r_S per
// subset S of the n evaluators with |S| = t−1; r_S is held by every evaluator not in S
// (replicated, pseudo-random secret sharing). Any t evaluators together hold every seed; any
// t−1 miss the seed of their own subset, so k_b is pseudorandom to them, and keys of different
// BINs are unrelated. The selector of a PAN p with BIN b is
//
//   output = SHA-512(lp(p) || lp(b) || lp(k_b·HashToGroup(p)) || "Finalize"),  selector = output[0..32)
//
// with lp(x) = I2OSP(len(x), 2) || x, as RFC 9497's POPRF Finalize. The client blinds
// B = r·HashToGroup(p); evaluator i answers, for each group of seeds it is asked for, one
// element (Σ_{S in group} PRF(r_S, b))·B; the client sums a partition of the seeds, unblinds
// with r⁻¹ and finalizes. A seed group asked from two or more holders is checked by comparing
// their answers. docs/oprf.md gives the reasoning and the costs.
//
// A second evaluation mode (for larger n, where C(n−1, t−1) seeds per evaluator make
// replicated answers costly to verify) converts the same seeds into Shamir shares of k_b:
// s_i(b) = Σ_{S∌i} PRF(r_S, b)·f_S(i), where f_S has degree t−1, f_S(0) = 1 and f_S(j) = 0 for
// j in S. Evaluator i answers s_i(b)·B (one multiplication) and the client combines t answers
// with Lagrange coefficients, folding r⁻¹ into them.
import { createHash, randomBytes } from 'node:crypto';
import {
  OprfInputError,
  addOrIdentity,
  bytesEqual,
  concat,
  deserializeElement,
  hashToGroup,
  i2osp,
  IDENTITY,
  isIdentity,
  isZero,
  lengthPrefixed,
  randomScalar,
  reduceScalar,
  scalarAdd,
  scalarFromInt,
  scalarInvert,
  scalarMul,
  scalarMult,
  scalarSub,
  sumo,
  utf8,
} from './group';

export const TPRF_CONTEXT = 'mamori-tprf-v1-ristretto255-SHA512';
/** Bytes of a selector: the first 32 of the 64-byte Finalize output. */
export const TPRF_SELECTOR_BYTES = 32;
export const TPRF_SEED_BYTES = 32;
/** Most blinded elements in one evaluation request. */
export const TPRF_MAX_BATCH = 10_000;

const HASH_TO_GROUP_DST = utf8(`HashToGroup-${TPRF_CONTEXT}`);
const BIN_KEY_TAG = utf8(`${TPRF_CONTEXT}/bin-key\0`);
const SEED_COMMITMENT_TAG = utf8(`${TPRF_CONTEXT}/seed-commitment\0`);
const FINALIZE = utf8('Finalize');
const BIN_PATTERN = /^(?:[0-9]{6}|[0-9]{8})$/;
const PAN_PATTERN = /^[0-9]{12,19}$/;

// ---------------------------------------------------------------------------------------------
// Public description of a dealing.

export interface SeedInfo {
  /** The excluded subset S as 1-based evaluator indexes joined by '.', e.g. "1.3". */
  label: string;
  /** 1-based indexes of S: the evaluators that do NOT hold the seed. */
  excluded: number[];
  /** 1-based indexes of the evaluators holding the seed (all not in S). */
  holders: number[];
  /** hex BLAKE2b-256(tag || lp(setId) || lp(label) || seed): lets a holder check its seed. */
  commitment: string;
}

export interface TprfDescription {
  version: 1;
  /** Random identifier of the dealing (hex, 16 bytes). */
  setId: string;
  n: number;
  t: number;
  /** Evaluator ids (member ids) in a fixed order; evaluator i (1-based) is evaluators[i − 1]. */
  evaluators: string[];
  seeds: SeedInfo[];
}

/** One evaluator's secret material: the seeds it holds. Seal it to the member's box key; never write the dealer's copy. */
export interface EvaluatorSeeds {
  setId: string;
  evaluator: string;
  /** 1-based index in description.evaluators. */
  index: number;
  seeds: { label: string; seed: Uint8Array }[];
}

/** All k-subsets of [1..n] in lexicographic order. */
export function subsets(n: number, k: number): number[][] {
  const out: number[][] = [];
  const current: number[] = [];
  const walk = (start: number): void => {
    if (current.length === k) {
      out.push([...current]);
      return;
    }
    for (let i = start; i <= n - (k - current.length) + 1; i++) {
      current.push(i);
      walk(i + 1);
      current.pop();
    }
  };
  walk(1);
  return out;
}

function seedCommitment(setId: string, label: string, seed: Uint8Array): string {
  const message = concat(SEED_COMMITMENT_TAG, lengthPrefixed(utf8(setId)), lengthPrefixed(utf8(label)), seed);
  return Buffer.from(sumo().crypto_generichash(32, message, null)).toString('hex');
}

/**
 * The dealer: draws one seed per (t−1)-subset from the CSPRNG and returns the public
 * description and each evaluator's seeds. Nothing is written anywhere: the caller seals each
 * evaluator's seeds to its member and drops the result (see docs/oprf.md, "Dealer").
 */
export function dealSeeds(evaluators: readonly string[], t: number): { description: TprfDescription; shares: EvaluatorSeeds[] } {
  const n = evaluators.length;
  if (new Set(evaluators).size !== n || evaluators.some((e) => typeof e !== 'string' || e.length === 0)) throw new OprfInputError('evaluators', 'must be distinct non-empty ids');
  if (!Number.isInteger(t) || t < 2 || t > n) throw new OprfInputError('t', `must be an integer with 2 ≤ t ≤ n (n = ${n})`);
  if (n > 16) throw new OprfInputError('evaluators', 'at most 16 evaluators');
  const setId = randomBytes(16).toString('hex');
  const seeds: SeedInfo[] = [];
  const shares: EvaluatorSeeds[] = evaluators.map((evaluator, i) => ({ setId, evaluator, index: i + 1, seeds: [] }));
  for (const excluded of subsets(n, t - 1)) {
    const label = excluded.join('.');
    const seed = new Uint8Array(randomBytes(TPRF_SEED_BYTES));
    const holders: number[] = [];
    for (let i = 1; i <= n; i++) {
      if (excluded.includes(i)) continue;
      holders.push(i);
      shares[i - 1].seeds.push({ label, seed });
    }
    seeds.push({ label, excluded, holders, commitment: seedCommitment(setId, label, seed) });
  }
  return { description: { version: 1, setId, n, t, evaluators: [...evaluators], seeds }, shares };
}

/**
 * Dealerless setup, step 1 (run by evaluator `index`, 1-based): draws the seeds this evaluator
 * generates — those whose lowest-indexed holder it is — and says to which other holders each
 * must be sent (sealed to their box keys). A seed only ever needs to be known to its holders,
 * and the seed a coalition of t−1 evaluators lacks is drawn by an evaluator outside it, so no
 * party ever holds all seeds. setId is agreed beforehand (e.g. fixed in the consortium file).
 */
export function generateOwnSeeds(
  evaluators: readonly string[],
  t: number,
  index: number,
  setId: string,
): { label: string; seed: Uint8Array; sendTo: string[]; commitment: string }[] {
  const n = evaluators.length;
  if (!Number.isInteger(t) || t < 2 || t > n) throw new OprfInputError('t', `must be an integer with 2 ≤ t ≤ n (n = ${n})`);
  if (!Number.isInteger(index) || index < 1 || index > n) throw new OprfInputError('index', `must be 1..${n}`);
  const out: { label: string; seed: Uint8Array; sendTo: string[]; commitment: string }[] = [];
  for (const excluded of subsets(n, t - 1)) {
    const holders = Array.from({ length: n }, (_, i) => i + 1).filter((i) => !excluded.includes(i));
    if (holders[0] !== index) continue;
    const label = excluded.join('.');
    const seed = new Uint8Array(randomBytes(TPRF_SEED_BYTES));
    out.push({ label, seed, sendTo: holders.slice(1).map((i) => evaluators[i - 1]), commitment: seedCommitment(setId, label, seed) });
  }
  return out;
}

/** Dealerless setup, step 2: the public description from every generator's published commitments. */
export function assembleDescription(evaluators: readonly string[], t: number, setId: string, commitments: ReadonlyMap<string, string>): TprfDescription {
  const n = evaluators.length;
  const seeds = subsets(n, t - 1).map((excluded): SeedInfo => {
    const label = excluded.join('.');
    const commitment = commitments.get(label);
    if (!commitment) throw new OprfInputError(`commitments[${label}]`, 'is missing');
    return { label, excluded, holders: Array.from({ length: n }, (_, i) => i + 1).filter((i) => !excluded.includes(i)), commitment };
  });
  const description: TprfDescription = { version: 1, setId, n, t, evaluators: [...evaluators], seeds };
  validateDescription(description);
  return description;
}

/** Structural checks of a description (from a signed consortium file, say). */
export function validateDescription(d: TprfDescription): void {
  if (d.version !== 1) throw new OprfInputError('description.version', 'must be 1');
  if (d.n !== d.evaluators.length) throw new OprfInputError('description.n', 'must equal the number of evaluators');
  if (!Number.isInteger(d.t) || d.t < 2 || d.t > d.n) throw new OprfInputError('description.t', 'must satisfy 2 ≤ t ≤ n');
  const expected = subsets(d.n, d.t - 1).map((s) => s.join('.'));
  if (d.seeds.length !== expected.length || d.seeds.some((s, i) => s.label !== expected[i])) throw new OprfInputError('description.seeds', 'must list one seed per (t−1)-subset in order');
}

/** Checks that an evaluator received exactly the seeds the description says, with matching commitments. */
export function checkEvaluatorSeeds(d: TprfDescription, share: EvaluatorSeeds): void {
  validateDescription(d);
  if (share.setId !== d.setId) throw new OprfInputError('share.setId', 'is not the description’s set');
  if (d.evaluators[share.index - 1] !== share.evaluator) throw new OprfInputError('share.index', 'does not name this evaluator');
  const expected = d.seeds.filter((s) => s.holders.includes(share.index));
  if (share.seeds.length !== expected.length) throw new OprfInputError('share.seeds', `must hold ${expected.length} seeds, has ${share.seeds.length}`);
  share.seeds.forEach((s, i) => {
    if (s.label !== expected[i].label) throw new OprfInputError(`share.seeds[${i}].label`, `expected ${expected[i].label}`);
    if (s.seed.length !== TPRF_SEED_BYTES) throw new OprfInputError(`share.seeds[${i}].seed`, `must be ${TPRF_SEED_BYTES} bytes`);
    if (seedCommitment(d.setId, s.label, s.seed) !== expected[i].commitment) throw new OprfInputError(`share.seeds[${i}].seed`, 'does not match its commitment');
  });
}

// ---------------------------------------------------------------------------------------------
// Input checks and the per-BIN key part.

export function checkBin(bin: unknown, field = 'bin'): string {
  if (typeof bin !== 'string' || !BIN_PATTERN.test(bin)) throw new OprfInputError(field, 'must be 6 or 8 ASCII digits');
  return bin;
}

/** PRF(r_S, b): BLAKE2b-512 keyed by the seed over a tagged, length-prefixed (setId, label, BIN), reduced mod L. */
export function binKeyPart(setId: string, label: string, seed: Uint8Array, bin: string): Uint8Array {
  const message = concat(BIN_KEY_TAG, lengthPrefixed(utf8(setId)), lengthPrefixed(utf8(label)), lengthPrefixed(utf8(bin)));
  return reduceScalar(sumo().crypto_generichash(64, message, seed));
}

/** Σ PRF(r_S, b) over all seeds: k_b. Needs the seeds of t evaluators; for tests and the documented re-dealing checks only. */
export function binKey(d: TprfDescription, shares: readonly EvaluatorSeeds[], bin: string): Uint8Array {
  checkBin(bin);
  const bySeed = new Map<string, Uint8Array>();
  for (const share of shares) for (const s of share.seeds) bySeed.set(s.label, s.seed);
  let k: Uint8Array = new Uint8Array(32);
  for (const s of d.seeds) {
    const seed = bySeed.get(s.label);
    if (!seed) throw new OprfInputError('shares', `do not cover seed ${s.label}`);
    k = scalarAdd(k, binKeyPart(d.setId, s.label, seed, bin));
  }
  return k;
}

/** The unblinded function: output for (pan, bin) under k_b. For tests (and whoever holds t evaluators' seeds). */
export function evaluateDirect(kb: Uint8Array, pan: string, bin: string): Uint8Array {
  const { input, info } = panInput(pan, bin);
  return finalizeOutput(input, info, scalarMult(kb, hashToGroup(input, HASH_TO_GROUP_DST)));
}

function panInput(pan: string, bin: string): { input: Uint8Array; info: Uint8Array } {
  if (typeof pan !== 'string' || !PAN_PATTERN.test(pan)) throw new OprfInputError('pan', 'must be a normalized PAN: 12 to 19 ASCII digits');
  checkBin(bin);
  if (!pan.startsWith(bin)) throw new OprfInputError('bin', 'is not the PAN’s leading digits');
  return { input: new Uint8Array(Buffer.from(pan, 'latin1')), info: new Uint8Array(Buffer.from(bin, 'latin1')) };
}

/** SHA-512(lp(input) || lp(info) || lp(N) || "Finalize"), as RFC 9497 POPRF Finalize. */
export function finalizeOutput(input: Uint8Array, info: Uint8Array, N: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha512').update(lengthPrefixed(input)).update(lengthPrefixed(info)).update(i2osp(N.length, 2)).update(N).update(FINALIZE).digest());
}

// ---------------------------------------------------------------------------------------------
// Evaluator.

/** One evaluation request as it reaches an evaluator. */
export interface EvaluationRequest {
  /** Replicated mode: the seed groups to answer, each a list of seed labels; one answer element per group. */
  groups?: string[][];
  bins: string[];
  blindedElements: Uint8Array[];
}

export class TprfEvaluator {
  readonly index: number;
  private readonly seeds = new Map<string, Uint8Array>();
  /** f_S(i) for every seed held: the Shamir conversion coefficients. */
  private readonly shamirCoefficients = new Map<string, Uint8Array>();
  private readonly cache = new Map<string, Uint8Array>();

  constructor(
    readonly description: TprfDescription,
    share: EvaluatorSeeds,
  ) {
    checkEvaluatorSeeds(description, share);
    this.index = share.index;
    for (const s of share.seeds) this.seeds.set(s.label, s.seed);
    for (const s of description.seeds) {
      if (!this.seeds.has(s.label)) continue;
      // f_S(i) = Π_{j∈S} (j − i)/j
      let coefficient = scalarFromInt(1);
      for (const j of s.excluded) coefficient = scalarMul(coefficient, scalarMul(scalarSub(scalarFromInt(j), scalarFromInt(this.index)), scalarInvert(scalarFromInt(j))));
      this.shamirCoefficients.set(s.label, coefficient);
    }
  }

  /** Labels of the seeds this evaluator holds. */
  heldLabels(): string[] {
    return [...this.seeds.keys()];
  }

  /** Replicated mode: answers[e][g] = (Σ_{S ∈ groups[g]} PRF(r_S, bins[e]))·blindedElements[e]; one multiplication per group. */
  evaluate(request: EvaluationRequest): Uint8Array[][] {
    const groups = request.groups;
    if (!Array.isArray(groups) || groups.length === 0) throw new OprfInputError('groups', 'must list at least one seed group');
    const seen = new Set<string>();
    groups.forEach((group, g) => {
      if (!Array.isArray(group) || group.length === 0) throw new OprfInputError(`groups[${g}]`, 'must list at least one seed');
      group.forEach((label, j) => {
        if (!this.seeds.has(label)) throw new OprfInputError(`groups[${g}][${j}]`, 'is not a seed this evaluator holds');
        if (seen.has(label)) throw new OprfInputError(`groups[${g}][${j}]`, 'is asked for twice');
        seen.add(label);
      });
    });
    const blinded = this.checkBatch(request);
    return blinded.map((B, e) => groups.map((group) => scalarMult(this.groupScalar(group, request.bins[e]), B)));
  }

  /** Shamir mode: answers[e] = s_i(bins[e])·blindedElements[e]; one multiplication per element. */
  evaluateShamir(request: EvaluationRequest): Uint8Array[] {
    const blinded = this.checkBatch(request);
    return blinded.map((B, e) => scalarMult(this.shamirScalar(request.bins[e]), B));
  }

  private checkBatch(request: EvaluationRequest): Uint8Array[] {
    const { bins, blindedElements } = request;
    if (!Array.isArray(blindedElements) || blindedElements.length === 0) throw new OprfInputError('blindedElements', 'must hold at least one element');
    if (blindedElements.length > TPRF_MAX_BATCH) throw new OprfInputError('blindedElements', `at most ${TPRF_MAX_BATCH} elements per request`);
    if (!Array.isArray(bins) || bins.length !== blindedElements.length) throw new OprfInputError('bins', 'must have one BIN per blinded element');
    bins.forEach((bin, e) => checkBin(bin, `bins[${e}]`));
    return blindedElements.map((b, e) => deserializeElement(b, `blindedElements[${e}]`));
  }

  private part(label: string, bin: string): Uint8Array {
    return binKeyPart(this.description.setId, label, this.seeds.get(label) as Uint8Array, bin);
  }

  private groupScalar(group: string[], bin: string): Uint8Array {
    const key = `${bin}|${group.join(',')}`;
    let k = this.cache.get(key);
    if (!k) {
      k = new Uint8Array(32);
      for (const label of group) k = scalarAdd(k, this.part(label, bin));
      this.remember(key, k);
    }
    return k;
  }

  private shamirScalar(bin: string): Uint8Array {
    const key = `${bin}|shamir`;
    let k = this.cache.get(key);
    if (!k) {
      k = new Uint8Array(32);
      for (const [label, coefficient] of this.shamirCoefficients) k = scalarAdd(k, scalarMul(this.part(label, bin), coefficient));
      this.remember(key, k);
    }
    return k;
  }

  private remember(key: string, value: Uint8Array): void {
    if (this.cache.size >= 4096) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, value);
  }
}

// ---------------------------------------------------------------------------------------------
// Coverage planner (replicated mode).

export interface PlanGroup {
  labels: string[];
  /** Evaluator ids asked for this group's sum. */
  askedFrom: string[];
}

export interface EvaluationPlan {
  groups: PlanGroup[];
  /** Per evaluator id: the seed groups (labels) to send it, in the order its answers come back. */
  requests: Map<string, string[][]>;
  /** Per evaluator id: the plan group index of each of its requested groups. */
  groupIndexes: Map<string, number[]>;
  /** Every group is asked from at least maxFaulty + 1 evaluators. */
  verifiable: boolean;
  maxFaulty: number;
  /** Scalar multiplications per PAN summed over the evaluators asked (one per requested group). */
  evaluatorMults: number;
}

export type PlanResult = ({ ok: true } & EvaluationPlan) | { ok: false; reason: string; uncovered: string[] };

export interface PlanOptions {
  /** Ask every seed group from maxFaulty + 1 holders, so that wrong answers are detected. */
  verify?: boolean;
  /** Most evaluators assumed faulty at once when verifying and attributing (default 1). */
  maxFaulty?: number;
  /** Without verify: 'minimal' asks the fewest evaluators (t), 'spread' asks all available, one group each. */
  spread?: 'minimal' | 'all';
}

/** Which seeds the given evaluators together hold, and which none of them holds. */
export function coverage(d: TprfDescription, evaluatorIds: readonly string[]): { covered: boolean; uncovered: string[] } {
  const indexes = new Set(evaluatorIds.map((id) => d.evaluators.indexOf(id) + 1).filter((i) => i > 0));
  const uncovered = d.seeds.filter((s) => !s.holders.some((h) => indexes.has(h))).map((s) => s.label);
  return { covered: uncovered.length === 0, uncovered };
}

/**
 * Plans one evaluation round from the evaluators that are reachable, listed in order of
 * preference. Without verify: the fewest evaluators covering every seed, each asked for one
 * group (its sum costs one multiplication). With verify: every seed asked from maxFaulty + 1
 * holders, seeds with the same holders grouped.
 */
export function planEvaluation(d: TprfDescription, available: readonly string[], options: PlanOptions = {}): PlanResult {
  const maxFaulty = options.maxFaulty ?? 1;
  const ids = available.filter((id, i) => d.evaluators.includes(id) && available.indexOf(id) === i);
  const cov = coverage(d, ids);
  if (!cov.covered) return { ok: false, reason: `the ${ids.length} available evaluators do not hold every seed (t = ${d.t})`, uncovered: cov.uncovered };
  const indexOf = (id: string): number => d.evaluators.indexOf(id) + 1;
  const assignment = new Map<string, string[]>(); // key: holder ids joined → labels
  if (options.verify) {
    const lacking: string[] = [];
    for (const s of d.seeds) {
      const holders = ids.filter((id) => s.holders.includes(indexOf(id))).slice(0, maxFaulty + 1);
      if (holders.length < maxFaulty + 1) {
        lacking.push(s.label);
        continue;
      }
      const key = holders.join('\n');
      assignment.set(key, [...(assignment.get(key) ?? []), s.label]);
    }
    if (lacking.length > 0) return { ok: false, reason: `fewer than ${maxFaulty + 1} available holders for some seeds: answers cannot be verified`, uncovered: lacking };
  } else {
    let chosen = ids;
    if (options.spread !== 'all') {
      // Smallest prefix-ordered subset covering all seeds (t of them when any t are available).
      search: for (let size = 1; size <= ids.length; size++) {
        for (const combo of subsets(ids.length, size)) {
          const candidate = combo.map((i) => ids[i - 1]);
          if (coverage(d, candidate).covered) {
            chosen = candidate;
            break search;
          }
        }
      }
    }
    const load = new Map<string, number>(chosen.map((id) => [id, 0]));
    const remaining = new Map<string, number>(chosen.map((id) => [id, d.seeds.filter((s) => s.holders.includes(indexOf(id))).length]));
    for (const s of d.seeds) {
      const holders = chosen.filter((id) => s.holders.includes(indexOf(id)));
      for (const id of holders) remaining.set(id, (remaining.get(id) as number) - 1);
      // 'all': the least-loaded holder, ties to the one with fewest seeds still to come, so that
      // every evaluator gets a share of the work; 'minimal': the first holder.
      const rank = (id: string): number => (load.get(id) as number) * 1000 + (remaining.get(id) as number);
      const pick = options.spread === 'all' ? holders.reduce((a, b) => (rank(b) < rank(a) ? b : a)) : holders[0];
      load.set(pick, (load.get(pick) as number) + 1);
      assignment.set(pick, [...(assignment.get(pick) ?? []), s.label]);
    }
  }
  const groups: PlanGroup[] = [...assignment.entries()].map(([key, labels]) => ({ labels, askedFrom: key.split('\n') }));
  const requests = new Map<string, string[][]>();
  const groupIndexes = new Map<string, number[]>();
  groups.forEach((group, g) => {
    for (const id of group.askedFrom) {
      requests.set(id, [...(requests.get(id) ?? []), group.labels]);
      groupIndexes.set(id, [...(groupIndexes.get(id) ?? []), g]);
    }
  });
  const evaluatorMults = groups.reduce((sum, g) => sum + g.askedFrom.length, 0);
  return { ok: true, groups, requests, groupIndexes, verifiable: groups.every((g) => g.askedFrom.length >= maxFaulty + 1), maxFaulty, evaluatorMults };
}

// ---------------------------------------------------------------------------------------------
// Client.

export interface BlindedPan {
  input: Uint8Array;
  info: Uint8Array;
  bin: string;
  blind: Uint8Array;
  blindedElement: Uint8Array;
}

export type ElementResult =
  | { status: 'ok'; output: Uint8Array; selector: Uint8Array; verified: boolean; faulty: string[] }
  /** Answers conflict and the wrong one cannot be told: no output; treat the disputed evaluators as unreachable for this element. */
  | { status: 'disputed'; faulty: string[]; disputed: string[] }
  /** Faulty evaluators were identified, and what is left does not cover every seed: ask again without them. */
  | { status: 'incomplete'; faulty: string[] };

export interface BatchResult {
  results: ElementResult[];
  /** Per evaluator id: elements on which it was shown to answer wrongly. */
  faultyCounts: Map<string, number>;
  /** Per evaluator id: elements on which it was in a conflict that could not be attributed. */
  disputedCounts: Map<string, number>;
}

/** Blinds a normalized PAN with info = its BIN: B = r·HashToGroup(pan). */
export function blindPan(pan: string, bin: string, blind: Uint8Array = randomScalar()): BlindedPan {
  const { input, info } = panInput(pan, bin);
  const P = hashToGroup(input, HASH_TO_GROUP_DST);
  if (isIdentity(P)) throw new OprfInputError('pan', 'maps to the identity element');
  return { input, info, bin, blind, blindedElement: scalarMult(blind, P) };
}

/** The request to send one evaluator for a batch of blinded PANs under a plan. */
export function requestFor(plan: EvaluationPlan, evaluator: string, batch: readonly BlindedPan[]): EvaluationRequest {
  const groups = plan.requests.get(evaluator);
  if (!groups) throw new Error(`evaluator ${evaluator} is not in the plan`);
  return { groups, bins: batch.map((b) => b.bin), blindedElements: batch.map((b) => b.blindedElement) };
}

interface Answer {
  evaluator: string;
  point: Uint8Array;
}

function bump(map: Map<string, number>, ids: Iterable<string>): void {
  for (const id of ids) map.set(id, (map.get(id) ?? 0) + 1);
}

/**
 * Combines the evaluators' answers for a batch (replicated mode). answers maps an evaluator id
 * to its response: per element, one element per group it was asked for. A missing evaluator
 * is left out of the map; a malformed response makes that evaluator faulty for the batch.
 */
export function combineAnswers(plan: EvaluationPlan, batch: readonly BlindedPan[], answers: ReadonlyMap<string, readonly (readonly Uint8Array[])[]>): BatchResult {
  const faultyCounts = new Map<string, number>();
  const disputedCounts = new Map<string, number>();
  const wholeBatchFaulty = new Set<string>();
  for (const [id, response] of answers) {
    const expected = plan.groupIndexes.get(id);
    if (!expected || !Array.isArray(response) || response.length !== batch.length || response.some((r) => !Array.isArray(r) || r.length !== expected.length)) wholeBatchFaulty.add(id);
  }
  const results = batch.map((item, e): ElementResult => {
    const faulty = new Set<string>(wholeBatchFaulty);
    const perGroup: Answer[][] = plan.groups.map(() => []);
    for (const [id, response] of answers) {
      if (wholeBatchFaulty.has(id)) continue;
      const indexes = plan.groupIndexes.get(id) as number[];
      response[e].forEach((point, j) => {
        try {
          perGroup[indexes[j]].push({ evaluator: id, point: deserializeElement(point, `answers[${id}][${e}][${j}]`) });
        } catch {
          faulty.add(id); // an answer that is not a group element is wrong for certain
        }
      });
    }
    for (const group of perGroup) for (let a = group.length - 1; a >= 0; a--) if (faulty.has(group[a].evaluator)) group.splice(a, 1);
    const decision = decideGroups(perGroup, plan.maxFaulty, faulty);
    bump(faultyCounts, decision.faulty);
    if (decision.status !== 'ok') {
      if (decision.status === 'disputed') bump(disputedCounts, decision.disputed);
      return decision;
    }
    let Z = IDENTITY;
    for (const value of decision.values) Z = addOrIdentity(Z, value);
    if (isIdentity(Z)) return { status: 'incomplete', faulty: decision.faulty };
    const N = scalarMult(scalarInvert(item.blind), Z);
    const output = finalizeOutput(item.input, item.info, N);
    return { status: 'ok', output, selector: output.subarray(0, TPRF_SELECTOR_BYTES), verified: decision.verified, faulty: decision.faulty };
  });
  return { results, faultyCounts, disputedCounts };
}

type Decision = { status: 'ok'; values: Uint8Array[]; verified: boolean; faulty: string[] } | { status: 'disputed'; faulty: string[]; disputed: string[] } | { status: 'incomplete'; faulty: string[] };

/**
 * Decides the value of each seed group from its answers, assuming at most maxFaulty wrong
 * evaluators (those already known faulty count against it).
 *  - no conflict: each group's common value; verified when every group has ≥ f'+1 answers
 *    (f' = faults still unaccounted for);
 *  - conflicts: every set F of ≤ maxFaulty evaluators whose removal leaves each group's
 *    answers equal is a candidate explanation. A conflicting group is decided when every
 *    candidate leaves the same value from an evaluator outside F. Evaluators whose answer
 *    differs from a decided value are faulty; if some conflicting group stays undecided, the
 *    evaluators of the candidates are disputed and nothing is output.
 */
function decideGroups(perGroup: Answer[][], maxFaulty: number, knownFaulty: Set<string>): Decision {
  const faulty = new Set(knownFaulty);
  const conflicting: number[] = [];
  perGroup.forEach((answers, g) => {
    if (answers.some((a) => !bytesEqual(a.point, answers[0].point))) conflicting.push(g);
  });
  if (conflicting.length > 0) {
    const involved = [...new Set(conflicting.flatMap((g) => perGroup[g].map((a) => a.evaluator)))].sort();
    const budget = maxFaulty - faulty.size;
    const candidates: Set<string>[] = [];
    for (let size = 1; size <= Math.max(0, budget); size++) {
      for (const combo of subsets(involved.length, size)) {
        const F = new Set(combo.map((i) => involved[i - 1]));
        const consistent = conflicting.every((g) => {
          const rest = perGroup[g].filter((a) => !F.has(a.evaluator));
          return rest.every((a) => bytesEqual(a.point, rest[0].point));
        });
        if (consistent) candidates.push(F);
      }
    }
    const decided = new Map<number, Uint8Array>();
    let undecided = candidates.length === 0;
    for (const g of conflicting) {
      let value: Uint8Array | undefined;
      for (const F of candidates) {
        const rest = perGroup[g].filter((a) => !F.has(a.evaluator));
        if (rest.length === 0 || (value && !bytesEqual(value, rest[0].point))) {
          undecided = true;
          break;
        }
        value = rest[0].point;
      }
      if (undecided) break;
      decided.set(g, value as Uint8Array);
    }
    if (undecided) {
      const certain = candidates.length > 0 ? involved.filter((id) => candidates.every((F) => F.has(id))) : [];
      for (const id of certain) faulty.add(id);
      const disputed = candidates.length > 0 ? involved.filter((id) => !faulty.has(id) && candidates.some((F) => F.has(id))) : involved.filter((id) => !faulty.has(id));
      return { status: 'disputed', faulty: [...faulty], disputed };
    }
    for (const [g, value] of decided) for (const a of perGroup[g]) if (!bytesEqual(a.point, value)) faulty.add(a.evaluator);
    for (const answers of perGroup) for (let a = answers.length - 1; a >= 0; a--) if (faulty.has(answers[a].evaluator)) answers.splice(a, 1);
  }
  if (perGroup.some((answers) => answers.length === 0)) return { status: 'incomplete', faulty: [...faulty] };
  const remaining = Math.max(0, maxFaulty - faulty.size);
  const verified = perGroup.every((answers, g) => conflicting.includes(g) || answers.length >= remaining + 1);
  return { status: 'ok', values: perGroup.map((answers) => answers[0].point), verified, faulty: [...faulty] };
}

// ---------------------------------------------------------------------------------------------
// Shamir mode client side.

const lagrangeCache = new Map<string, Uint8Array[]>();

/** λ_i(x) for i in xs: Π_{j≠i} (x − j)/(i − j), mod L. */
export function lagrangeAt(xs: readonly number[], x: number): Uint8Array[] {
  const key = `${xs.join('.')}@${x}`;
  let cached = lagrangeCache.get(key);
  if (!cached) {
    cached = xs.map((i) => {
      let num = scalarFromInt(1);
      let den = scalarFromInt(1);
      for (const j of xs) {
        if (j === i) continue;
        num = scalarMul(num, scalarSub(scalarFromInt(x), scalarFromInt(j)));
        den = scalarMul(den, scalarSub(scalarFromInt(i), scalarFromInt(j)));
      }
      return scalarMul(num, scalarInvert(den));
    });
    if (lagrangeCache.size > 1024) lagrangeCache.clear();
    lagrangeCache.set(key, cached);
  }
  return cached;
}

function interpolate(points: readonly { x: number; point: Uint8Array }[], x: number, fold?: Uint8Array): Uint8Array {
  const lambdas = lagrangeAt(
    points.map((p) => p.x),
    x,
  );
  let Z = IDENTITY;
  points.forEach((p, i) => {
    const coefficient = fold ? scalarMul(lambdas[i], fold) : lambdas[i];
    if (!isZero(coefficient)) Z = addOrIdentity(Z, scalarMult(coefficient, p.point));
  });
  return Z;
}

/**
 * Combines Shamir-mode answers (answers: evaluator id → one element per blinded PAN). With t
 * answers the output is unverified; with more, every extra answer is checked against the
 * interpolation of t others and, with at least t + 2·maxFaulty answers, up to maxFaulty wrong
 * answers are identified and left out.
 */
export function combineShamir(d: TprfDescription, batch: readonly BlindedPan[], answers: ReadonlyMap<string, readonly Uint8Array[]>, maxFaulty = 1): BatchResult {
  const faultyCounts = new Map<string, number>();
  const disputedCounts = new Map<string, number>();
  const results = batch.map((item, e): ElementResult => {
    const faulty = new Set<string>();
    const points: { id: string; x: number; point: Uint8Array }[] = [];
    for (const [id, response] of answers) {
      const x = d.evaluators.indexOf(id) + 1;
      if (x === 0) continue;
      try {
        if (!Array.isArray(response) || response.length !== batch.length) throw new Error('wrong length');
        points.push({ id, x, point: deserializeElement(response[e], `answers[${id}][${e}]`) });
      } catch {
        faulty.add(id);
      }
    }
    points.sort((a, b) => a.x - b.x);
    const finish = (base: typeof points, verified: boolean): ElementResult => {
      bump(faultyCounts, faulty);
      const N = interpolate(base, 0, scalarInvert(item.blind));
      const output = finalizeOutput(item.input, item.info, N);
      return { status: 'ok', output, selector: output.subarray(0, TPRF_SELECTOR_BYTES), verified, faulty: [...faulty] };
    };
    if (points.length < d.t) {
      bump(faultyCounts, faulty);
      return { status: 'incomplete', faulty: [...faulty] };
    }
    const base = points.slice(0, d.t);
    const extra = points.slice(d.t);
    const consistentWith = (T: typeof points, p: (typeof points)[number]): boolean => bytesEqual(interpolate(T, p.x), p.point);
    if (extra.every((p) => consistentWith(base, p))) return finish(base, points.length - maxFaulty >= d.t && extra.length > 0);
    // Decode: a t-subset whose polynomial agrees with ≥ t + f answers is the right one.
    const f = Math.max(0, maxFaulty - faulty.size);
    for (const combo of subsets(points.length, d.t)) {
      const T = combo.map((i) => points[i - 1]);
      const agree = points.filter((p) => T.includes(p) || consistentWith(T, p));
      if (agree.length >= d.t + f) {
        for (const p of points) if (!agree.includes(p)) faulty.add(p.id);
        return finish(T, true);
      }
    }
    bump(faultyCounts, faulty);
    const disputed = points.map((p) => p.id).filter((id) => !faulty.has(id));
    bump(disputedCounts, disputed);
    return { status: 'disputed', faulty: [...faulty], disputed };
  });
  return { results, faultyCounts, disputedCounts };
}
