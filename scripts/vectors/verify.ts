// Checks vector files against the code, case by case: every expected output is recomputed from
// the case's inputs with the functions the node and the SDK run. Returns one line per case that
// does not reproduce (empty: every vector holds). Used by test/unit/vectors.test.ts and by the
// conformance runner before it talks to a node.
import { isDeepStrictEqual } from 'node:util';
import { publishablePan } from '../../client-sdk/src/card-numbers';
import { encodeEntryBody } from '../../node/src/ledger/entry';
import type { EntryBody } from '../../proto/gen/mamori/v1/EntryBody';
import { normalizePan } from '../../proto/ts/normalize';
import { sodium } from "../../proto/ts/sodium";
import { sumo } from "../../proto/ts/oprf/group";
import { addOrIdentity, expandMessageXmd, hashToGroup, IDENTITY, scalarInvert, scalarMult, utf8 } from '../../proto/ts/oprf/group';
import {
  assembleDescription,
  binKeyPart,
  blindPan,
  combineAnswers,
  combineShamir,
  finalizeOutput,
  lagrangeAt,
  TprfEvaluator,
  type EvaluationPlan,
  type EvaluatorSeeds,
} from '../../proto/ts/oprf/threshold';
import { canonicalJson, consortiumSigningBytes, entryHash, entrySigningBytes, hashSelector, issuerNoticeTag, issuerNoticeTagKey, selectorCacheHandle, selectorTagName, type SelectorTypeName } from '../../proto/ts/trust/domains';
import { signDetached, verifyDetached } from '../../proto/ts/trust/verify';
import { fromHex, hex, TEST_SELECTOR_KEY, type VectorFile } from './common';
import type { AcceptanceCase, AcceptanceFixtureMember } from './acceptance';
import { verdictOf } from './acceptance';
import type { EntryCase } from './entries';
import { sealWithFixedEphemeral } from './entries';
import type { JapaneseAddressCase } from './jp-address';
import { NAME } from './jp-address';
import { expectedOf, groupProblems, type MerchantCase } from './merchant';
import type { KeyedSelectorCase } from './selectors';
import type { ObliviousCase } from './oblivious';
import type { PanCase } from './pan';

type Problems = string[];

const differs = (problems: Problems, id: string, what: string, expected: unknown, actual: unknown): void => {
  if (!isDeepStrictEqual(expected, actual)) problems.push(`${id}: ${what}: the vector says ${JSON.stringify(expected)}, the code gives ${JSON.stringify(actual)}`);
};

function keyOf(file: VectorFile<unknown>): Buffer {
  const key = (file.fixtures as { selectorKey?: string } | undefined)?.selectorKey;
  return key ? fromHex(key) : TEST_SELECTOR_KEY;
}

export function checkPan(file: VectorFile<PanCase>): Problems {
  const problems: Problems = [];
  const key = keyOf(file);
  for (const c of file.cases) {
    const r = normalizePan(c.input);
    const actual = r.ok ? { ok: true, digits: r.digits, selector: hex(hashSelector(key, 'SELECTOR_TYPE_PAN', r.digits)) } : { ok: false, reason: r.reason };
    differs(problems, c.id, 'normalization', c.expected, actual);
    if (r.ok) {
      const p = publishablePan(c.input);
      differs(problems, c.id, 'publishable', c.publishable, p.ok ? { ok: true } : { ok: false, reason: p.reason });
    }
  }
  return problems;
}

export function checkKeyedSelectors(file: VectorFile<KeyedSelectorCase>): Problems {
  const problems: Problems = [];
  const key = keyOf(file);
  for (const c of file.cases) {
    const tag = c.type === 'selector-cache' ? 'selector-cache' : selectorTagName(c.type, c.version);
    differs(problems, c.id, 'tag', c.tag, tag);
    differs(problems, c.id, 'message', c.message, hex(Buffer.from(`mamori/v1/${tag}\0${c.value}`, 'utf8')));
    const digest = c.type === 'selector-cache' ? selectorCacheHandle(key, c.value) : hashSelector(key, c.type, c.value, c.version);
    differs(problems, c.id, 'digest', c.digest, hex(digest));
  }
  return problems;
}

export function checkMerchants(file: VectorFile<MerchantCase>): Problems {
  const problems: Problems = [];
  const key = keyOf(file);
  for (const c of file.cases) {
    const expected = expectedOf(c);
    // expectedOf hashes under the test key; a file with another key is recomputed under it.
    if (expected.ok && expected.selector && !key.equals(TEST_SELECTOR_KEY)) expected.selector.digest = hex(hashSelector(key, expected.selector.type, expected.value, c.version));
    differs(problems, c.id, 'normalization', c.expected, expected);
  }
  problems.push(...groupProblems(file.cases));
  return problems;
}

export function checkJapaneseAddresses(file: VectorFile<JapaneseAddressCase>, key: Buffer = TEST_SELECTOR_KEY): Problems {
  const problems: Problems = [];
  for (const c of file.cases) {
    const v1 = expectedOf({ field: 'address', version: 1, input: c.input });
    const v2 = expectedOf({ field: 'address', version: 2, input: c.input });
    differs(problems, c.id, 'version 1', c.v1, v1.ok ? v1.value : v1.reason);
    differs(problems, c.id, 'version 2', c.v2, v2.ok ? v2.value : v2.reason);
    const na = expectedOf({ field: 'nameAddress', version: 2, input: { name: NAME, address: c.input } });
    differs(problems, c.id, 'name+address selector', c.nameAddressV2, na.ok ? hex(hashSelector(key, 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', na.value, 2)) : na.reason);
  }
  problems.push(...groupProblems(file.cases.map((c) => ({ ...c, expected: { ok: true, value: c.v2 } }))));
  return problems;
}

interface ObliviousFixtures {
  setId: string;
  t: number;
  evaluators: string[];
  hashToGroupDst: string;
  seeds: { label: string; seed: string; commitment: string }[];
}

export function checkOblivious(file: VectorFile<ObliviousCase>): Problems {
  const problems: Problems = [];
  const f = file.fixtures as unknown as ObliviousFixtures;
  let description;
  try {
    description = assembleDescription(f.evaluators, f.t, f.setId, new Map(f.seeds.map((s) => [s.label, s.commitment])));
  } catch (error) {
    return [`fixtures: the dealing does not assemble (${(error as Error).message})`];
  }
  const seedOf = new Map(f.seeds.map((s) => [s.label, fromHex(s.seed)]));
  const evaluators = new Map<string, TprfEvaluator>();
  for (const [i, id] of f.evaluators.entries()) {
    const share: EvaluatorSeeds = { setId: f.setId, evaluator: id, index: i + 1, seeds: description.seeds.filter((s) => s.holders.includes(i + 1)).map((s) => ({ label: s.label, seed: seedOf.get(s.label) as Buffer })) };
    try {
      evaluators.set(id, new TprfEvaluator(description, share));
    } catch (error) {
      problems.push(`fixtures: evaluator ${id}: ${(error as Error).message}`);
    }
  }
  if (problems.length > 0) return problems;
  const dst = utf8(f.hashToGroupDst);
  for (const c of file.cases) {
    const input = utf8(c.pan);
    differs(problems, c.id, 'bin', c.bin, c.pan.slice(0, c.binDigits));
    differs(problems, c.id, 'uniformBytes', c.uniformBytes, hex(expandMessageXmd(input, dst, 64)));
    differs(problems, c.id, 'inputElement', c.inputElement, hex(hashToGroup(input, dst)));
    const blinded = blindPan(c.pan, c.bin, fromHex(c.blind));
    differs(problems, c.id, 'blindedElement', c.blindedElement, hex(blinded.blindedElement));
    let kb: Uint8Array = new Uint8Array(32);
    for (const [label, scalar] of Object.entries(c.seedScalars)) {
      const part = binKeyPart(f.setId, label, seedOf.get(label) as Buffer, c.bin);
      differs(problems, c.id, `seedScalars[${label}]`, scalar, hex(part));
      kb = addScalars(kb, part);
    }
    differs(problems, c.id, 'binKey', c.binKey, hex(kb));
    for (const mode of ['replicatedMinimal', 'replicatedVerified'] as const) {
      const answers = new Map<string, Uint8Array[][]>();
      let combined = IDENTITY;
      const counted = new Set<string>();
      for (const a of c[mode].answers) {
        const evaluator = evaluators.get(a.evaluator);
        if (!evaluator) {
          problems.push(`${c.id}: ${mode}: no evaluator ${a.evaluator}`);
          continue;
        }
        const elements = evaluator.evaluate({ groups: a.groups, bins: [c.bin], blindedElements: [blinded.blindedElement] })[0] as Uint8Array[];
        differs(problems, c.id, `${mode} answer of ${a.evaluator}`, a.elements, elements.map(hex));
        answers.set(a.evaluator, [a.elements.map(fromHex)]);
        a.groups.forEach((g, j) => {
          const groupKey = g.join(',');
          if (counted.has(groupKey)) return;
          counted.add(groupKey);
          combined = addOrIdentity(combined, fromHex(a.elements[j] as string));
        });
      }
      differs(problems, c.id, `${mode} combined`, c[mode].combined, hex(combined));
      const result = combineAnswers(planOf(c[mode].answers), [blinded], answers).results[0];
      differs(problems, c.id, `${mode} output`, c.output, result?.status === 'ok' ? hex(result.output) : result?.status);
    }
    const shamirAnswers = new Map(c.shamir.answers.map((a) => [a.evaluator, [fromHex(a.element)]]));
    for (const a of c.shamir.answers) {
      const own = evaluators.get(a.evaluator)?.evaluateShamir({ bins: [c.bin], blindedElements: [blinded.blindedElement] })[0];
      differs(problems, c.id, `shamir answer of ${a.evaluator}`, a.element, own ? hex(own) : undefined);
    }
    differs(problems, c.id, 'shamir lagrangeAtZero', c.shamir.lagrangeAtZero, lagrangeAt(c.shamir.answers.map((a) => a.index), 0).map(hex));
    const shamir = combineShamir(description, [blinded], shamirAnswers).results[0];
    differs(problems, c.id, 'shamir output', c.output, shamir?.status === 'ok' ? hex(shamir.output) : shamir?.status);
    const unblinded = scalarMult(scalarInvert(fromHex(c.blind)), fromHex(c.replicatedMinimal.combined));
    differs(problems, c.id, 'unblinded', c.unblinded, hex(unblinded));
    const output = finalizeOutput(input, utf8(c.bin), fromHex(c.unblinded));
    differs(problems, c.id, 'output', c.output, hex(output));
    differs(problems, c.id, 'selector', c.selector, hex(output.subarray(0, 32)));
  }
  return problems;
}

function addScalars(a: Uint8Array, b: Uint8Array): Uint8Array {
  return sumo().crypto_core_ristretto255_scalar_add(a, b);
}

/** The replicated-mode plan the answers of a vector follow: one group per distinct seed group. */
function planOf(answers: ObliviousCase['replicatedMinimal']['answers']): EvaluationPlan {
  const groups: { labels: string[]; askedFrom: string[] }[] = [];
  const requests = new Map<string, string[][]>();
  const groupIndexes = new Map<string, number[]>();
  for (const a of answers) {
    requests.set(a.evaluator, a.groups);
    groupIndexes.set(
      a.evaluator,
      a.groups.map((labels) => {
        let g = groups.findIndex((x) => x.labels.join(',') === labels.join(','));
        if (g < 0) g = groups.push({ labels, askedFrom: [] }) - 1;
        groups[g]?.askedFrom.push(a.evaluator);
        return g;
      }),
    );
  }
  return { groups, requests, groupIndexes, verifiable: groups.every((g) => g.askedFrom.length >= 2), maxFaulty: 1, evaluatorMults: 0 };
}

const BYTES_FIELDS = new Set(['prev', 'digest', 'tag', 'sealed']);

/** An EntryBody from a vector's fields: hex strings of the bytes fields back to bytes. */
export function bodyFromJson(json: unknown): EntryBody {
  return JSON.parse(JSON.stringify(json), (k, v: unknown) => (BYTES_FIELDS.has(k) && typeof v === 'string' ? Buffer.from(v, 'hex') : v)) as EntryBody;
}

interface EntryFixtures {
  members: { id: string; signingSeed: string; signingPublicKey: string; boxSecretKey: string; boxPublicKey: string }[];
  issuerNotice: Record<string, string>;
  consortiumDocument: { operatorSigningSeed: string; operatorPublicKey: string; document: unknown; canonicalJson: string; signingBytes: string; signature: string };
}

export function checkEntries(file: VectorFile<EntryCase>): Problems {
  const problems: Problems = [];
  const f = file.fixtures as unknown as EntryFixtures;
  const secretKeyOf = (id: string): Buffer | undefined => {
    const m = f.members.find((x) => x.id === id);
    return m ? Buffer.from(sodium().crypto_sign_seed_keypair(fromHex(m.signingSeed)).privateKey) : undefined;
  };
  for (const c of file.cases) {
    differs(problems, c.id, 'bodyBytes', c.bodyBytes, hex(encodeEntryBody(bodyFromJson(c.body))));
    const bytes = fromHex(c.bodyBytes);
    differs(problems, c.id, 'signingBytes', c.signingBytes, hex(entrySigningBytes(bytes)));
    const sk = secretKeyOf(c.origin);
    differs(problems, c.id, 'signature', c.signature, sk ? hex(signDetached(entrySigningBytes(bytes), sk)) : 'no such member');
    differs(problems, c.id, 'hash', c.hash, hex(entryHash(bytes)));
  }
  const n = f.issuerNotice;
  const sender = f.members.find((m) => m.id === n.sender);
  const recipient = f.members.find((m) => m.id === n.recipient);
  if (!sender || !recipient) problems.push('issuerNotice: sender or recipient is not a fixture member');
  else {
    const shared = Buffer.from(sodium().crypto_scalarmult(fromHex(sender.boxSecretKey), fromHex(recipient.boxPublicKey)));
    differs(problems, 'issuerNotice', 'sharedSecret', n.sharedSecret, hex(shared));
    const tagKey = issuerNoticeTagKey(shared, fromHex(sender.boxPublicKey), fromHex(recipient.boxPublicKey));
    differs(problems, 'issuerNotice', 'tagKey', n.tagKey, hex(tagKey));
    differs(problems, 'issuerNotice', 'tag', n.tag, hex(issuerNoticeTag(tagKey, fromHex(n.ephemeralPublicKey as string))));
    const resealed = sealWithFixedEphemeral(fromHex(n.plaintext as string), fromHex(recipient.boxPublicKey), `notice ${n.sender} ${n.recipient}`);
    differs(problems, 'issuerNotice', 'sealed', n.sealed, hex(resealed.sealed));
    let opened: string | undefined;
    try {
      opened = hex(sodium().crypto_box_seal_open(fromHex(n.sealed as string), fromHex(recipient.boxPublicKey), fromHex(recipient.boxSecretKey)));
    } catch {
      opened = undefined;
    }
    differs(problems, 'issuerNotice', 'opened', n.plaintext, opened);
  }
  const d = f.consortiumDocument;
  differs(problems, 'consortiumDocument', 'canonicalJson', d.canonicalJson, canonicalJson(d.document));
  differs(problems, 'consortiumDocument', 'signingBytes', d.signingBytes, hex(consortiumSigningBytes(d.canonicalJson)));
  const operator = sodium().crypto_sign_seed_keypair(fromHex(d.operatorSigningSeed));
  differs(problems, 'consortiumDocument', 'operatorPublicKey', d.operatorPublicKey, hex(operator.publicKey));
  differs(problems, 'consortiumDocument', 'signature', d.signature, signDetached(fromHex(d.signingBytes), Buffer.from(operator.privateKey)).toString('base64'));
  if (!verifyDetached(Buffer.from(d.signature, 'base64'), fromHex(d.signingBytes), Buffer.from(operator.publicKey))) problems.push('consortiumDocument: signature does not verify');
  return problems;
}

export function checkAcceptance(file: VectorFile<AcceptanceCase>): Problems {
  const problems: Problems = [];
  const members = (file.fixtures as { members: AcceptanceFixtureMember[] }).members;
  for (const c of file.cases) differs(problems, c.id, 'verdict', c.expected, verdictOf(members, c));
  return problems;
}

export type SelectorTypeOf = SelectorTypeName;

/** Every check by file name. */
export const CHECKS: Readonly<Record<string, (file: VectorFile<never>) => Problems>> = {
  'pan-normalization.json': checkPan,
  'keyed-selectors.json': checkKeyedSelectors,
  'merchant-normalization.json': checkMerchants,
  'japanese-addresses.json': (file) => checkJapaneseAddresses(file),
  'oblivious-pan-selectors.json': checkOblivious,
  'entries.json': checkEntries,
  'acceptance.json': checkAcceptance,
};
