// The conformance run (docs/protocol.md#conformance): first every vector file is checked
// offline against this implementation's code, then a running node is exercised over gRPC with
// the vectors — card selectors (keyed, or oblivious through the consortium's evaluators, as the
// phase says) published, checked and retracted; merchant selectors of every
// group published, every spelling and near-miss screened, then retracted; invalid requests
// taken from the acceptance vectors refused. Every vector gets one PASS or FAIL line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import { hashSelector, type SelectorTypeName } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';
import { oprfReady } from '../../proto/ts/oprf/group';
import type { AcceptanceCase } from '../vectors/acceptance';
import type { VectorFile } from '../vectors/common';
import type { JapaneseAddressCase } from '../vectors/jp-address';
import type { KeyedSelectorCase } from '../vectors/selectors';
import type { MerchantCase } from '../vectors/merchant';
import type { PanCase } from '../vectors/pan';
import { bodyFromJson, CHECKS } from '../vectors/verify';
import { NodeApi, type CheckResultWire, type WireSelector } from './node-api';

export interface ConformanceOptions {
  target: string;
  token: string;
  member: string;
  vectorsDir: string;
  /** Where each PASS / FAIL / SKIP line goes. */
  report: (line: string) => void;
}

export interface ConformanceSummary {
  passed: number;
  failed: number;
  skipped: number;
}

const DAY_MS = 86_400_000;

class Tally implements ConformanceSummary {
  passed = 0;
  failed = 0;
  skipped = 0;
  constructor(private readonly report: (line: string) => void) {}
  pass(id: string): void {
    this.passed++;
    this.report(`PASS ${id}`);
  }
  fail(id: string, why: string): void {
    this.failed++;
    this.report(`FAIL ${id}: ${why}`);
  }
  skip(what: string, why: string): void {
    this.skipped++;
    this.report(`SKIP ${what}: ${why}`);
  }
  verdict(id: string, problem: string | undefined): void {
    if (problem) this.fail(id, problem);
    else this.pass(id);
  }
}

/** The vector files a run needs, read and checked for their envelope. */
export function readVectorFiles(dir: string): Map<string, VectorFile<never>> {
  const files = new Map<string, VectorFile<never>>();
  for (const name of Object.keys(CHECKS)) {
    const file = path.join(dir, name);
    let parsed: VectorFile<never>;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as VectorFile<never>;
    } catch (error) {
      throw new Error(`${file}: cannot be read as JSON (${(error as Error).message})`);
    }
    if (parsed.format !== 'mamori-vectors/1' || !Array.isArray(parsed.cases)) throw new Error(`${file}: not a mamori-vectors/1 file`);
    files.set(name, parsed);
  }
  return files;
}

export async function runConformance(options: ConformanceOptions): Promise<ConformanceSummary> {
  await sodiumReady();
  await oprfReady();
  const tally = new Tally(options.report);
  const files = readVectorFiles(options.vectorsDir);

  // 1. Offline: this implementation reproduces every vector.
  for (const [name, file] of files) {
    const problems = (CHECKS[name] as (f: VectorFile<never>) => string[])(file);
    const ids = new Set((file.cases as { id: string }[]).map((c) => c.id));
    for (const c of file.cases as { id: string }[]) {
      const own = problems.filter((p) => p.startsWith(`${c.id}: `));
      tally.verdict(`offline ${name} ${c.id}`, own.length > 0 ? own.join('; ') : undefined);
    }
    for (const p of problems.filter((p) => ![...ids].some((id) => p.startsWith(`${id}: `)))) tally.fail(`offline ${name}`, p);
  }

  // 2. Online: the node.
  const api = new NodeApi(options.target, options.token);
  try {
    const status = await api.must<{ member: string; roles: string[] }>('Status', {});
    const keys = await api.must<{ keys: { epoch: number; key: Buffer }[]; panSelectors: string }>('GetHashingKeys', {});
    const active = keys.keys[0];
    if (!active) {
      tally.fail('node GetHashingKeys', 'no active hashing key');
      return tally;
    }
    options.report(`node ${options.target}: member ${status.member}, roles ${status.roles.join(', ')}, key epoch ${active.epoch}, PAN-selector phase ${keys.panSelectors || 'keyed'}`);
    const context: NodeContext = { api, tally, member: status.member, epoch: active.epoch, key: Buffer.from(active.key), target: options.target, token: options.token };
    const phase = keys.panSelectors || 'keyed';
    const panVectors = files.get('pan-normalization.json') as VectorFile<PanCase>;
    // The phase decides which PAN selectors the node takes from its clients (docs/protocol.md#oblivious-pan-selectors).
    if (phase === 'keyed' || phase === 'dual') {
      await cards(context, panVectors, 'keyed');
      await refusals(context, files.get('acceptance.json') as VectorFile<AcceptanceCase>, 'INDICATOR_KIND_COMPROMISED_CARD');
    }
    if (phase === 'dual' || phase === 'oblivious') await cards(context, panVectors, 'oblivious');
    if (status.roles.includes('acquirer')) {
      await merchants(context, files.get('merchant-normalization.json') as VectorFile<MerchantCase>, files.get('japanese-addresses.json') as VectorFile<JapaneseAddressCase>);
      await refusals(context, files.get('acceptance.json') as VectorFile<AcceptanceCase>, 'INDICATOR_KIND_FRAUDULENT_MERCHANT');
    } else {
      tally.skip('node merchants', `only an acquirer lists merchants; ${status.member} is not one`);
    }
    await reservedType(context, files.get('keyed-selectors.json') as VectorFile<KeyedSelectorCase>);
  } catch (error) {
    tally.fail('node', (error as Error).message);
  } finally {
    api.close();
  }
  return tally;
}

interface NodeContext {
  api: NodeApi;
  tally: Tally;
  member: string;
  epoch: number;
  key: Buffer;
  target: string;
  token: string;
}

function validity(): { validFromMs: number; validUntilMs: number } {
  const now = Date.now();
  return { validFromMs: now, validUntilMs: now + DAY_MS };
}

const ownListing = (r: CheckResultWire | undefined, member: string, type: string): boolean => r?.listed === true && r.evidence.some((e) => e.origin === member && e.matched === type);

/** The card numbers of the vectors a member may publish (accepted, not public test cards), with the vector ids of each. */
function publishableDigits(file: VectorFile<PanCase>): Map<string, string[]> {
  const byDigits = new Map<string, string[]>();
  for (const c of file.cases) {
    if (!c.expected.ok || c.publishable?.ok !== true) continue;
    byDigits.set(c.expected.digits, [...(byDigits.get(c.expected.digits) ?? []), c.id]);
  }
  return byDigits;
}

/**
 * Card selectors of one kind: published as compromised cards, listed by this member, retracted,
 * not listed any more. Keyed selectors are hashed here under the node's newest key; oblivious
 * ones are evaluated through the node's EvaluatePanSelectors (the consortium's evaluators).
 */
async function cards(ctx: NodeContext, file: VectorFile<PanCase>, kind: 'keyed' | 'oblivious'): Promise<void> {
  const byDigits = publishableDigits(file);
  const digits = [...byDigits.keys()];
  const type = kind === 'keyed' ? 'SELECTOR_TYPE_PAN' : 'SELECTOR_TYPE_PAN_OBLIVIOUS';
  let digests: Buffer[];
  if (kind === 'keyed') {
    digests = digits.map((d) => hashSelector(ctx.key, 'SELECTOR_TYPE_PAN', d));
  } else {
    const client = MamoriClient.connect({ target: ctx.target, token: ctx.token, mode: 'remote', deadlineMs: 30_000 });
    try {
      digests = await client.panSelectors(digits);
    } catch (error) {
      ctx.tally.fail('node cards (oblivious) EvaluatePanSelectors', (error as Error).message);
      return;
    } finally {
      client.close();
    }
  }
  const selectors: WireSelector[] = digests.map((digest) => ({ type, digest }));
  const publication = { kind: 'INDICATOR_KIND_COMPROMISED_CARD', reason: 'REASON_CODE_CARD_TESTING', confidence: 10, ...validity(), eventId: 'mamori-conformance', indicators: selectors.map((s) => ({ selectors: [s] })) };
  // An entry of oblivious selectors only carries no hashing-key epoch.
  const published = await ctx.api.call<{ accepted: number; duplicates: number }>('Publish', { publication, keyEpoch: kind === 'keyed' ? ctx.epoch : 0 });
  if (!published.ok) {
    ctx.tally.fail(`node cards (${kind}) publish`, `${published.codeName}: ${published.message}`);
    return;
  }
  const listed = await ctx.api.must<{ results: CheckResultWire[] }>('Check', { selectors });
  const retracted = await ctx.api.must<{ retracted: number }>('Retract', { kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors, reason: 'RETRACT_REASON_FALSE_POSITIVE' });
  const after = await ctx.api.must<{ results: CheckResultWire[] }>('Check', { selectors });
  if (retracted.retracted !== selectors.length) ctx.tally.fail(`node cards (${kind}) retract`, `${retracted.retracted} of ${selectors.length} selectors retracted`);
  digits.forEach((d, i) => {
    const problem = !ownListing(listed.results[i], ctx.member, type)
      ? 'not listed by this member after Publish'
      : ownListing(after.results[i], ctx.member, type)
        ? 'still listed by this member after Retract'
        : undefined;
    for (const id of byDigits.get(d) ?? []) ctx.tally.verdict(`node pan-normalization.json ${id} (${kind}: publish, check, retract)`, problem);
  });
}

interface Screened {
  id: string;
  type: SelectorTypeName;
  digest: Buffer;
  /** The group it spells; a near-miss names the group it must not match. */
  group?: string;
  differsFrom?: string;
}

const MERCHANT_TYPES = new Set(['SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER', 'SELECTOR_TYPE_MERCHANT_DOMAIN', 'SELECTOR_TYPE_MERCHANT_PHONE', 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', 'SELECTOR_TYPE_MERCHANT_REPRESENTATIVE', 'SELECTOR_TYPE_MERCHANT_ACQUIRER_MID']);

/**
 * One merchant listing per group (the selector of its value under the node's key), then every
 * spelling screened: a group's spellings are listed, a near-miss is not (unless its value is
 * another group's, which a listing would rightly match). Then everything is retracted.
 */
async function merchants(ctx: NodeContext, file: VectorFile<MerchantCase>, addresses: VectorFile<JapaneseAddressCase>): Promise<void> {
  const screened: Screened[] = [];
  for (const c of file.cases) {
    if (!c.expected.ok || !c.expected.selector || !MERCHANT_TYPES.has(c.expected.selector.type)) continue;
    if (!c.group && !c.differsFrom) continue;
    const type = c.expected.selector.type;
    screened.push({ id: `merchant-normalization.json ${c.id}`, type, digest: hashSelector(ctx.key, type, c.expected.value, c.version), group: c.group && `m:${c.group}`, differsFrom: c.differsFrom && `m:${c.differsFrom}` });
  }
  for (const c of addresses.cases) {
    screened.push({ id: `japanese-addresses.json ${c.id}`, type: 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', digest: hashSelector(ctx.key, 'SELECTOR_TYPE_MERCHANT_NAME_ADDRESS', `スマイル\n${c.v2}`, 2), group: c.group && `j:${c.group}`, differsFrom: c.differsFrom && `j:${c.differsFrom}` });
  }
  // The listing of a group: its first spelling's selector.
  const listings = new Map<string, WireSelector>();
  for (const s of screened) if (s.group && !listings.has(s.group)) listings.set(s.group, { type: s.type, digest: s.digest });
  const unique = new Map<string, WireSelector>();
  for (const s of listings.values()) unique.set(`${s.type}:${s.digest.toString('hex')}`, s);
  const published = [...unique.values()];
  const outcome = await ctx.api.call<{ accepted: number; duplicates: number }>('Publish', {
    publication: { kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT', reason: 'REASON_CODE_LAUNDERING', confidence: 10, ...validity(), eventId: 'mamori-conformance', indicators: published.map((s) => ({ selectors: [s] })) },
    keyEpoch: ctx.epoch,
  });
  if (!outcome.ok) {
    ctx.tally.fail('node merchants publish', `${outcome.codeName}: ${outcome.message}`);
    return;
  }
  const selectors = screened.map((s) => ({ type: s.type, digest: s.digest }));
  const results = (await ctx.api.must<{ results: CheckResultWire[] }>('Check', { selectors })).results;
  const retracted = await ctx.api.must<{ retracted: number }>('Retract', { kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT', selectors: published, reason: 'RETRACT_REASON_FALSE_POSITIVE' });
  const after = (await ctx.api.must<{ results: CheckResultWire[] }>('Check', { selectors })).results;
  if (retracted.retracted !== published.length) ctx.tally.fail('node merchants retract', `${retracted.retracted} of ${published.length} listings retracted`);
  const keyOf = (s: WireSelector): string => `${s.type}:${s.digest.toString('hex')}`;
  const listedKeys = new Set(published.map(keyOf));
  screened.forEach((s, i) => {
    const matched = ownListing(results[i], ctx.member, s.type);
    const ownGroupListing = s.differsFrom ? listings.get(s.differsFrom) : undefined;
    let problem: string | undefined;
    if (s.group && !matched) problem = `a spelling of ${s.group.slice(2)} is not found by its listing`;
    else if (ownGroupListing && keyOf(ownGroupListing) === keyOf(s)) problem = `a near-miss of ${(s.differsFrom as string).slice(2)} matches its listing`;
    else if (s.differsFrom && matched !== listedKeys.has(keyOf(s))) problem = matched ? `a near-miss of ${s.differsFrom.slice(2)} matches a listing` : 'not found by the listing of its own value';
    else if (ownListing(after[i], ctx.member, s.type)) problem = 'still listed after Retract';
    ctx.tally.verdict(`node ${s.id} (screen)`, problem);
  });
}

/** Requests the acceptance vectors show invalid, sent to the member-local API: INVALID_ARGUMENT. */
const REFUSED_REQUESTS: Readonly<Record<string, string>> = {
  'refuses/merchant-selector-on-a-card': 'INDICATOR_KIND_COMPROMISED_CARD',
  'refuses/bin-selector-type': 'INDICATOR_KIND_COMPROMISED_CARD',
  'refuses/two-pan-selectors': 'INDICATOR_KIND_COMPROMISED_CARD',
  'refuses/short-digest': 'INDICATOR_KIND_COMPROMISED_CARD',
  'refuses/merchant-reason-on-a-card': 'INDICATOR_KIND_COMPROMISED_CARD',
  'refuses/confidence-over-100': 'INDICATOR_KIND_COMPROMISED_CARD',
  'refuses/validity-reversed': 'INDICATOR_KIND_COMPROMISED_CARD',
  'refuses/event-id-looks-like-a-card': 'INDICATOR_KIND_COMPROMISED_CARD',
  'refuses/event-id-free-text': 'INDICATOR_KIND_COMPROMISED_CARD',
  'refuses/notice-tag-length': 'INDICATOR_KIND_COMPROMISED_CARD',
  'refuses/card-reason-on-a-merchant': 'INDICATOR_KIND_FRAUDULENT_MERCHANT',
};

async function refusals(ctx: NodeContext, file: VectorFile<AcceptanceCase>, kind: string): Promise<void> {
  for (const c of file.cases) {
    if (REFUSED_REQUESTS[c.id] !== kind || !c.bodyFields) continue;
    const body = bodyFromJson(c.bodyFields) as { publishIndicators?: Record<string, unknown> };
    const { validFromMs, validUntilMs } = validity();
    const reversed = (body.publishIndicators?.validUntilMs as number) <= (body.publishIndicators?.validFromMs as number);
    const publication = { ...body.publishIndicators, validFromMs, validUntilMs: reversed ? validFromMs - 1 : validUntilMs };
    const outcome = await ctx.api.call('Publish', { publication, keyEpoch: ctx.epoch });
    ctx.tally.verdict(`node acceptance.json ${c.id} (Publish refused)`, outcome.ok ? 'accepted' : outcome.codeName !== 'INVALID_ARGUMENT' ? `refused with ${outcome.codeName} (${outcome.message}), expected INVALID_ARGUMENT` : undefined);
  }
}

/** The reserved BIN selector type: a check of it is refused. */
async function reservedType(ctx: NodeContext, file: VectorFile<KeyedSelectorCase>): Promise<void> {
  for (const c of file.cases) {
    if (c.type !== 'SELECTOR_TYPE_BIN') continue;
    const outcome = await ctx.api.call('Check', { selectors: [{ type: c.type, digest: hashSelector(ctx.key, c.type, c.value, c.version) }] });
    ctx.tally.verdict(`node keyed-selectors.json ${c.id} (Check refused)`, outcome.ok ? 'a check of a reserved type was answered' : outcome.codeName !== 'INVALID_ARGUMENT' ? `refused with ${outcome.codeName}, expected INVALID_ARGUMENT` : undefined);
  }
}
