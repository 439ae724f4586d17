// The trust module: every signed and hashed byte pinned to outputs computed before the module
// existed (from the code it replaced), so any change to a tag or a layout fails here first.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sodium, sodiumReady } from '../../proto/ts/sodium';
import {
  derivedRowsMac,
  derivedSelectorsHash,
  filterSnapshotMac,
  verificationCheckpointMac,
  auditRowHash,
  canonicalJson,
  clientTokenDigest,
  consortiumSigningBytes,
  entryHash,
  entrySigningBytes,
  hashSelector,
  issuerNoticeTag,
  issuerNoticeTagKey,
  selectorCacheHandle,
  nodeConfigDigest,
  operatorKeyCheckBytes,
  panSelector,
} from '../../proto/ts/trust/domains';
import { operatorKeyPairMatches, signConsortiumDocument, signEntry, verifyConsortiumDocument, verifyEntry } from '../../proto/ts/trust/verify';
import { writeFileAtomic } from '../../proto/ts/trust/atomic-file';
import { encodeEntryBody } from '../../node/src/ledger/entry';
import { tempDir } from '../helpers/node-harness';

// Inputs: a signing key from a fixed seed, a key-epoch acknowledgement entry, a fixed hashing key.
const SEED = Buffer.alloc(32, 1);
const HASHING_KEY = Buffer.alloc(32, 2);
const SAMPLE_BODY = {
  origin: 'issuer-a',
  seq: 2,
  prev: Buffer.alloc(32, 0xab),
  createdAtMs: 1_700_000_000_000,
  keyEpoch: 1,
  keyEpochAck: { epoch: 1 },
};
const SAMPLE_DOCUMENT = { b: 1, a: { version: 3 } };

// Outputs computed with the code before proto/ts/trust/ (signed-bytes.ts, selectors.ts,
// crypto/signing.ts, crypto/epochs.ts, store/audit-store.ts, cli/config-digest.ts).
const PINNED = {
  publicKey: '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c',
  body: '0a086973737565722d6110021a20abababababababababababababababababababababababababababababababab2080d095ffbc3128017a020801',
  entrySigningBytes:
    '6d616d6f72692f76312f656e747279000a086973737565722d6110021a20abababababababababababababababababababababababababababababababab2080d095ffbc3128017a020801',
  entrySignature:
    'd24711600d2f9d4436df7a45c28ada060820fb31d60581c611beaa53bbb5c7e6a25cac91f500c84ecb4e4281e5cac46e45688089f18f65d0b92c0eb0b8808201',
  entryHash: '2a2317fb9510f05be4c1b423aaf821349f613e3d07d153c1787b054bde60766d',
  canonicalDocument: '{"a":{"version":3},"b":1}',
  consortiumSigningBytes: '6d616d6f72692f76312f636f6e736f727469756d007b2261223a7b2276657273696f6e223a337d2c2262223a317d',
  consortiumSignature: 'IH93Tr4dM+LQ4gUALKppK1tgVeWEUybe/MKecTbVSp2ghwyPYV9B33KSAmT3z0FhjiIAaT3FkPUVrYST/hyhAQ==',
  panSelector: '35a8f1377f4e91c1b1a42e27f5aa4b5111f684edcb93e64f907c0613fed899ba',
  domainSelector: '795d66802a66dd43fcda6d7066c73647618215ca7d068e4504bb780e245b277d',
  binSelector: '2c422043cd16df1e3e373cad46bca4bacb93646051136b594f9b895aff63a5fb',
  auditRowHash: '437f36f3e41e37d29dc5add8579bedeee7a09c99ef55e144ff60a777ec8ff93b',
  nodeConfigDigest: '1e26738d17f92c45120a2c922775b86b4ec343a35476caed2815e86032333a4a',
  clientTokenDigest: 'fa67c308a5eecb8d8a7b2da6f63f4b5d7319ddc05eefba361e6510b481e53540',
  derivedSelectorsHash: 'b5661300f3bf7ea70d36a2214e1ba0dc6980005b8731f7b3df9210c203dab946',
  derivedRowsMac: '7de27a55ef900ceae864b3114cdbe626a4aef1fbbcfb1d593cf7bcd5bb75f91e',
  filterSnapshotMac: '31efd60dc85ebffb2da4277e85a9a45cd7de0c697685c8dae79a1f58cbac83f0',
  verificationCheckpointMac: '733d028bb04e9d86087f816b5f58d14d1c9d36469ba4efb87e0a1eb337003546',
  // Computed apart from this code (Python hashlib.blake2b) when the tags were introduced.
  issuerNoticeTagKey: 'f2c543ed1efce6dd3053fc5ffb824fe3561620d87c074da6c7238c8fac0b31ed',
  issuerNoticeTag: '064ed7723bd959f3d00ab6dd056e96a1',
  // Python hashlib.blake2b(tag || digits, key = 32 × 0x09).
  selectorCacheHandle: '39ca33ed53f75773b2847bce200ccc93834fcddc96ddb15df6728a412b14f3ac',
};

describe('unit: trust module (proto/ts/trust)', () => {
  let keys: { publicKey: Uint8Array; privateKey: Uint8Array };
  let body: Buffer;
  before(async () => {
    await sodiumReady();
    keys = sodium().crypto_sign_seed_keypair(SEED);
    body = encodeEntryBody(SAMPLE_BODY);
  });

  describe('pinned bytes', () => {
    it('the sample entry body encodes as before', () => {
      expect(Buffer.from(keys.publicKey).toString('hex')).to.equal(PINNED.publicKey);
      expect(body.toString('hex')).to.equal(PINNED.body);
    });

    it('entry: signing bytes, signature and hash', () => {
      expect(entrySigningBytes(body).toString('hex')).to.equal(PINNED.entrySigningBytes);
      expect(signEntry(body, keys.privateKey).toString('hex')).to.equal(PINNED.entrySignature);
      expect(entryHash(body).toString('hex')).to.equal(PINNED.entryHash);
    });

    it('consortium document: canonical JSON, signing bytes and signature', () => {
      expect(canonicalJson(SAMPLE_DOCUMENT)).to.equal(PINNED.canonicalDocument);
      expect(consortiumSigningBytes(canonicalJson(SAMPLE_DOCUMENT)).toString('hex')).to.equal(PINNED.consortiumSigningBytes);
      expect(signConsortiumDocument(SAMPLE_DOCUMENT, keys.privateKey)).to.equal(PINNED.consortiumSignature);
    });

    it('selectors: PAN (hot path and general path), merchant domain, BIN', () => {
      expect(panSelector(HASHING_KEY, '4111111111111111').toString('hex')).to.equal(PINNED.panSelector);
      expect(hashSelector(HASHING_KEY, 'SELECTOR_TYPE_PAN', '4111111111111111').toString('hex')).to.equal(PINNED.panSelector);
      expect(hashSelector(HASHING_KEY, 'SELECTOR_TYPE_MERCHANT_DOMAIN', 'example.com').toString('hex')).to.equal(PINNED.domainSelector);
      expect(hashSelector(HASHING_KEY, 'SELECTOR_TYPE_BIN', '411111').toString('hex')).to.equal(PINNED.binSelector);
    });

    it('audit row hash, node config digest, client token digest', () => {
      expect(auditRowHash(Buffer.alloc(32), 1, 1_700_000_000_000, 'operator', 'node.start', '{"n":1}').toString('hex')).to.equal(PINNED.auditRowHash);
      expect(nodeConfigDigest({ dataDir: '/var/lib/mamori', b: [1, 2] })).to.equal(PINNED.nodeConfigDigest);
      expect(clientTokenDigest('secret-token')).to.equal(PINNED.clientTokenDigest);
    });

    it('derived-state digest and MACs under the node-local key', () => {
      const key = Buffer.alloc(32, 7);
      const records = Buffer.concat([Buffer.alloc(32, 1), Buffer.from([1]), Buffer.alloc(32, 2), Buffer.from([1])]);
      const selectorsHash = derivedSelectorsHash(records);
      expect(selectorsHash.toString('hex')).to.equal(PINNED.derivedSelectorsHash);
      const publication = '["INDICATOR_KIND_COMPROMISED_CARD","REASON_PHISHING","",80,0,1,""]';
      const input = { entryId: 5, entryHash: Buffer.alloc(32, 3), selectorRows: 2, selectorsHash, publication, retractions: [{ digest: Buffer.alloc(32, 4), originId: 2, reason: 'RETRACT_REASON_ERROR' }] };
      expect(derivedRowsMac(key, input).toString('hex')).to.equal(PINNED.derivedRowsMac);
      expect(derivedRowsMac(Buffer.alloc(32, 8), input).toString('hex'), 'another key').to.not.equal(PINNED.derivedRowsMac);
      expect(derivedRowsMac(key, { ...input, publication: publication.replace(',1,', ',2,') }).toString('hex'), 'another validity end').to.not.equal(PINNED.derivedRowsMac);
      expect(filterSnapshotMac(key, Buffer.from('{"bits":8}'), Buffer.from([0xff])).toString('hex')).to.equal(PINNED.filterSnapshotMac);
      expect(filterSnapshotMac(key, Buffer.from('{"bits":8}'), Buffer.from([0x00])).toString('hex'), 'zeroed bits').to.not.equal(PINNED.filterSnapshotMac);
      const heads = JSON.stringify([['psp-c', 3, 'ab'.repeat(32)]]);
      expect(verificationCheckpointMac(key, 12, heads).toString('hex')).to.equal(PINNED.verificationCheckpointMac);
      expect(verificationCheckpointMac(key, 11, heads).toString('hex'), 'another row').to.not.equal(PINNED.verificationCheckpointMac);
    });

    it('the SDK selector cache handle: keyed BLAKE2b of the normalized PAN under its own tag', () => {
      expect(selectorCacheHandle(Buffer.alloc(32, 9), '4111111111111111').toString('hex')).to.equal(PINNED.selectorCacheHandle);
      expect(selectorCacheHandle(Buffer.alloc(32, 8), '4111111111111111').toString('hex'), 'another key').to.not.equal(PINNED.selectorCacheHandle);
    });

    it('issuer notices: tag key (shared secret, sender and recipient box keys) and tag (over the ephemeral key)', () => {
      const key = issuerNoticeTagKey(Buffer.alloc(32, 3), Buffer.alloc(32, 4), Buffer.alloc(32, 5));
      expect(key.toString('hex')).to.equal(PINNED.issuerNoticeTagKey);
      expect(issuerNoticeTag(key, Buffer.alloc(32, 6)).toString('hex')).to.equal(PINNED.issuerNoticeTag);
      expect(issuerNoticeTagKey(Buffer.alloc(32, 3), Buffer.alloc(32, 5), Buffer.alloc(32, 4)).toString('hex'), 'the direction counts').to.not.equal(PINNED.issuerNoticeTagKey);
    });

    it('the operator key check signs its own tag', () => {
      expect(operatorKeyCheckBytes().toString('utf8')).to.equal('mamori/v1/operator-key-check\0');
    });
  });

  describe('verifyEntry', () => {
    it('accepts the origin signature over the exact body, nothing else', () => {
      const signature = Buffer.from(PINNED.entrySignature, 'hex');
      expect(verifyEntry({ body, signature }, keys.publicKey)).to.equal(true);
      const altered = Buffer.from(body);
      altered[altered.length - 1] ^= 1;
      expect(verifyEntry({ body: altered, signature }, keys.publicKey)).to.equal(false);
      expect(verifyEntry({ body, signature: sodium().crypto_sign_detached(body, keys.privateKey) }, keys.publicKey), 'untagged').to.equal(false);
      expect(verifyEntry({ body, signature: signature.subarray(0, 63) }, keys.publicKey), 'short signature').to.equal(false);
      expect(verifyEntry({ body, signature }, sodium().crypto_sign_keypair().publicKey), 'another key').to.equal(false);
    });
  });

  describe('consortium document', () => {
    it('verifies regardless of key order and refuses a changed document or another key', () => {
      const signature = signConsortiumDocument(SAMPLE_DOCUMENT, keys.privateKey);
      expect(verifyConsortiumDocument({ a: { version: 3 }, b: 1 }, signature, keys.publicKey)).to.equal(true);
      expect(verifyConsortiumDocument({ ...SAMPLE_DOCUMENT, b: 2 }, signature, keys.publicKey)).to.equal(false);
      expect(verifyConsortiumDocument(SAMPLE_DOCUMENT, signature, sodium().crypto_sign_keypair().publicKey)).to.equal(false);
      expect(verifyConsortiumDocument(SAMPLE_DOCUMENT, 'not base64 at all', keys.publicKey)).to.equal(false);
    });

    it('operatorKeyPairMatches tells a matching key pair from a mismatched or damaged one', () => {
      expect(operatorKeyPairMatches(keys.publicKey, keys.privateKey)).to.equal(true);
      expect(operatorKeyPairMatches(sodium().crypto_sign_keypair().publicKey, keys.privateKey)).to.equal(false);
      expect(operatorKeyPairMatches(keys.publicKey, keys.privateKey.subarray(0, 10))).to.equal(false);
    });
  });

  describe('writeFileAtomic', () => {
    it('replaces the file with the new bytes, with the given mode, leaving no temporary file', () => {
      const dir = tempDir();
      const file = path.join(dir, 'state.bin');
      fs.writeFileSync(file, 'old');
      writeFileAtomic(file, [Buffer.from('new '), Buffer.from('bytes')], { mode: 0o640 });
      expect(fs.readFileSync(file, 'utf8')).to.equal('new bytes');
      expect(fs.statSync(file).mode & 0o777).to.equal(0o640);
      writeFileAtomic(file, 'text');
      expect(fs.readFileSync(file, 'utf8')).to.equal('text');
      expect(fs.readdirSync(dir)).to.deep.equal(['state.bin']);
    });

    it('leaves the old file and no temporary file when the write fails', () => {
      const dir = tempDir();
      const file = path.join(dir, 'state.bin');
      fs.writeFileSync(file, 'old');
      fs.mkdirSync(path.join(dir, 'occupied'));
      expect(() => writeFileAtomic(path.join(dir, 'occupied'), 'x')).to.throw();
      expect(fs.readFileSync(file, 'utf8')).to.equal('old');
      expect(fs.readdirSync(dir).sort()).to.deep.equal(['occupied', 'state.bin']);
    });
  });
});
