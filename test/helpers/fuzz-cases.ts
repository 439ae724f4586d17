// The cases of the RPC fuzzer: for a case number and a seed, which method, which class of
// request and its exact bytes. Each case has its own generator seeded from (seed, number), so a
// failing case replays alone and cases can run concurrently in any order.
import * as crypto from 'node:crypto';
import type * as protobuf from 'protobufjs';
import { cardPublication } from '../../client-sdk/src/publication';
import type { FuzzMethod, Outcome } from './fuzz-client';
import { encodeMessage, PanLikeStrings, Rng, varint } from './fuzz-proto';

export type CaseClass = 'valid' | 'valid-shaped' | 'raw-bytes' | 'truncated' | 'no-token' | 'no-deadline' | 'oversize';

export interface FuzzCase {
  index: number;
  method: FuzzMethod;
  kind: CaseClass;
  request: Buffer;
  token: boolean;
  deadline: boolean;
}

/** What a node may answer; INTERNAL and UNKNOWN never (a bug: a request the node did not expect). */
const REFUSALS: readonly Outcome[] = ['INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'FAILED_PRECONDITION', 'NOT_FOUND', 'OUT_OF_RANGE', 'ABORTED', 'DEADLINE_EXCEEDED'];

export function allowedOutcomes(c: FuzzCase): readonly Outcome[] {
  switch (c.kind) {
    case 'valid':
      return c.method.name in VALID_REQUESTS ? ['OK', 'STREAMING'] : ['OK', 'STREAMING', ...REFUSALS];
    case 'oversize':
      return ['RESOURCE_EXHAUSTED'];
    case 'no-token':
      // Refused at authentication, or before it: a request over the size limit is not even read,
      // one that does not decode is refused before any handler runs.
      return ['UNAUTHENTICATED', 'INVALID_ARGUMENT', 'RESOURCE_EXHAUSTED'];
    case 'no-deadline':
      return c.method.responseStream ? ['OK', 'STREAMING', ...REFUSALS] : ['INVALID_ARGUMENT'];
    default:
      return ['OK', 'STREAMING', ...REFUSALS];
  }
}

const randomDigests = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.bytes(32));

/** Well-formed requests the node must answer with OK, per method; a method missing here gets `{}`. */
const VALID_REQUESTS: Record<string, (rng: Rng) => object> = {
  // Either wire form (docs/protocol.md#packed-checks).
  Check: (rng) =>
    rng.chance(0.5)
      ? { selectors: randomDigests(rng, 1 + rng.int(100)).map((digest) => ({ type: 'SELECTOR_TYPE_PAN', digest })) }
      : { packedDigests: Buffer.concat(randomDigests(rng, 1 + rng.int(100))), packedType: 'SELECTOR_TYPE_PAN' },
  CheckStream: (rng) => ({ id: 1 + rng.int(1000), check: VALID_REQUESTS.Check?.(rng) }),
  Status: () => ({}),
  GetHashingKeys: () => ({}),
  Heads: () => ({}),
  Follow: () => ({}),
  MirrorFilter: () => ({}),
  Fetch: (rng) => ({ origin: 'psp-c', fromSeq: 1 + rng.int(3), limit: rng.int(5) }),
  Alerts: (rng) => ({ afterId: 0, follow: rng.chance(0.5) }),
  Publish: (rng) => ({ publication: cardPublication(randomDigests(rng, 1 + rng.int(5)), { reason: 'merchant-breach' }), keyEpoch: 1 }),
  Retract: (rng) => ({ kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors: randomDigests(rng, 1 + rng.int(3)).map((digest) => ({ type: 'SELECTOR_TYPE_PAN', digest })), reason: 'RETRACT_REASON_REISSUED' }),
  Unfreeze: () => ({ origin: 'issuer-a' }),
  ReportCardTesting: (rng) => {
    const bucketMinutes = 10;
    return { bin: '454545', bucketStartMs: Math.floor(Date.now() / 600_000) * 600_000, bucketMinutes, attempts: 20 + rng.int(100), declines: rng.int(20) };
  },
};

export interface CaseFactoryOptions {
  seed: number;
  methods: readonly FuzzMethod[];
  root: protobuf.Root;
  pans: PanLikeStrings;
  maxMessageBytes: number;
}

function pickClass(rng: Rng, method: FuzzMethod): CaseClass {
  const r = rng.next();
  if (r < 0.15) return 'valid';
  if (r < 0.5) return 'valid-shaped';
  if (r < 0.7) return 'raw-bytes';
  if (r < 0.84) return 'truncated';
  if (r < 0.91) return method.service.endsWith('.Exchange') ? 'no-token' : 'valid-shaped';
  if (r < 0.985) return 'no-deadline';
  return 'oversize';
}

export function makeCase(index: number, o: CaseFactoryOptions): FuzzCase {
  const rng = new Rng((o.seed + Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const method = o.methods[index % o.methods.length] as FuzzMethod;
  const type = o.root.lookupType(method.requestType);
  const kind = pickClass(rng, method);
  const generator = { rng, pans: o.pans, maxRepeated: 20_000 };
  const valid = () => {
    const make = VALID_REQUESTS[method.name];
    return Buffer.from(type.encode(type.fromObject(make ? make(rng) : {})).finish());
  };
  let request: Buffer;
  switch (kind) {
    case 'valid':
      request = valid();
      break;
    case 'raw-bytes':
      request = rng.bytes(rng.pick([0, 1, 2, 5, 17, 100, 1000, 5000]));
      break;
    case 'truncated': {
      const full = rng.chance(0.5) ? valid() : encodeMessage(type, generator);
      request = full.subarray(0, full.length === 0 ? 0 : rng.int(full.length));
      break;
    }
    case 'oversize': {
      // A valid request with an unknown field that takes it past the node's message limit.
      const padding = o.maxMessageBytes + 1 + rng.int(1024);
      request = Buffer.concat([valid(), varint(BigInt((1999 << 3) | 2)), varint(BigInt(padding)), Buffer.alloc(padding, 0x41)]);
      break;
    }
    default:
      request = encodeMessage(type, generator);
  }
  return { index, method, kind, request, token: kind !== 'no-token', deadline: kind !== 'no-deadline' };
}

/** A line to print for a case, enough to recognise it (replay it with the seed and its index). */
export function describeCase(c: FuzzCase): string {
  const hex = c.request.subarray(0, 48).toString('hex');
  return `#${c.index} ${c.method.path} ${c.kind} (${c.request.length} bytes${c.token ? '' : ', no token'}${c.deadline ? '' : ', no deadline'}) ${hex}${c.request.length > 48 ? '…' : ''} sha256 ${crypto.createHash('sha256').update(c.request).digest('hex').slice(0, 12)}`;
}
