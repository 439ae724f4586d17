// Random protobuf encodings of the Mamori request types, written field by field on the wire
// (not through protobufjs's encoder) so they can carry what no well-behaved encoder emits:
// invalid UTF-8 in strings, unknown enum numbers, 64-bit boundary values, wrong-length bytes,
// unknown fields and wrong wire types. Seeded: one seed replays the same sequence.
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { withLuhnDigit } from '../../proto/ts/normalize';
import { PROTO_DIR } from '../../proto/ts/loader';

/** mulberry32: small, fast, and the same on every platform. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }
}

/** Every Mamori message type, by full name (mamori.v1.CheckRequest). */
export function mamoriProtoRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
  root.loadSync(['mamori/v1/ledger.proto', 'mamori/v1/exchange.proto', 'mamori/v1/replication.proto'], { keepCase: false });
  root.resolveAll();
  return root;
}

// ---------------------------------------------------------------- the wire

const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

export function varint(value: bigint): Buffer {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}

const tag = (field: number, wire: number) => varint(BigInt((field << 3) | wire));
const lengthDelimited = (field: number, payload: Buffer) => Buffer.concat([tag(field, WIRE.bytes), varint(BigInt(payload.length)), payload]);

// ---------------------------------------------------------------- values

const INT_BOUNDARIES = [0n, 1n, -1n, 2n ** 31n - 1n, -(2n ** 31n), 2n ** 32n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n, 100n, 101n, 1000n, 4096n];
const ODD_STRINGS = ['', ' ', 'psp-c', 'issuer-a', 'acquirer-b', 'PSP-C', 'a', 'x'.repeat(33), '../../etc/passwd', '\u0000', 'ｱｲｳ株式会社', '💳💳', 'e\u0301', '\uFEFFpsp-c', '%s%n', '454545', '45454545', '4545454'];

/** Luhn-valid 16-digit strings the node must never write to its log; every one generated is kept. */
export class PanLikeStrings {
  readonly sent = new Set<string>();
  make(rng: Rng): string {
    let partial = rng.pick(['4', '5', '35', '37']);
    while (partial.length < 15) partial += String(rng.int(10));
    const pan = withLuhnDigit(partial);
    this.sent.add(pan);
    return pan;
  }
}

export interface GeneratorOptions {
  rng: Rng;
  pans: PanLikeStrings;
  /** Upper bound on repeated-field counts, so a message stays below the node's size limit. */
  maxRepeated: number;
}

function randomString(o: GeneratorOptions): Buffer {
  const { rng } = o;
  switch (rng.int(7)) {
    case 0:
      return Buffer.from(rng.pick(ODD_STRINGS), 'utf8');
    case 1:
      return Buffer.from(o.pans.make(rng), 'utf8');
    case 2: // invalid UTF-8: lone continuation bytes, overlong forms, surrogates
      return Buffer.concat([Buffer.from(rng.pick([[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff, 0xfe], [0xf8, 0x88, 0x80, 0x80, 0x80]])), rng.bytes(rng.int(8))]);
    case 3:
      return Buffer.from('A'.repeat(rng.pick([64, 65, 1000, 65_536])), 'utf8');
    case 4:
      return Buffer.from(`card ${o.pans.make(rng).replace(/(\d{4})(?=\d)/g, '$1 ')}`, 'utf8');
    case 5:
      return rng.bytes(rng.int(40));
    default:
      return Buffer.from(Array.from({ length: rng.int(20) }, () => String.fromCodePoint(rng.pick([0x30, 0x61, 0x3042, 0xff71, 0x1f4b3, 0x202e]) + rng.int(10))).join(''), 'utf8');
  }
}

function randomBytesField(o: GeneratorOptions): Buffer {
  const length = o.rng.pick([0, 1, 16, 31, 32, 32, 32, 33, 63, 64, 65, 200, 4096]);
  return o.rng.bytes(length);
}

function randomInt(o: GeneratorOptions, signed: boolean): bigint {
  if (o.rng.chance(0.6)) return o.rng.pick(INT_BOUNDARIES);
  const v = BigInt(o.rng.int(2 ** 31)) * (o.rng.chance(0.3) ? 4_000_000n : 1n);
  return signed && o.rng.chance(0.3) ? -v : v;
}

function fixed(o: GeneratorOptions, bytes: 4 | 8, isFloat: boolean): Buffer {
  const out = Buffer.alloc(bytes);
  if (isFloat) {
    const v = o.rng.pick([0, -0, 1, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e308, 5e-324, 0.5, 1e-6]);
    if (bytes === 8) out.writeDoubleLE(v);
    else out.writeFloatLE(v);
  } else {
    o.rng.bytes(bytes).copy(out);
  }
  return out;
}

/** One value of a field, as wire bytes (tag included). */
function encodeValue(field: protobuf.Field, o: GeneratorOptions, depth: number): Buffer {
  const n = field.id;
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    const known = Object.values(resolved.values);
    const value = o.rng.chance(0.6) ? BigInt(o.rng.pick(known)) : o.rng.pick([99n, -1n, 2n ** 31n - 1n, 1000n, BigInt(Math.max(...known) + 1)]);
    return Buffer.concat([tag(n, WIRE.varint), varint(value)]);
  }
  if (resolved instanceof protobuf.Type) {
    const body = depth > 4 || o.rng.chance(0.05) ? o.rng.bytes(o.rng.int(12)) : encodeMessage(resolved, o, depth + 1);
    return lengthDelimited(n, body);
  }
  switch (field.type) {
    case 'string':
      return lengthDelimited(n, randomString(o));
    case 'bytes':
      return lengthDelimited(n, randomBytesField(o));
    case 'bool':
      return Buffer.concat([tag(n, WIRE.varint), varint(o.rng.pick([0n, 1n, 1n, 2n, 2n ** 64n - 1n]))]);
    case 'double':
      return Buffer.concat([tag(n, WIRE.fixed64), fixed(o, 8, true)]);
    case 'float':
      return Buffer.concat([tag(n, WIRE.fixed32), fixed(o, 4, true)]);
    case 'fixed64':
    case 'sfixed64':
      return Buffer.concat([tag(n, WIRE.fixed64), fixed(o, 8, false)]);
    case 'fixed32':
    case 'sfixed32':
      return Buffer.concat([tag(n, WIRE.fixed32), fixed(o, 4, false)]);
    case 'sint32':
    case 'sint64': {
      const v = randomInt(o, true);
      return Buffer.concat([tag(n, WIRE.varint), varint(v >= 0n ? v * 2n : -v * 2n - 1n)]);
    }
    default: // int32, int64, uint32, uint64
      return Buffer.concat([tag(n, WIRE.varint), varint(randomInt(o, field.type.startsWith('int')))]);
  }
}

/** A generated message's size, past which no more repeated elements are added (each level at most about twice this). */
const MAX_GENERATED_BYTES = 1 << 20;

function sizeOf(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

function repeatCount(o: GeneratorOptions): number {
  const r = o.rng.next();
  if (r < 0.3) return 0;
  if (r < 0.7) return 1 + o.rng.int(3);
  if (r < 0.9) return o.rng.int(50);
  return o.rng.int(o.maxRepeated + 1);
}

/** A message of this type with random field values (and, now and then, fields it does not have). */
export function encodeMessage(type: protobuf.Type, o: GeneratorOptions, depth = 0): Buffer {
  const parts: Buffer[] = [];
  for (const field of type.fieldsArray) {
    if (field.repeated || field.map) {
      const count = depth > 1 ? Math.min(repeatCount(o), 8) : repeatCount(o);
      // Repeated messages of repeated messages multiply: stop adding once this message is past
      // MAX_GENERATED_BYTES, so a case stays a few MiB (bigger is the 'oversize' kind's job).
      for (let i = 0; i < count && sizeOf(parts) <= MAX_GENERATED_BYTES; i++) parts.push(encodeValue(field, o, depth));
    } else if (o.rng.chance(0.75)) {
      parts.push(encodeValue(field, o, depth));
    }
  }
  if (o.rng.chance(0.1)) parts.push(Buffer.concat([tag(1000 + o.rng.int(1000), WIRE.varint), varint(BigInt(o.rng.int(1000)))]));
  if (o.rng.chance(0.05) && type.fieldsArray.length > 0) {
    // A known field with the wrong wire type.
    const field = o.rng.pick(type.fieldsArray);
    parts.push(Buffer.concat([tag(field.id, field.type === 'string' || field.type === 'bytes' || field.resolvedType instanceof protobuf.Type ? WIRE.varint : WIRE.bytes), varint(3n), o.rng.bytes(3)]));
  }
  for (let i = parts.length - 1; i > 0; i--) {
    // Protobuf allows fields in any order; shuffling also repeats oneof members in odd orders.
    if (o.rng.chance(0.2)) {
      const j = o.rng.int(i + 1);
      [parts[i], parts[j]] = [parts[j] as Buffer, parts[i] as Buffer];
    }
  }
  return Buffer.concat(parts);
}
