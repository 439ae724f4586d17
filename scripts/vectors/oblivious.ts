// The oblivious PAN selector end to end (docs/protocol.md#oblivious-pan-selectors) under a
// fixed dealing (n = 3, t = 2; seeds and blinds from fixed labels, not a CSPRNG): the
// hash-to-group, the blinded element, each evaluator's answer in replicated mode (the minimal
// plan and the verifying plan) and in Shamir mode, the combined and unblinded element, and the
// 64-byte output whose first 32 bytes are the selector.
import { withLuhnDigit } from '../../proto/ts/normalize';
import { expandMessageXmd, hashToGroup, reduceScalar, scalarInvert, scalarMult, addOrIdentity, IDENTITY, utf8, concat, lengthPrefixed } from '../../proto/ts/oprf/group';
import {
  assembleDescription,
  binKey,
  binKeyPart,
  blindPan,
  combineAnswers,
  combineShamir,
  evaluateDirect,
  lagrangeAt,
  planEvaluation,
  TPRF_CONTEXT,
  TprfEvaluator,
  type EvaluationPlan,
  type EvaluatorSeeds,
  type TprfDescription,
} from '../../proto/ts/oprf/threshold';
import { sumo } from '../../proto/ts/oprf/group';
import { fixedBytes, hex, vectorFile, type VectorFile } from './common';

export const EVALUATORS = ['evaluator-a', 'evaluator-b', 'evaluator-c'] as const;
export const THRESHOLD = 2;
export const SET_ID = fixedBytes('oprf set id', 16).toString('hex');

interface ReplicatedAnswer {
  evaluator: string;
  /** The seed groups it was asked for, each a list of seed labels. */
  groups: string[][];
  /** One element per group: (Σ PRF(r_S, bin) over the group)·blindedElement. */
  elements: string[];
}

export interface ObliviousCase {
  id: string;
  pan: string;
  binDigits: 6 | 8;
  bin: string;
  /** expand_message_xmd(SHA-512, pan, DST, 64): the uniform bytes the one-way map takes. */
  uniformBytes: string;
  /** HashToGroup(pan). */
  inputElement: string;
  /** The client's blind r: a scalar, 32 bytes little-endian. */
  blind: string;
  /** r·HashToGroup(pan). */
  blindedElement: string;
  /** PRF(r_S, bin) per seed label. */
  seedScalars: Record<string, string>;
  /** k_bin = Σ PRF(r_S, bin). */
  binKey: string;
  replicatedMinimal: { answers: ReplicatedAnswer[]; combined: string };
  replicatedVerified: { answers: ReplicatedAnswer[]; combined: string };
  shamir: { answers: { evaluator: string; index: number; element: string }[]; lagrangeAtZero: string[] };
  /** r⁻¹·combined = k_bin·HashToGroup(pan). */
  unblinded: string;
  /** SHA-512(lp(pan) || lp(bin) || lp(unblinded) || "Finalize"). */
  output: string;
  /** output[0..32): the SELECTOR_TYPE_PAN_OBLIVIOUS digest. */
  selector: string;
}

const SEED_COMMITMENT_TAG = `${TPRF_CONTEXT}/seed-commitment\0`;
export const HASH_TO_GROUP_DST = `HashToGroup-${TPRF_CONTEXT}`;

/** The fixed dealing: its public description and every evaluator's seeds. */
export function fixedDealing(): { description: TprfDescription; shares: EvaluatorSeeds[]; seeds: Map<string, Uint8Array> } {
  const seeds = new Map<string, Uint8Array>();
  const commitments = new Map<string, string>();
  // Labels follow from n and t; assembleDescription checks them against its own enumeration.
  const labels = EVALUATORS.map((_, i) => String(i + 1));
  for (const label of labels) {
    const seed = new Uint8Array(fixedBytes(`oprf seed ${label}`));
    seeds.set(label, seed);
    const message = concat(utf8(SEED_COMMITMENT_TAG), lengthPrefixed(utf8(SET_ID)), lengthPrefixed(utf8(label)), seed);
    commitments.set(label, Buffer.from(sumo().crypto_generichash(32, message, null)).toString('hex'));
  }
  const description = assembleDescription([...EVALUATORS], THRESHOLD, SET_ID, commitments);
  const shares = EVALUATORS.map((evaluator, i): EvaluatorSeeds => ({
    setId: SET_ID,
    evaluator,
    index: i + 1,
    seeds: description.seeds.filter((s) => s.holders.includes(i + 1)).map((s) => ({ label: s.label, seed: seeds.get(s.label) as Uint8Array })),
  }));
  return { description, shares, seeds };
}

function replicated(plan: EvaluationPlan, evaluators: Map<string, TprfEvaluator>, batch: ReturnType<typeof blindPan>): { answers: ReplicatedAnswer[]; combined: string } {
  const answers: ReplicatedAnswer[] = [];
  const byEvaluator = new Map<string, Uint8Array[][]>();
  let combined = IDENTITY;
  const counted = new Set<number>();
  for (const [evaluator, groups] of plan.requests) {
    const elements = (evaluators.get(evaluator) as TprfEvaluator).evaluate({ groups, bins: [batch.bin], blindedElements: [batch.blindedElement] });
    byEvaluator.set(evaluator, elements);
    answers.push({ evaluator, groups, elements: (elements[0] as Uint8Array[]).map(hex) });
    // Each plan group counts once in the sum, whichever of its evaluators answered it.
    (plan.groupIndexes.get(evaluator) as number[]).forEach((g, j) => {
      if (counted.has(g)) return;
      counted.add(g);
      combined = addOrIdentity(combined, (elements[0] as Uint8Array[])[j] as Uint8Array);
    });
  }
  const result = combineAnswers(plan, [batch], byEvaluator).results[0];
  if (!result || result.status !== 'ok') throw new Error('the fixed plan did not combine');
  return { answers, combined: hex(combined) };
}

const PANS: readonly [string, string, 6 | 8][] = [
  ['pan-16-bin-6', withLuhnDigit('001234567890123'), 6],
  ['pan-16-bin-8', withLuhnDigit('001234567890123'), 8],
  ['pan-12-bin-6', withLuhnDigit('00987654321'), 6],
  ['pan-19-bin-8', withLuhnDigit('002468013579246801'), 8],
];

export function obliviousVectors(): VectorFile<ObliviousCase> {
  const { description, shares, seeds } = fixedDealing();
  const evaluators = new Map(shares.map((s) => [s.evaluator, new TprfEvaluator(description, s)]));
  const minimal = planEvaluation(description, [...EVALUATORS]);
  const verified = planEvaluation(description, [...EVALUATORS], { verify: true });
  if (!minimal.ok || !verified.ok) throw new Error('the fixed dealing cannot be planned');
  const shamirIds = [EVALUATORS[0], EVALUATORS[2]];
  const cases = PANS.map(([id, pan, binDigits]): ObliviousCase => {
    const bin = pan.slice(0, binDigits);
    const blind = reduceScalar(fixedBytes(`oprf blind ${id}`, 64));
    const blinded = blindPan(pan, bin, blind);
    const seedScalars: Record<string, string> = {};
    for (const s of description.seeds) seedScalars[s.label] = hex(binKeyPart(SET_ID, s.label, seeds.get(s.label) as Uint8Array, bin));
    const kb = binKey(description, shares, bin);
    const shamirAnswers = new Map(shamirIds.map((e) => [e, (evaluators.get(e) as TprfEvaluator).evaluateShamir({ bins: [bin], blindedElements: [blinded.blindedElement] })]));
    const shamirResult = combineShamir(description, [blinded], shamirAnswers).results[0];
    const replicatedMinimal = replicated(minimal, evaluators, blinded);
    const replicatedVerified = replicated(verified, evaluators, blinded);
    const unblinded = scalarMult(scalarInvert(blind), Buffer.from(replicatedMinimal.combined, 'hex'));
    const output = evaluateDirect(kb, pan, bin);
    if (!shamirResult || shamirResult.status !== 'ok' || hex(shamirResult.output) !== hex(output)) throw new Error(`${id}: Shamir mode gives another output`);
    const viaPlan = combineAnswers(minimal, [blinded], new Map([...minimal.requests].map(([e, groups]) => [e, (evaluators.get(e) as TprfEvaluator).evaluate({ groups, bins: [bin], blindedElements: [blinded.blindedElement] })]))).results[0];
    if (!viaPlan || viaPlan.status !== 'ok' || hex(viaPlan.output) !== hex(output)) throw new Error(`${id}: combination gives another output`);
    const input = utf8(pan);
    return {
      id,
      pan,
      binDigits,
      bin,
      uniformBytes: hex(expandMessageXmd(input, utf8(HASH_TO_GROUP_DST), 64)),
      inputElement: hex(hashToGroup(input, utf8(HASH_TO_GROUP_DST))),
      blind: hex(blind),
      blindedElement: hex(blinded.blindedElement),
      seedScalars,
      binKey: hex(kb),
      replicatedMinimal,
      replicatedVerified,
      shamir: {
        answers: shamirIds.map((e) => ({ evaluator: e, index: EVALUATORS.indexOf(e) + 1, element: hex((shamirAnswers.get(e) as Uint8Array[])[0] as Uint8Array) })),
        lagrangeAtZero: lagrangeAt(shamirIds.map((e) => EVALUATORS.indexOf(e) + 1), 0).map(hex),
      },
      unblinded: hex(unblinded),
      output: hex(output),
      selector: hex(output.subarray(0, 32)),
    };
  });
  return vectorFile({
    name: 'oblivious-pan-selectors.json',
    version: 1,
    spec: 'docs/protocol.md#oblivious-pan-selectors',
    description:
      'The threshold PRF (context mamori-tprf-v1-ristretto255-SHA512) under a fixed test dealing: n = 3 evaluators, t = 2, seeds SHA-256 of fixed labels (never deal like this: seeds come from a CSPRNG). Blinds are fixed scalars; a client draws a fresh random one per evaluation. Elements are canonical ristretto255 encodings, scalars 32 bytes little-endian. PANs are synthetic test data.',
    fixtures: {
      setId: SET_ID,
      n: EVALUATORS.length,
      t: THRESHOLD,
      evaluators: [...EVALUATORS],
      hashToGroupDst: HASH_TO_GROUP_DST,
      seeds: description.seeds.map((s) => ({ label: s.label, excluded: s.excluded, holders: s.holders, seed: hex(seeds.get(s.label) as Uint8Array), commitment: s.commitment })),
    },
    cases,
  });
}
