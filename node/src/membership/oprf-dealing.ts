// The consortium file's `oprf` section (docs/oprf.md): the public description of a threshold-PRF
// dealing, and each evaluator's seeds sealed to its box key, as hashing-key epochs are. The
// section is signed by the operator with the rest of the document; a document without it
// verifies and loads exactly as before.
import { OprfInputError } from '../../../proto/ts/oprf/group';
import { checkEvaluatorSeeds, subsets, TPRF_SEED_BYTES, type EvaluatorSeeds, type TprfDescription } from '../../../proto/ts/oprf/threshold';
import type { OprfSection } from '../config/schemas';
import { openSealed, sealTo } from '../crypto/sealed-box';
import type { BoxKeyPair } from '../crypto/epochs';

/** The format of the plaintext sealed to an evaluator. */
const SEALED_SEEDS_FORMAT = 'mamori-tprf-seeds/1';

interface SealedSeedsPlaintext {
  format: typeof SEALED_SEEDS_FORMAT;
  setId: string;
  evaluator: string;
  index: number;
  seeds: { label: string; seed: string }[];
}

/** The public description the threshold code works with. */
export function oprfDescription(section: OprfSection): TprfDescription {
  return {
    version: 1,
    setId: section.setId,
    n: section.n,
    t: section.t,
    evaluators: [...section.evaluators],
    seeds: section.seeds.map((s) => ({ label: s.label, excluded: [...s.excluded], holders: [...s.holders], commitment: s.commitment })),
  };
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The checks of an oprf section that span fields; problems name the field, under `prefix`
 * (e.g. "document.oprf"). `members`: the ids the document lists (current or removed).
 */
export function oprfSectionProblems(section: OprfSection, members: ReadonlySet<string>, prefix = 'document.oprf'): string[] {
  const problems: string[] = [];
  const { n, t, evaluators } = section;
  if (evaluators.length !== n) problems.push(`${prefix}.n: is ${n} but ${evaluators.length} evaluators are listed`);
  if (t > n) problems.push(`${prefix}.t: must be at most n (${n})`);
  evaluators.forEach((id, i) => {
    if (!members.has(id)) problems.push(`${prefix}.evaluators[${i}]: "${id}" is not a member of the consortium`);
    if (evaluators.indexOf(id) !== i) problems.push(`${prefix}.evaluators[${i}]: "${id}" is listed twice`);
  });
  if (problems.length > 0) return problems;
  const expected = subsets(n, t - 1);
  if (section.seeds.length !== expected.length) {
    problems.push(`${prefix}.seeds: must list ${expected.length} seeds (one per (t−1)-subset of the ${n} evaluators), lists ${section.seeds.length}`);
    return problems;
  }
  section.seeds.forEach((s, i) => {
    const excluded = expected[i] as number[];
    const label = excluded.join('.');
    const holders = Array.from({ length: n }, (_, j) => j + 1).filter((j) => !excluded.includes(j));
    if (s.label !== label) problems.push(`${prefix}.seeds[${i}].label: expected "${label}"`);
    if (!same(s.excluded, excluded)) problems.push(`${prefix}.seeds[${i}].excluded: expected [${excluded.join(', ')}]`);
    if (!same(s.holders, holders)) problems.push(`${prefix}.seeds[${i}].holders: expected [${holders.join(', ')}]`);
  });
  const sealedTo = Object.keys(section.sealedSeeds);
  for (const id of evaluators) if (!sealedTo.includes(id)) problems.push(`${prefix}.sealedSeeds.${id}: missing (every evaluator needs its seeds)`);
  for (const id of sealedTo) if (!evaluators.includes(id)) problems.push(`${prefix}.sealedSeeds.${id}: "${id}" is not an evaluator`);
  return problems;
}

/** Seals one evaluator's seeds to its box public key. The caller drops the plaintext seeds afterwards. */
export function sealEvaluatorSeeds(share: EvaluatorSeeds, boxPublicKey: Uint8Array): string {
  const plaintext: SealedSeedsPlaintext = {
    format: SEALED_SEEDS_FORMAT,
    setId: share.setId,
    evaluator: share.evaluator,
    index: share.index,
    seeds: share.seeds.map((s) => ({ label: s.label, seed: Buffer.from(s.seed).toString('base64') })),
  };
  const bytes = Buffer.from(JSON.stringify(plaintext), 'utf8');
  try {
    return sealTo(bytes, boxPublicKey).toString('base64');
  } finally {
    bytes.fill(0);
  }
}

/** The outcome of opening this member's sealed seeds: usable seeds, or why not (a field-named reason). */
export type OpenedSeeds = { ok: true; share: EvaluatorSeeds } | { ok: false; reason: string };

/**
 * Opens this member's seeds from the section and checks them against the description's
 * commitments (checkEvaluatorSeeds). Never throws: a member that cannot use its seeds stays a
 * member and refuses to evaluate, saying why.
 */
export function openEvaluatorSeeds(section: OprfSection, member: string, box: BoxKeyPair, prefix = 'document.oprf'): OpenedSeeds {
  const sealed = section.sealedSeeds[member];
  if (sealed === undefined) return { ok: false, reason: `${prefix}.sealedSeeds.${member}: missing` };
  const opened = openSealed(Buffer.from(sealed, 'base64'), box);
  if (!opened) return { ok: false, reason: `${prefix}.sealedSeeds.${member}: cannot be opened with this member's box key` };
  let share: EvaluatorSeeds;
  try {
    const plain = JSON.parse(Buffer.from(opened).toString('utf8')) as SealedSeedsPlaintext;
    if (plain.format !== SEALED_SEEDS_FORMAT || !Array.isArray(plain.seeds)) throw new Error('not a sealed seed set');
    share = {
      setId: String(plain.setId),
      evaluator: String(plain.evaluator),
      index: Number(plain.index),
      seeds: plain.seeds.map((s) => ({ label: String(s.label), seed: new Uint8Array(Buffer.from(String(s.seed), 'base64')) })),
    };
  } catch {
    return { ok: false, reason: `${prefix}.sealedSeeds.${member}: does not hold a sealed seed set` };
  } finally {
    opened.fill(0);
  }
  if (share.evaluator !== member) return { ok: false, reason: `${prefix}.sealedSeeds.${member}: sealed for "${share.evaluator}"` };
  if (share.seeds.some((s) => s.seed.length !== TPRF_SEED_BYTES)) return { ok: false, reason: `${prefix}.sealedSeeds.${member}: a seed is not ${TPRF_SEED_BYTES} bytes` };
  try {
    checkEvaluatorSeeds(oprfDescription(section), share);
  } catch (error) {
    if (error instanceof OprfInputError) return { ok: false, reason: `${prefix}.sealedSeeds.${member}: ${error.message}` };
    throw error;
  }
  return { ok: true, share };
}
