import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { ledgerProtoRoot } from '../../proto/ts/loader';
import { canonicalJson, consortiumSigningBytes, entrySigningBytes } from '../../proto/ts/trust/domains';
import { sodium, sodiumReady } from '../../proto/ts/sodium';
import {
  entryHash,
  generateSigningKeyPair,
  signDetached,
  verifyDetached,
} from '../../node/src/crypto/signing';
import {
  generateBoxKeyPair,
  generateHashingKey,
  openHashingKey,
  sealHashingKey,
  tokenDigest,
} from '../../node/src/crypto/epochs';
import { acceptEntry } from '../../node/src/ledger/acceptance';
import { decodeEntryBody, encodeEntryBody, readEntryHeader, signNextEntry, ZERO_HASH } from '../../node/src/ledger/entry';
import { MamoriError } from '../../node/src/ledger/errors';
import { LIMITS } from '../../node/src/ledger/limits';
import { validatePublication, validateRetraction, validateSelectors } from '../../node/src/ledger/validate';
import type { PublishIndicators__Output } from '../../proto/gen/mamori/v1/PublishIndicators';
import type { Selector__Output } from '../../proto/gen/mamori/v1/Selector';
import {
  cardPublication,
  cardPublicationOutput,
  digest,
  expectMamoriError,
  makeMember,
  merchantPublication,
  MemoryLedger,
  type TestMember,
  VALID_FROM_MS,
  VALID_UNTIL_MS,
} from '../helpers/unit';

const CREATED_AT = 1_720_000_000_000;

describe('unit: crypto primitives', () => {
  before(async () => {
    await sodiumReady();
  });

  it('signs and verifies Ed25519 detached signatures', () => {
    const kp = generateSigningKeyPair();
    expect(kp.publicKey).to.have.length(32);
    expect(kp.secretKey).to.have.length(64);
    const msg = Buffer.from('hello');
    const sig = signDetached(msg, kp.secretKey);
    expect(sig).to.have.length(64);
    expect(verifyDetached(sig, msg, kp.publicKey)).to.equal(true);
    expect(verifyDetached(sig, Buffer.from('hellp'), kp.publicKey)).to.equal(false);
    expect(verifyDetached(sig, msg, generateSigningKeyPair().publicKey)).to.equal(false);
  });

  it('verifyDetached returns false (does not throw) on wrong sizes', () => {
    const kp = generateSigningKeyPair();
    const msg = Buffer.from('x');
    const sig = signDetached(msg, kp.secretKey);
    expect(verifyDetached(sig.subarray(0, 63), msg, kp.publicKey)).to.equal(false);
    expect(verifyDetached(Buffer.concat([sig, Buffer.alloc(1)]), msg, kp.publicKey)).to.equal(false);
    expect(verifyDetached(sig, msg, kp.publicKey.subarray(0, 31))).to.equal(false);
    expect(verifyDetached(Buffer.alloc(0), msg, Buffer.alloc(0))).to.equal(false);
  });

  it('entryHash is unkeyed BLAKE2b-256 of the body', () => {
    const body = randomBytes(100);
    const expected = Buffer.from(sodium().crypto_generichash(32, body, null));
    expect(entryHash(body).equals(expected)).to.equal(true);
    expect(entryHash(body)).to.have.length(32);
  });

  it('seals a hashing key to a member and only that member opens it', () => {
    const key = generateHashingKey();
    expect(key).to.have.length(32);
    const alice = generateBoxKeyPair();
    const bob = generateBoxKeyPair();
    const sealed = sealHashingKey(key, alice.publicKey);
    expect(Buffer.from(openHashingKey(sealed, alice) ?? []).equals(Buffer.from(key))).to.equal(true);
    expect(openHashingKey(sealed, bob)).to.equal(undefined);
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1] ^= 0x01;
    expect(openHashingKey(tampered, alice)).to.equal(undefined);
    expect(openHashingKey(Buffer.alloc(5), alice)).to.equal(undefined);
    // A sealed value of the wrong length is refused even when it opens.
    expect(openHashingKey(sealHashingKey(new Uint8Array(16), alice.publicKey), alice)).to.equal(undefined);
  });

  it('tokenDigest is a stable 64-hex digest that does not contain the token', () => {
    const d = tokenDigest('secret-token');
    expect(d).to.match(/^[0-9a-f]{64}$/);
    expect(tokenDigest('secret-token')).to.equal(d);
    expect(tokenDigest('secret-tokem')).not.to.equal(d);
    const expected = Buffer.from(sodium().crypto_generichash(32, Buffer.from('mamori/v1/client-token\0secret-token', 'utf8'), null)).toString('hex');
    expect(d).to.equal(expected);
  });

  it('signed bytes carry a domain tag per structure', () => {
    const body = Buffer.from([1, 2, 3]);
    expect(entrySigningBytes(body).equals(Buffer.concat([Buffer.from('mamori/v1/entry\0'), body]))).to.equal(true);
    expect(consortiumSigningBytes('{}').toString('utf8')).to.equal('mamori/v1/consortium\0{}');
  });

  it('canonicalJson sorts keys at every level and drops undefined', () => {
    const a = canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined });
    const b = canonicalJson({ a: { c: 'x', d: [3, { y: 2, z: 1 }] }, b: 1 });
    expect(a).to.equal('{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
    expect(b).to.equal(a);
  });
});

describe('unit: ledger entry acceptance', () => {
  let issuer: TestMember;
  let acquirer: TestMember;
  let psp: TestMember;
  let ledger: MemoryLedger;

  before(async () => {
    await sodiumReady();
    issuer = makeMember('issuer-a', ['issuer']);
    acquirer = makeMember('acquirer-b', ['acquirer']);
    psp = makeMember('psp-c', ['psp']);
  });

  beforeEach(() => {
    ledger = new MemoryLedger([issuer, acquirer, psp]);
  });

  /** The next entry of m's feed in `ledger`, signed by m unless another key is given. */
  const next = (m: TestMember, operation: Parameters<typeof signNextEntry>[3] = { publishIndicators: cardPublication() }, secretKey = m.keys.secretKey) =>
    signNextEntry(m.id, ledger.head(m.id), 1, operation, secretKey, CREATED_AT);

  describe('valid entries', () => {
    it('accepts a publication at seq 1 with prev = ZERO_HASH', () => {
      const d = digest();
      const entry = next(issuer, { publishIndicators: cardPublication([d]) });
      const body = decodeEntryBody(entry.body);
      expect(body.seq).to.equal(1);
      expect(Buffer.from(body.prev).equals(ZERO_HASH)).to.equal(true);
      expect(body.origin).to.equal('issuer-a');

      const accepted = ledger.accept(entry);
      expect(accepted.origin).to.equal('issuer-a');
      expect(accepted.seq).to.equal(1);
      expect(accepted.operation).to.equal('publishIndicators');
      expect(accepted.createdAtMs).to.equal(CREATED_AT);
      expect(accepted.keyEpoch).to.equal(1);
      expect(accepted.hash.equals(entryHash(entry.body))).to.equal(true);
      expect(accepted.hash.equals(entry.hash)).to.equal(true);
      expect(accepted.body.equals(entry.body)).to.equal(true);
      expect(accepted.signature.equals(entry.signature)).to.equal(true);
      const pub = accepted.publication!;
      expect(pub.kind).to.equal('INDICATOR_KIND_COMPROMISED_CARD');
      expect(pub.reason).to.equal('REASON_CODE_PHISHING');
      expect(pub.exposed).to.deep.equal(['DATA_ELEMENT_PAN']);
      expect(pub.confidence).to.equal(80);
      expect(pub.validFromMs).to.equal(VALID_FROM_MS);
      expect(pub.validUntilMs).to.equal(VALID_UNTIL_MS);
      expect(pub.indicators).to.have.length(1);
      expect(pub.indicators[0].selectors[0].type).to.equal('SELECTOR_TYPE_PAN');
      expect(Buffer.from(pub.indicators[0].selectors[0].digest).equals(d)).to.equal(true);
    });

    it('chains the next entry: seq 2 with prev = hash of entry 1', () => {
      const first = ledger.accept(next(issuer));
      const entry2 = next(issuer);
      const body2 = decodeEntryBody(entry2.body);
      expect(body2.seq).to.equal(2);
      expect(Buffer.from(body2.prev).equals(first.hash)).to.equal(true);
      const second = ledger.accept(entry2);
      expect(second.seq).to.equal(2);
      expect(ledger.accept(next(issuer)).seq).to.equal(3);
    });

    it('keeps feeds independent: each origin starts at seq 1', () => {
      ledger.accept(next(issuer));
      ledger.accept(next(issuer));
      expect(ledger.accept(next(psp)).seq).to.equal(1);
      expect(ledger.accept(next(acquirer)).seq).to.equal(1);
    });

    it('accepts many indicators in one entry under one signature', () => {
      const digests = Array.from({ length: 500 }, () => digest());
      const accepted = ledger.accept(next(acquirer, { publishIndicators: cardPublication(digests) }));
      expect(accepted.publication!.indicators).to.have.length(500);
    });

    it('lets an acquirer publish a fraudulent merchant', () => {
      const accepted = ledger.accept(next(acquirer, { publishIndicators: merchantPublication() }));
      expect(accepted.publication!.kind).to.equal('INDICATOR_KIND_FRAUDULENT_MERCHANT');
      expect(accepted.publication!.indicators[0].selectors.map((s) => s.type)).to.deep.equal([
        'SELECTOR_TYPE_MERCHANT_DOMAIN',
        'SELECTOR_TYPE_MERCHANT_CORPORATE_NUMBER',
      ]);
    });

    it('accepts a retraction and returns it validated', () => {
      ledger.accept(next(issuer));
      const d = digest();
      const accepted = ledger.accept(
        next(issuer, { retract: { kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: d }], reason: 'RETRACT_REASON_REISSUED' } }),
      );
      expect(accepted.operation).to.equal('retract');
      expect(accepted.retraction!.reason).to.equal('RETRACT_REASON_REISSUED');
      expect(accepted.retraction!.selectors[0].digest.equals(d)).to.equal(true);
    });

    it('does not re-encode the body: the stored body is byte-for-byte the signed one; unknown fields are refused', () => {
      const base = next(issuer);
      const accepted = ledger.accept(base);
      expect(accepted.body.equals(base.body)).to.equal(true);
      expect(accepted.hash.equals(entryHash(base.body))).to.equal(true);
      // An extra unknown field 99 (varint 7) appended and validly signed: refused.
      const other = next(issuer);
      const body = Buffer.concat([other.body, Buffer.from([0x98, 0x06, 0x07])]);
      const signature = signDetached(entrySigningBytes(body), issuer.keys.secretKey);
      expectMamoriError(() => ledger.accept({ body, signature }), 'MALFORMED_ENTRY');
    });
  });

  describe('rejections', () => {
    it('BAD_SIGNATURE when a signature byte is flipped', () => {
      const entry = next(issuer);
      const signature = Buffer.from(entry.signature);
      signature[10] ^= 0x01;
      const err = expectMamoriError(() => acceptEntry({ body: entry.body, signature }, ledger), 'BAD_SIGNATURE');
      expect(err.message).to.include('issuer-a#1');
      // Nothing was accepted: the original entry still goes in at seq 1.
      expect(ledger.accept(entry).seq).to.equal(1);
    });

    it("BAD_SIGNATURE when signed with another member's key", () => {
      const entry = next(issuer, undefined, acquirer.keys.secretKey);
      expectMamoriError(() => acceptEntry(entry, ledger), 'BAD_SIGNATURE');
    });

    it('BAD_SIGNATURE when a body byte changes after signing', () => {
      const entry = next(issuer, { publishIndicators: cardPublication([digest()]) });
      const body = Buffer.from(entry.body);
      body[body.length - 1] ^= 0x01; // inside the last digest: still a well-formed body
      expect(decodeEntryBody(body).seq).to.equal(1);
      expectMamoriError(() => acceptEntry({ body, signature: entry.signature }, ledger), 'BAD_SIGNATURE');
    });

    it('BAD_SIGNATURE when the signature lacks the entry domain tag, or has the wrong length, or is empty', () => {
      const entry = next(issuer);
      const untagged = signDetached(entry.body, issuer.keys.secretKey);
      expectMamoriError(() => acceptEntry({ body: entry.body, signature: untagged }, ledger), 'BAD_SIGNATURE');
      expectMamoriError(() => acceptEntry({ body: entry.body, signature: entry.signature.subarray(0, 63) }, ledger), 'BAD_SIGNATURE');
      expectMamoriError(() => acceptEntry({ body: entry.body, signature: Buffer.alloc(0) }, ledger), 'BAD_SIGNATURE');
    });

    it('NOT_A_MEMBER for an origin outside the consortium, even if well signed', () => {
      const mallory = makeMember('mallory', ['issuer']);
      const entry = signNextEntry(mallory.id, { seq: 0, hash: ZERO_HASH }, 1, { publishIndicators: cardPublication() }, mallory.keys.secretKey);
      const err = expectMamoriError(() => acceptEntry(entry, ledger), 'NOT_A_MEMBER');
      expect(err.message).to.include('mallory');
    });

    it('MALFORMED_ENTRY for an origin that is not a member id', () => {
      const entry = signNextEntry('Bad Origin!', { seq: 0, hash: ZERO_HASH }, 1, { publishIndicators: cardPublication() }, issuer.keys.secretKey);
      expectMamoriError(() => acceptEntry(entry, ledger), 'MALFORMED_ENTRY');
    });

    it('ROLE_FORBIDS a psp publishing a fraudulent merchant', () => {
      const entry = next(psp, { publishIndicators: merchantPublication() });
      const err = expectMamoriError(() => acceptEntry(entry, ledger), 'ROLE_FORBIDS');
      expect(err.message).to.include('psp-c');
      expect(err.message).to.include('INDICATOR_KIND_FRAUDULENT_MERCHANT');
    });

    it('ROLE_FORBIDS an issuer publishing a fraudulent merchant', () => {
      expectMamoriError(() => acceptEntry(next(issuer, { publishIndicators: merchantPublication() }), ledger), 'ROLE_FORBIDS');
    });

    it('ROLE_FORBIDS operations outside the role: card-testing report by an issuer, fraud report by a psp', () => {
      expectMamoriError(() => acceptEntry(next(issuer, { cardTestingReport: {} }), ledger), 'ROLE_FORBIDS');
      expectMamoriError(() => acceptEntry(next(psp, { fraudReport: {} }), ledger), 'ROLE_FORBIDS');
      // ... while the allowed roles get past the role check to content validation (controls for
      // the two refusals above): an empty card-testing report lacks its BIN, an empty fraud
      // report is not addressed to an aggregator.
      expect(() => acceptEntry(next(psp, { cardTestingReport: {} }), ledger)).to.throw(MamoriError, /cardTestingReport\.bin: /);
      expect(() => acceptEntry(next(issuer, { fraudReport: {} }), ledger)).to.throw(MamoriError, /fraudReport\.aggregator: /);
    });

    it('accepts a well-formed card-testing report from a psp and carries the validated report', () => {
      const report = { bin: '45454512', bucketStartMs: 600_000 * 2_900_000, bucketMinutes: 10, attempts: 900, declines: 870 };
      const accepted = acceptEntry(next(psp, { cardTestingReport: report }), ledger);
      expect(accepted.operation).to.equal('cardTestingReport');
      expect(accepted.cardTestingReport).to.deep.equal({ ...report, merchant: null });
    });

    it('MALFORMED_ENTRY for a card-testing report with bad content, naming the field', () => {
      const base = { bin: '454545', bucketStartMs: 600_000 * 2_900_000, bucketMinutes: 10, attempts: 10, declines: 9 };
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ bin: '45454' }, /cardTestingReport\.bin: /],
        [{ bin: '4545451234' }, /cardTestingReport\.bin: /],
        [{ declines: 11 }, /cardTestingReport\.declines: /],
        [{ attempts: 0, declines: 0 }, /cardTestingReport\.attempts: /],
        [{ bucketStartMs: 600_000 * 2_900_000 + 1 }, /cardTestingReport\.bucketStartMs: /],
        [{ bucketMinutes: 0 }, /cardTestingReport\.bucketMinutes: /],
        [{ merchant: { type: 'SELECTOR_TYPE_PAN', digest: Buffer.alloc(32, 1) } }, /cardTestingReport\.merchant\.type: /],
      ];
      for (const [change, message] of cases) {
        const err = expectMamoriError(() => acceptEntry(next(psp, { cardTestingReport: { ...base, ...change } }), ledger), 'MALFORMED_ENTRY');
        expect(err.message).to.match(message);
      }
    });

    it('SEQ_GAP for seq 3 when the head is 1', () => {
      const first = ledger.accept(next(issuer));
      const entry = signNextEntry(issuer.id, { seq: 2, hash: first.hash }, 1, { publishIndicators: cardPublication() }, issuer.keys.secretKey);
      expect(decodeEntryBody(entry.body).seq).to.equal(3);
      const err = expectMamoriError(() => acceptEntry(entry, ledger), 'SEQ_GAP');
      expect(err.message).to.include('expected seq 2');
    });

    it('SEQ_GAP for a first entry at seq 2', () => {
      const entry = signNextEntry(issuer.id, { seq: 1, hash: ZERO_HASH }, 1, { publishIndicators: cardPublication() }, issuer.keys.secretKey);
      expectMamoriError(() => acceptEntry(entry, ledger), 'SEQ_GAP');
    });

    it('SEQ_REPLAY for seq 1 again, identical or different', () => {
      const entry = next(issuer);
      ledger.accept(entry);
      expectMamoriError(() => acceptEntry(entry, ledger), 'SEQ_REPLAY');
      const other = signNextEntry(issuer.id, { seq: 0, hash: ZERO_HASH }, 1, { publishIndicators: cardPublication() }, issuer.keys.secretKey);
      expect(other.hash.equals(entry.hash)).to.equal(false);
      expectMamoriError(() => acceptEntry(other, ledger), 'SEQ_REPLAY');
    });

    it('PREV_MISMATCH when prev is not the hash of the head entry', () => {
      ledger.accept(next(issuer));
      const entry = signNextEntry(issuer.id, { seq: 1, hash: randomBytes(32) }, 1, { publishIndicators: cardPublication() }, issuer.keys.secretKey);
      const err = expectMamoriError(() => acceptEntry(entry, ledger), 'PREV_MISMATCH');
      expect(err.message).to.include('issuer-a#2');
    });

    it('PREV_MISMATCH for seq 1 whose prev is not 32 zero bytes, or is absent', () => {
      const nonZero = signNextEntry(issuer.id, { seq: 0, hash: Buffer.alloc(32, 1) }, 1, { publishIndicators: cardPublication() }, issuer.keys.secretKey);
      expectMamoriError(() => acceptEntry(nonZero, ledger), 'PREV_MISMATCH');
      const empty = signNextEntry(issuer.id, { seq: 0, hash: Buffer.alloc(0) }, 1, { publishIndicators: cardPublication() }, issuer.keys.secretKey);
      expectMamoriError(() => acceptEntry(empty, ledger), 'PREV_MISMATCH');
    });

    it('ENTRY_TOO_LARGE for a body over LIMITS.maxEntryBodyBytes, before any decoding', () => {
      const err = expectMamoriError(
        () => acceptEntry({ body: Buffer.alloc(LIMITS.maxEntryBodyBytes + 1), signature: Buffer.alloc(64) }, ledger),
        'ENTRY_TOO_LARGE',
      );
      expect(err.message).to.include(String(LIMITS.maxEntryBodyBytes));
    });

    it('a body of exactly LIMITS.maxEntryBodyBytes is not ENTRY_TOO_LARGE', () => {
      // Random bytes at the limit: rejected for another reason, not for the size.
      const body = randomBytes(LIMITS.maxEntryBodyBytes);
      let thrown: unknown;
      try {
        acceptEntry({ body, signature: Buffer.alloc(64) }, ledger);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).to.be.instanceOf(MamoriError);
      expect((thrown as MamoriError).code).not.to.equal('ENTRY_TOO_LARGE');
    });

    it('MALFORMED_ENTRY for garbage bytes and for an empty body', () => {
      expectMamoriError(() => acceptEntry({ body: Buffer.from([0xff, 0xff, 0xff, 0xff]), signature: Buffer.alloc(64) }, ledger), 'MALFORMED_ENTRY');
      expectMamoriError(() => acceptEntry({ body: Buffer.from('not a protobuf at all\n', 'utf8'), signature: Buffer.alloc(64) }, ledger), 'MALFORMED_ENTRY');
      expectMamoriError(() => acceptEntry({ body: Buffer.alloc(0), signature: Buffer.alloc(64) }, ledger), 'MALFORMED_ENTRY');
    });

    it('MALFORMED_ENTRY for seq 0', () => {
      const entry = signNextEntry(issuer.id, { seq: -1, hash: ZERO_HASH }, 1, { publishIndicators: cardPublication() }, issuer.keys.secretKey);
      expect(decodeEntryBody(entry.body).seq).to.equal(0);
      expectMamoriError(() => acceptEntry(entry, ledger), 'MALFORMED_ENTRY');
    });

    it('MALFORMED_ENTRY for a well-signed entry with no operation', () => {
      const body = encodeEntryBody({ origin: issuer.id, seq: 1, prev: ZERO_HASH, createdAtMs: CREATED_AT, keyEpoch: 1 });
      const signature = signDetached(entrySigningBytes(body), issuer.keys.secretKey);
      const err = expectMamoriError(() => acceptEntry({ body, signature }, ledger), 'MALFORMED_ENTRY');
      expect(err.message).to.include('no operation');
    });

    it('MALFORMED_ENTRY for an indicator digest of 31 bytes, naming the field', () => {
      const short = digest(31);
      const err = expectMamoriError(() => acceptEntry(next(issuer, { publishIndicators: cardPublication([short]) }), ledger), 'MALFORMED_ENTRY');
      expect(err.message).to.include('publishIndicators.indicators[0].selectors[0].digest');
      expect(err.message).to.include('must be 32 bytes');
      expect(err.message).not.to.include(short.toString('hex'));
      expect(err.message).not.to.include(short.toString('base64'));
    });

    it('MALFORMED_ENTRY for the same digest twice in one entry', () => {
      const d = digest();
      const err = expectMamoriError(() => acceptEntry(next(issuer, { publishIndicators: cardPublication([digest(), d, d]) }), ledger), 'MALFORMED_ENTRY');
      expect(err.message).to.include('twice');
    });

    it('MALFORMED_ENTRY for the same digest twice in one retraction', () => {
      const d = digest();
      const entry = next(issuer, {
        retract: {
          kind: 'INDICATOR_KIND_COMPROMISED_CARD',
          selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: d }, { type: 'SELECTOR_TYPE_PAN', digest: d }],
          reason: 'RETRACT_REASON_FALSE_POSITIVE',
        },
      });
      expectMamoriError(() => acceptEntry(entry, ledger), 'MALFORMED_ENTRY');
    });

    it('MALFORMED_ENTRY for unknown enum numbers (kind, reason, selector type, exposed), crafted with protobufjs', () => {
      const type = ledgerProtoRoot().lookupType('mamori.v1.EntryBody');
      const craft = (publishIndicators: Record<string, unknown>) => {
        const bytes = type
          .encode({
            origin: issuer.id,
            seq: 1,
            prev: ZERO_HASH,
            createdAtMs: CREATED_AT,
            keyEpoch: 1,
            publishIndicators: {
              kind: 1,
              reason: 2,
              exposed: [1],
              confidence: 80,
              validFromMs: VALID_FROM_MS,
              validUntilMs: VALID_UNTIL_MS,
              indicators: [{ selectors: [{ type: 1, digest: digest() }] }],
              ...publishIndicators,
            },
          })
          .finish();
        const body = Buffer.from(bytes);
        return { body, signature: signDetached(entrySigningBytes(body), issuer.keys.secretKey) };
      };
      // Control: the crafted body with known values is accepted.
      const control = new MemoryLedger([issuer]);
      expect(control.accept(craft({})).publication!.kind).to.equal('INDICATOR_KIND_COMPROMISED_CARD');

      for (const [field, patch] of [
        ['kind', { kind: 99 }],
        ['reason', { reason: 77 }],
        ['exposed[0]', { exposed: [42] }],
        ['selectors[0].type', { indicators: [{ selectors: [{ type: 55, digest: digest() }] }] }],
      ] as const) {
        const err = expectMamoriError(() => acceptEntry(craft(patch), ledger), 'MALFORMED_ENTRY');
        expect(err.message, field).to.include(field);
        expect(err.message, field).to.include('unknown value');
      }
    });

    it('MALFORMED_ENTRY for an UNSPECIFIED (zero) enum value', () => {
      const entry = next(issuer, { publishIndicators: cardPublication([digest()], { kind: 'INDICATOR_KIND_UNSPECIFIED' }) });
      const err = expectMamoriError(() => acceptEntry(entry, ledger), 'MALFORMED_ENTRY');
      expect(err.message).to.include('publishIndicators.kind');
    });
  });
});

describe('unit: validatePublication and friends', () => {
  before(async () => {
    await sodiumReady();
  });

  const validate = (p: PublishIndicators__Output) => validatePublication(p, 'publication');

  it('accepts a valid card publication and returns digests as Buffers', () => {
    const d = digest();
    const out = validate(cardPublicationOutput({}, [[{ type: 'SELECTOR_TYPE_PAN', digest: d }]]));
    expect(Buffer.isBuffer(out.indicators[0].selectors[0].digest)).to.equal(true);
    expect(out.indicators[0].selectors[0].digest.equals(d)).to.equal(true);
  });

  it('names the field and the expected size for a wrong-length digest', () => {
    const err = expectMamoriError(() => validate(cardPublicationOutput({}, [[{ type: 'SELECTOR_TYPE_PAN', digest: digest(31) }]])), 'INVALID_ARGUMENT');
    expect(err.message).to.include('publication.indicators[0].selectors[0].digest');
    expect(err.message).to.include('must be 32 bytes');
    expect(err.field).to.equal('publication.indicators[0].selectors[0].digest');
  });

  it('names the index of the offending indicator', () => {
    const p = cardPublicationOutput({}, [
      [{ type: 'SELECTOR_TYPE_PAN', digest: digest() }],
      [{ type: 'SELECTOR_TYPE_PAN', digest: digest() }],
      [{ type: 'SELECTOR_TYPE_PAN', digest: digest(33) }],
    ]);
    const err = expectMamoriError(() => validate(p), 'INVALID_ARGUMENT');
    expect(err.field).to.equal('publication.indicators[2].selectors[0].digest');
  });

  it('refuses a card reason on a merchant indicator, and a merchant reason on a card', () => {
    const merchantSelectors = [[{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN' as const, digest: digest() }]];
    const err = expectMamoriError(
      () => validate(cardPublicationOutput({ kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT', reason: 'REASON_CODE_PHISHING', exposed: [] }, merchantSelectors)),
      'INVALID_ARGUMENT',
    );
    expect(err.field).to.equal('publication.reason');
    expect(err.message).to.include('card reason');
    const err2 = expectMamoriError(() => validate(cardPublicationOutput({ reason: 'REASON_CODE_LAUNDERING' })), 'INVALID_ARGUMENT');
    expect(err2.field).to.equal('publication.reason');
    // Controls: the matching combinations pass.
    expect(() => validate(cardPublicationOutput({ kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT', reason: 'REASON_CODE_LAUNDERING', exposed: [] }, merchantSelectors))).not.to.throw();
    expect(() => validate(cardPublicationOutput({ reason: 'REASON_CODE_CONFIRMED_FRAUD' }))).not.to.throw();
  });

  it('refuses confidence 101 (and -1, 1.5), accepts 0 and 100', () => {
    for (const confidence of [101, -1, 1.5, Number.NaN]) {
      const err = expectMamoriError(() => validate(cardPublicationOutput({ confidence })), 'INVALID_ARGUMENT');
      expect(err.field).to.equal('publication.confidence');
    }
    expect(() => validate(cardPublicationOutput({ confidence: 0 }))).not.to.throw();
    expect(() => validate(cardPublicationOutput({ confidence: LIMITS.maxConfidence }))).not.to.throw();
  });

  it('refuses validUntilMs <= validFromMs', () => {
    for (const validUntilMs of [VALID_FROM_MS, VALID_FROM_MS - 1, 0]) {
      const err = expectMamoriError(() => validate(cardPublicationOutput({ validUntilMs })), 'INVALID_ARGUMENT');
      expect(err.field).to.equal('publication.validUntilMs');
    }
    expect(() => validate(cardPublicationOutput({ validUntilMs: VALID_FROM_MS + 1 }))).not.to.throw();
    const neg = expectMamoriError(() => validate(cardPublicationOutput({ validFromMs: -1 })), 'INVALID_ARGUMENT');
    expect(neg.field).to.equal('publication.validFromMs');
  });

  it('refuses an eventId that looks like free text, accepts identifiers', () => {
    for (const eventId of ['breach at shop', 'x'.repeat(65), 'tab\there', '山田商店', 'a/b']) {
      const err = expectMamoriError(() => validate(cardPublicationOutput({ eventId })), 'INVALID_ARGUMENT');
      expect(err.field).to.equal('publication.eventId');
    }
    for (const eventId of ['', 'EVT-2024.07:breach_01', 'x'.repeat(64)]) {
      expect(() => validate(cardPublicationOutput({ eventId })), eventId).not.to.throw();
    }
  });

  it('refuses more than LIMITS.maxIndicatorsPerEntry indicators, accepts exactly the limit', () => {
    const many = (n: number) => Array.from({ length: n }, () => [{ type: 'SELECTOR_TYPE_PAN' as const, digest: digest() }]);
    const err = expectMamoriError(() => validate(cardPublicationOutput({}, many(LIMITS.maxIndicatorsPerEntry + 1))), 'INVALID_ARGUMENT');
    expect(err.field).to.equal('publication.indicators');
    expect(err.message).to.include(String(LIMITS.maxIndicatorsPerEntry));
    expect(validate(cardPublicationOutput({}, many(LIMITS.maxIndicatorsPerEntry))).indicators).to.have.length(LIMITS.maxIndicatorsPerEntry);
  });

  it('refuses a publication with no indicators, or an indicator with no selectors', () => {
    expect(expectMamoriError(() => validate(cardPublicationOutput({}, [])), 'INVALID_ARGUMENT').field).to.equal('publication.indicators');
    expect(expectMamoriError(() => validate(cardPublicationOutput({}, [[]])), 'INVALID_ARGUMENT').field).to.equal('publication.indicators[0].selectors');
  });

  it('a card takes exactly one PAN selector', () => {
    const bin = expectMamoriError(() => validate(cardPublicationOutput({}, [[{ type: 'SELECTOR_TYPE_BIN', digest: digest() }]])), 'INVALID_ARGUMENT');
    expect(bin.field).to.equal('publication.indicators[0].selectors[0].type');
    const two = expectMamoriError(
      () => validate(cardPublicationOutput({}, [[{ type: 'SELECTOR_TYPE_PAN', digest: digest() }, { type: 'SELECTOR_TYPE_PAN', digest: digest() }]])),
      'INVALID_ARGUMENT',
    );
    expect(two.field).to.equal('publication.indicators[0].selectors');
  });

  it('a merchant takes only merchant selectors', () => {
    const err = expectMamoriError(
      () =>
        validate(
          cardPublicationOutput({ kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT', reason: 'REASON_CODE_COLLUSION' }, [
            [{ type: 'SELECTOR_TYPE_MERCHANT_PHONE', digest: digest() }, { type: 'SELECTOR_TYPE_PAN', digest: digest() }],
          ]),
        ),
      'INVALID_ARGUMENT',
    );
    expect(err.field).to.equal('publication.indicators[0].selectors[1].type');
  });

  it('refuses more than LIMITS.maxSelectorsPerIndicator selectors on one indicator', () => {
    const selectors = Array.from({ length: LIMITS.maxSelectorsPerIndicator + 1 }, () => ({ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN' as const, digest: digest() }));
    const err = expectMamoriError(
      () => validate(cardPublicationOutput({ kind: 'INDICATOR_KIND_FRAUDULENT_MERCHANT', reason: 'REASON_CODE_COLLUSION' }, [selectors])),
      'INVALID_ARGUMENT',
    );
    expect(err.field).to.equal('publication.indicators[0].selectors');
  });

  it('checks the optional BIN', () => {
    const withBin = (bin: string) => {
      const p = cardPublicationOutput();
      p.indicators[0].bin = bin;
      return p;
    };
    for (const bin of ['45454', '454545123', '4545ab', ' 454545']) {
      expect(expectMamoriError(() => validate(withBin(bin)), 'INVALID_ARGUMENT').field, bin).to.equal('publication.indicators[0].bin');
    }
    for (const bin of ['', '454545', '45454512']) expect(() => validate(withBin(bin)), bin).not.to.throw();
  });

  it('refuses an exposed data element listed twice, or unspecified', () => {
    expect(expectMamoriError(() => validate(cardPublicationOutput({ exposed: ['DATA_ELEMENT_PAN', 'DATA_ELEMENT_CVV', 'DATA_ELEMENT_PAN'] })), 'INVALID_ARGUMENT').field).to.equal(
      'publication.exposed[2]',
    );
    expect(expectMamoriError(() => validate(cardPublicationOutput({ exposed: ['DATA_ELEMENT_UNSPECIFIED'] })), 'INVALID_ARGUMENT').field).to.equal('publication.exposed[0]');
  });

  it('refuses a missing publication, kind or reason', () => {
    expect(expectMamoriError(() => validatePublication(null, 'publication'), 'INVALID_ARGUMENT').field).to.equal('publication');
    expect(expectMamoriError(() => validate(cardPublicationOutput({ kind: 'INDICATOR_KIND_UNSPECIFIED' })), 'INVALID_ARGUMENT').field).to.equal('publication.kind');
    expect(expectMamoriError(() => validate(cardPublicationOutput({ reason: 'REASON_CODE_UNSPECIFIED' })), 'INVALID_ARGUMENT').field).to.equal('publication.reason');
    const unknown = cardPublicationOutput({ kind: 7 as unknown as PublishIndicators__Output['kind'] });
    expect(expectMamoriError(() => validate(unknown), 'INVALID_ARGUMENT').message).to.include('unknown value 7');
  });

  it('validateRetraction accepts a well-formed retraction and refuses bad ones', () => {
    const d = digest();
    const ok = validateRetraction({ kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: d }], reason: 'RETRACT_REASON_EXPIRED' }, 'r');
    expect(ok).to.deep.equal({ kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: d }], reason: 'RETRACT_REASON_EXPIRED' });
    const unspecified = expectMamoriError(
      () => validateRetraction({ kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors: [{ type: 'SELECTOR_TYPE_PAN', digest: d }], reason: 'RETRACT_REASON_UNSPECIFIED' }, 'r'),
      'INVALID_ARGUMENT',
    );
    expect(unspecified.field).to.equal('r.reason');
    const wrongType = expectMamoriError(
      () => validateRetraction({ kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors: [{ type: 'SELECTOR_TYPE_MERCHANT_DOMAIN', digest: d }], reason: 'RETRACT_REASON_EXPIRED' }, 'r'),
      'INVALID_ARGUMENT',
    );
    expect(wrongType.field).to.equal('r.selectors[0].type');
    expect(expectMamoriError(() => validateRetraction({ kind: 'INDICATOR_KIND_COMPROMISED_CARD', selectors: [], reason: 'RETRACT_REASON_EXPIRED' }, 'r'), 'INVALID_ARGUMENT').field).to.equal(
      'r.selectors',
    );
  });

  it('validateSelectors enforces its limit and each digest', () => {
    const sel = (n: number): Selector__Output[] => Array.from({ length: n }, () => ({ type: 'SELECTOR_TYPE_PAN', digest: digest() }));
    expect(validateSelectors(sel(3), 's', 3)).to.have.length(3);
    const over = expectMamoriError(() => validateSelectors(sel(4), 's', 3), 'INVALID_ARGUMENT');
    expect(over.field).to.equal('s');
    expect(over.message).to.include('the limit is 3');
    expect(expectMamoriError(() => validateSelectors(undefined, 's', 3), 'INVALID_ARGUMENT').field).to.equal('s');
    const noDigest = [{ type: 'SELECTOR_TYPE_PAN', digest: Buffer.alloc(0) }] as Selector__Output[];
    expect(expectMamoriError(() => validateSelectors(noDigest, 's', 3), 'INVALID_ARGUMENT').message).to.include('got 0');
    const badType = [{ type: 'SELECTOR_TYPE_UNSPECIFIED', digest: digest() }] as Selector__Output[];
    expect(expectMamoriError(() => validateSelectors(badType, 's', 3), 'INVALID_ARGUMENT').field).to.equal('s[0].type');
  });
});

describe('unit: entry header reader', () => {
  before(async () => {
    await sodiumReady();
  });

  it('reads the same header fields and operation as a full decode', () => {
    const keys = generateSigningKeyPair();
    const digest = Buffer.alloc(32, 7);
    const signed = signNextEntry(
      'issuer-a',
      { seq: 41, hash: Buffer.alloc(32, 9) },
      3,
      {
        publishIndicators: {
          kind: 'INDICATOR_KIND_COMPROMISED_CARD',
          reason: 'REASON_CODE_PHISHING',
          exposed: ['DATA_ELEMENT_PAN'],
          confidence: 80,
          validFromMs: 1,
          validUntilMs: 2,
          indicators: [{ selectors: [{ type: 'SELECTOR_TYPE_PAN', digest }] }],
        },
      },
      keys.secretKey,
      1_795_000_000_123,
    );
    const full = decodeEntryBody(signed.body);
    const header = readEntryHeader(signed.body);
    expect(header).to.deep.equal({
      origin: full.origin,
      seq: 42,
      prev: Buffer.alloc(32, 9),
      createdAtMs: 1_795_000_000_123,
      keyEpoch: 3,
      operation: 'publishIndicators',
    });
    expect(() => readEntryHeader(Buffer.from([0xff, 0xff, 0xff]))).to.throw(/not a valid EntryBody/);
  });
});

describe('unit: acceptance refuses what the protocol does not define', () => {
  before(async () => {
    await sodiumReady();
  });

  const members = () => {
    const kp = generateSigningKeyPair();
    return { kp, ctx: { member: (o: string) => (o === 'psp-c' ? { roles: ['psp' as const], signingPublicKey: kp.publicKey } : undefined), head: () => ({ seq: 0, hash: ZERO_HASH }) } };
  };

  it('refuses a body carrying an unknown field (where free text could ride along), even validly signed', () => {
    const { kp, ctx } = members();
    const signed = signNextEntry('psp-c', { seq: 0, hash: ZERO_HASH }, 1, { keyEpochAck: { epoch: 1 } }, kp.secretKey);
    expect(acceptEntry(signed, ctx).seq).to.equal(1);
    const smuggled = Buffer.concat([signed.body, Buffer.from([0x9a, 0x06, 0x05]), Buffer.from('TARO!')]); // field 99, length 5
    const signature = signDetached(entrySigningBytes(smuggled), kp.secretKey);
    expect(() => acceptEntry({ body: smuggled, signature }, ctx)).to.throw(MamoriError, /canonical encoding/);
  });

  it('accepts a KeyEpochAck for any well-formed epoch, whatever consortium file is in force, and carries its epoch', () => {
    const { kp, ctx } = members();
    const ack = (epoch: number) => signNextEntry('psp-c', { seq: 0, hash: ZERO_HASH }, 1, { keyEpochAck: { epoch } }, kp.secretKey);
    expect(acceptEntry(ack(2), ctx).keyEpochAck).to.deep.equal({ epoch: 2 });
    // An epoch this node's file does not list (yet, or any more) is still the origin's signed word.
    expect(acceptEntry(ack(LIMITS.maxKeyEpoch), ctx).keyEpochAck).to.deep.equal({ epoch: LIMITS.maxKeyEpoch });
    expect(expectMamoriError(() => acceptEntry(ack(0), ctx), 'MALFORMED_ENTRY').message).to.contain('keyEpochAck.epoch: must be an epoch number from 1 to');
    expect(expectMamoriError(() => acceptEntry(ack(LIMITS.maxKeyEpoch + 1), ctx), 'MALFORMED_ENTRY').message).to.contain('keyEpochAck.epoch: must be an epoch number');
  });

  it('refuses an empty FraudReport (no aggregator, nothing sealed)', () => {
    const kp = generateSigningKeyPair();
    const ctx = { member: (o: string) => (o === 'issuer-a' ? { roles: ['issuer' as const], signingPublicKey: kp.publicKey } : undefined), head: () => ({ seq: 0, hash: ZERO_HASH }) };
    const signed = signNextEntry('issuer-a', { seq: 0, hash: ZERO_HASH }, 1, { fraudReport: {} }, kp.secretKey);
    expect(() => acceptEntry(signed, ctx)).to.throw(MamoriError, /fraudReport/);
  });

  it('refuses an empty Sightings operation', () => {
    const { kp, ctx } = members();
    const signed = signNextEntry('psp-c', { seq: 0, hash: ZERO_HASH }, 1, { sightings: {} }, kp.secretKey);
    expect(() => acceptEntry(signed, ctx)).to.throw(MamoriError, /sightings\.sightings: must contain at least one sighting/);
  });
});
