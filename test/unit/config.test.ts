import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { canonicalJson, consortiumSigningBytes } from '../../proto/ts/trust/domains';
import { sodiumReady } from '../../proto/ts/sodium';
import { createDevConsortium, type DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { ConfigError } from '../../node/src/config/errors';
import { loadNodeConfig } from '../../node/src/config/node-config';
import { TOKEN_SCOPES } from '../../node/src/config/schemas';
import { clientTokensOf } from '../../node/src/rpc/auth';
import { generateSigningKeyPair, signDetached } from '../../node/src/crypto/signing';
import { Consortium, loadMemberIdentity } from '../../node/src/membership/consortium';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const readJson = (file: string): Json => JSON.parse(fs.readFileSync(file, 'utf8')) as Json;

/** Runs fn, expects a ConfigError, and returns it. */
function expectConfigError(fn: () => unknown): ConfigError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, 'expected a ConfigError').to.be.instanceOf(ConfigError);
  return thrown as ConfigError;
}

describe('unit: configuration files', () => {
  let dir: string;
  let layout: DevConsortiumLayout;
  let issuerNodeFile: string;
  let operatorKey: { publicKey: string; secretKey: string };
  let counter = 0;

  /** Writes text to a fresh file inside the issuer's folder (so relative paths resolve the same). */
  const scratch = (text: string): string => {
    const file = path.join(dir, 'issuer-a', `variant-${++counter}.json`);
    fs.writeFileSync(file, text);
    return file;
  };
  const scratchJson = (value: unknown) => scratch(`${JSON.stringify(value, null, 2)}\n`);

  /** A copy of the issuer's node.json with a change applied. */
  const nodeVariant = (change: (cfg: Json) => void): string => {
    const cfg = readJson(issuerNodeFile);
    change(cfg);
    return scratchJson(cfg);
  };

  /** A copy of consortium.json with a change applied, optionally re-signed with a key. */
  const consortiumVariant = (change: (file: Json) => void, resignWith?: Uint8Array): string => {
    const signed = readJson(layout.consortiumFile);
    change(signed);
    if (resignWith) {
      signed.signature = signDetached(consortiumSigningBytes(canonicalJson(signed.document)), resignWith).toString('base64');
    }
    return scratchJson(signed);
  };
  const operatorSecret = () => Buffer.from(operatorKey.secretKey, 'base64');

  before(async () => {
    await sodiumReady();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-'));
    layout = await createDevConsortium(dir, 47100);
    issuerNodeFile = layout.members.find((m) => m.id === 'issuer-a')!.nodeConfig;
    operatorKey = readJson(path.join(dir, 'operator', 'operator.key.json')) as typeof operatorKey;
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('createDevConsortium', () => {
    it('lays out three members with node and client configs', () => {
      expect(layout.dir).to.equal(path.resolve(dir));
      expect(layout.consortiumFile).to.equal(path.join(dir, 'consortium.json'));
      expect(layout.members.map((m) => m.id)).to.deep.equal(['issuer-a', 'acquirer-b', 'psp-c']);
      expect(layout.members.map((m) => m.listen)).to.deep.equal(['127.0.0.1:47100', '127.0.0.1:47101', '127.0.0.1:47102']);
      expect(layout.members.map((m) => m.endpoint)).to.deep.equal(['127.0.0.1:47103', '127.0.0.1:47104', '127.0.0.1:47105']);
      for (const m of layout.members) {
        expect(fs.existsSync(m.nodeConfig), m.nodeConfig).to.equal(true);
        expect(fs.existsSync(m.clientConfig), m.clientConfig).to.equal(true);
      }
    });

    it('writes key and token files with mode 0600', () => {
      const secrets = [
        path.join(dir, 'operator', 'operator.key.json'),
        ...layout.members.map((m) => path.join(dir, m.id, 'member.key.json')),
        ...layout.members.map((m) => m.clientConfig),
      ];
      for (const f of secrets) expect((fs.statSync(f).mode & 0o777).toString(8), f).to.equal('600');
    });

    it('keeps secrets out of the public files (consortium.json, node.json)', () => {
      const publicText = [fs.readFileSync(layout.consortiumFile, 'utf8'), ...layout.members.map((m) => fs.readFileSync(m.nodeConfig, 'utf8'))].join('\n');
      expect(publicText).not.to.include(operatorKey.secretKey);
      for (const m of layout.members) {
        const keys = readJson(path.join(dir, m.id, 'member.key.json'));
        const client = readJson(m.clientConfig);
        expect(publicText).not.to.include(keys.signing.secretKey);
        expect(publicText).not.to.include(keys.box.secretKey);
        expect(publicText).not.to.include(client.token);
      }
    });

    it('refuses to overwrite an existing consortium without force', async () => {
      let thrown: unknown;
      try {
        await createDevConsortium(dir, 47100);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).to.be.instanceOf(Error);
      expect((thrown as Error).message).to.include('already exists');
      // The existing operator key was not replaced.
      expect(readJson(path.join(dir, 'operator', 'operator.key.json')).publicKey).to.equal(operatorKey.publicKey);
    });
  });

  describe('loadNodeConfig', () => {
    it('loads a generated node.json and resolves paths against its folder', () => {
      const cfg = loadNodeConfig(issuerNodeFile, {});
      expect(cfg.member).to.equal('issuer-a');
      expect(cfg.listen).to.equal('127.0.0.1:47100');
      expect(cfg.configFile).to.equal(issuerNodeFile);
      expect(cfg.dataDir).to.equal(path.join(dir, 'issuer-a', 'data'));
      expect(cfg.consortiumFile).to.equal(layout.consortiumFile);
      expect(cfg.memberKeyFile).to.equal(path.join(dir, 'issuer-a', 'member.key.json'));
      expect(cfg.operatorPublicKey).to.equal(operatorKey.publicKey);
      expect(cfg.clientTokens).to.have.length(1);
      expect(cfg.clientTokens?.[0]).to.include({ name: 'dev-client' });
      expect(cfg.clientTokens?.[0]?.scopes).to.include.members(['check', 'publish', 'admin']);
      expect(cfg.logLevel).to.equal('info');
      expect(Object.isFrozen(cfg)).to.equal(true);
    });

    it('gives a token of the older clientTokenDigests every scope but admin, named by its digest', () => {
      const file = nodeVariant((c) => {
        c.clientTokenDigests = [c.clientTokens[0].digest];
        delete c.clientTokens;
      });
      const cfg = loadNodeConfig(file, {});
      const tokens = clientTokensOf(cfg);
      expect(tokens).to.have.length(1);
      expect(tokens[0]?.name).to.equal((cfg.clientTokenDigests?.[0] ?? '').slice(0, 8));
      expect(tokens[0]?.scopes).to.deep.equal(TOKEN_SCOPES.filter((s) => s !== 'admin'));
      expect(tokens[0]?.scopes).to.not.include('admin');
    });

    it('applies defaults for the optional settings', () => {
      const file = nodeVariant((c) => {
        delete c.logLevel;
        delete c.filter;
        delete c.snapshotIntervalMs;
        delete c.maxMessageBytes;
        delete c.audit;
        delete c.insecureDev;
        delete c.storage;
      });
      const cfg = loadNodeConfig(file, {});
      expect(cfg.logLevel).to.equal('info');
      expect(cfg.filter).to.deep.equal({ capacity: 1_000_000, targetFpRate: 1e-6 });
      expect(cfg.snapshotIntervalMs).to.equal(30_000);
      expect(cfg.maxMessageBytes).to.equal(8 * 1024 * 1024);
      expect(cfg.audit.retentionDays).to.equal(365);
      expect(cfg.insecureDev).to.equal(false);
      expect(cfg.storage?.maxDatabaseMb).to.equal(undefined);
    });

    it('lets MAMORI_LOG_LEVEL override the log level', () => {
      expect(loadNodeConfig(issuerNodeFile, { MAMORI_LOG_LEVEL: 'debug' }).logLevel).to.equal('debug');
    });

    it('keeps absolute paths as they are', () => {
      const file = nodeVariant((c) => {
        c.dataDir = '/var/lib/mamori';
      });
      expect(loadNodeConfig(file, {}).dataDir).to.equal('/var/lib/mamori');
    });

    const badFields: [string, (c: Json) => void, string][] = [
      ['listen: "nowhere"', (c) => (c.listen = 'nowhere'), 'listen'],
      ['filter.targetFpRate: 2', (c) => (c.filter.targetFpRate = 2), 'filter.targetFpRate'],
      ['filter.capacity: 10', (c) => (c.filter.capacity = 10), 'filter.capacity'],
      ['an unknown extra key', (c) => (c.listenAddress = '127.0.0.1:1'), 'listenAddress'],
      ['an unknown key inside filter', (c) => (c.filter.size = 5), 'size'],
      ['a missing member', (c) => delete c.member, 'member'],
      ['a member id with capitals', (c) => (c.member = 'Issuer-A'), 'member'],
      ['an operator key of the wrong size', (c) => (c.operatorPublicKey = Buffer.alloc(31).toString('base64')), 'operatorPublicKey'],
      ['no client token digests', (c) => (c.clientTokenDigests = []), 'clientTokenDigests'],
      ['a token digest that is not hex', (c) => (c.clientTokenDigests = ['zz']), 'clientTokenDigests.0'],
      ['no client token at all', (c) => delete c.clientTokens, 'clientTokens'],
      ['a token without scopes', (c) => (c.clientTokens[0].scopes = []), 'clientTokens.0.scopes'],
      ['an unknown scope', (c) => (c.clientTokens[0].scopes = ['check', 'everything']), 'clientTokens.0.scopes'],
      ['a token name holding a card-number-long digit run', (c) => (c.clientTokens[0].name = 'pos4111111111111111'), 'clientTokens.0.name'],
      ['a digest listed twice', (c) => (c.clientTokenDigests = [c.clientTokens[0].digest]), 'clientTokens'],
      ['an unknown log level', (c) => (c.logLevel = 'verbose'), 'logLevel'],
      ['a string where a number goes', (c) => (c.snapshotIntervalMs = '30000'), 'snapshotIntervalMs'],
    ];
    for (const [what, change, field] of badFields) {
      it(`refuses ${what}, naming the file and the field`, () => {
        const file = nodeVariant(change);
        const err = expectConfigError(() => loadNodeConfig(file, {}));
        expect(err.file).to.equal(file);
        expect(err.message).to.include(file);
        expect(err.message).to.include(field);
        expect(err.problems.length).to.be.greaterThan(0);
        expect(err.problems.some((p) => p.includes(field))).to.equal(true);
      });
    }

    it('reports every problem at once', () => {
      const file = nodeVariant((c) => {
        c.listen = 'nowhere';
        c.filter.targetFpRate = 2;
      });
      const err = expectConfigError(() => loadNodeConfig(file, {}));
      expect(err.problems).to.have.length(2);
      expect(err.message).to.include('listen').and.to.include('filter.targetFpRate');
    });

    it('explains the expected host:port form', () => {
      const err = expectConfigError(() => loadNodeConfig(nodeVariant((c) => (c.listen = 'nowhere')), {}));
      expect(err.message).to.include('host:port');
    });

    it('gives a clear error for a file that is not JSON', () => {
      const file = scratch('{ "member": "issuer-a", oops }');
      const err = expectConfigError(() => loadNodeConfig(file, {}));
      expect(err.file).to.equal(file);
      expect(err.message).to.include(file);
      expect(err.message).to.include('is not valid JSON');
    });

    it('gives a clear error for an empty file, a JSON array, and a missing file', () => {
      expect(expectConfigError(() => loadNodeConfig(scratch(''), {})).message).to.include('is not valid JSON');
      expect(expectConfigError(() => loadNodeConfig(scratch('[]'), {})).message).to.include('(top level)');
      const missing = path.join(dir, 'nope', 'node.json');
      const err = expectConfigError(() => loadNodeConfig(missing, {}));
      expect(err.file).to.equal(missing);
      expect(err.message).to.include('cannot be read').and.to.include('ENOENT');
    });

    it('accepts a UTF-8 byte-order mark', () => {
      const file = scratch(`\uFEFF${fs.readFileSync(issuerNodeFile, 'utf8')}`);
      expect(loadNodeConfig(file, {}).member).to.equal('issuer-a');
    });
  });

  describe('environment overrides', () => {
    it('MAMORI_LOG_LEVEL must be a log level', () => {
      expect(loadNodeConfig(issuerNodeFile, { MAMORI_LOG_LEVEL: 'debug' }).logLevel).to.equal('debug');
      expect(loadNodeConfig(issuerNodeFile, { MAMORI_LOG_LEVEL: '' }).logLevel).to.equal('info');
      const err = expectConfigError(() => loadNodeConfig(issuerNodeFile, { MAMORI_LOG_LEVEL: 'verbose' }));
      expect(err.message).to.include('MAMORI_LOG_LEVEL').and.include('"verbose" is not a log level');
    });

    it('a port above 65535 is refused', () => {
      const err = expectConfigError(() => loadNodeConfig(nodeVariant((cfg) => (cfg.listen = '127.0.0.1:99999'))));
      expect(err.message).to.include('listen: expected a port from 0 to 65535');
    });
  });

  describe('Consortium.load', () => {
    it('loads the signed file with the right operator key', () => {
      const c = Consortium.load(layout.consortiumFile, operatorKey.publicKey);
      expect(c.document.members.map((m) => m.id)).to.deep.equal(['issuer-a', 'acquirer-b', 'psp-c']);
      expect(c.member('acquirer-b')!.endpoint).to.equal('127.0.0.1:47104');
      expect(c.member('nobody')).to.equal(undefined);
      const keys = c.memberKeys('issuer-a')!;
      expect(keys.roles).to.deep.equal(['issuer']);
      const issuerKeys = readJson(path.join(dir, 'issuer-a', 'member.key.json'));
      expect(Buffer.from(keys.signingPublicKey).toString('base64')).to.equal(issuerKeys.signing.publicKey);
      expect(c.memberKeys('nobody')).to.equal(undefined);
    });

    it('the epoch key opens for every member, and is the same key for all', () => {
      const c = Consortium.load(layout.consortiumFile, operatorKey.publicKey);
      const keys = layout.members.map((m) => {
        const identity = loadMemberIdentity(path.join(dir, m.id, 'member.key.json'));
        expect(identity.member).to.equal(m.id);
        const epochs = c.openEpochKeys(identity, layout.consortiumFile);
        expect(epochs.map((e) => e.epoch)).to.deep.equal([1]);
        return Buffer.from(epochs[0].key).toString('hex');
      });
      expect(keys[0]).to.match(/^[0-9a-f]{64}$/);
      expect(new Set(keys).size).to.equal(1);
    });

    it("refuses to open the epoch key with another member's box key", () => {
      const c = Consortium.load(layout.consortiumFile, operatorKey.publicKey);
      const issuer = loadMemberIdentity(path.join(dir, 'issuer-a', 'member.key.json'));
      const acquirer = loadMemberIdentity(path.join(dir, 'acquirer-b', 'member.key.json'));
      const err = expectConfigError(() => c.openEpochKeys({ ...issuer, box: acquirer.box }, layout.consortiumFile));
      expect(err.message).to.include('cannot be opened');
      expect(err.message).not.to.include(Buffer.from(acquirer.box.secretKey).toString('base64'));
    });

    it('verifies the document as written: an optional field left out still verifies', () => {
      const file = consortiumVariant((signed) => {
        delete (signed.document as { members: Json[] }).members[1]!.binRanges;
      }, operatorSecret());
      const c = Consortium.load(file, operatorKey.publicKey);
      expect(c.member('acquirer-b')!.binRanges).to.deep.equal([]);
    });

    it('does not depend on key order or whitespace (canonical JSON)', () => {
      const signed = readJson(layout.consortiumFile);
      const reverse = (v: unknown): unknown =>
        Array.isArray(v) ? v.map(reverse) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reverse(x)])) : v;
      const file = scratch(JSON.stringify(reverse(signed)));
      expect(Consortium.load(file, operatorKey.publicKey).document.members).to.have.length(3);
    });

    it("refuses a document with one member's endpoint edited, mentioning the signature", () => {
      const file = consortiumVariant((f) => {
        f.document.members[1].endpoint = '203.0.113.9:7101';
      });
      const err = expectConfigError(() => Consortium.load(file, operatorKey.publicKey));
      expect(err.file).to.equal(file);
      expect(err.message).to.include('signature');
    });

    it('refuses other one-field edits: a role added, a signing key swapped', () => {
      const addRole = consortiumVariant((f) => {
        f.document.members[2].roles = ['psp', 'acquirer'];
      });
      expect(expectConfigError(() => Consortium.load(addRole, operatorKey.publicKey)).message).to.include('signature');
      const swapKey = consortiumVariant((f) => {
        f.document.members[0].signingPublicKey = f.document.members[1].signingPublicKey;
      });
      expect(expectConfigError(() => Consortium.load(swapKey, operatorKey.publicKey)).message).to.include('signature');
    });

    it('names a former common-point aggregator\'s term in its keys, and refuses one that is not a member', () => {
      const file = consortiumVariant((f) => {
        f.document.commonPoint = { aggregator: 'psp-c', formerAggregators: [{ member: 'acquirer-b', untilMs: 1_000 }, { member: 'acquirer-b', untilMs: 5_000 }] };
      }, operatorSecret());
      const c = Consortium.load(file, operatorKey.publicKey);
      expect(c.memberKeys('acquirer-b')).to.include({ commonPointAggregator: 'psp-c', formerAggregatorUntilMs: 5_000 });
      expect(c.memberKeys('issuer-a')?.formerAggregatorUntilMs).to.equal(undefined);
      const unknown = consortiumVariant((f) => {
        f.document.commonPoint = { aggregator: 'psp-c', formerAggregators: [{ member: 'nobody-x', untilMs: 1_000 }] };
      }, operatorSecret());
      expect(expectConfigError(() => Consortium.load(unknown, operatorKey.publicKey)).message).to.include('document.commonPoint.formerAggregators[0].member');
    });

    it('refuses a signature with one bit flipped', () => {
      const file = consortiumVariant((f) => {
        const sig = Buffer.from(f.signature as string, 'base64');
        sig[0] ^= 0x01;
        f.signature = sig.toString('base64');
      });
      expect(expectConfigError(() => Consortium.load(file, operatorKey.publicKey)).message).to.include('signature');
    });

    it('refuses the file when the node trusts another operator key', () => {
      const other = Buffer.from(generateSigningKeyPair().publicKey).toString('base64');
      const err = expectConfigError(() => Consortium.load(layout.consortiumFile, other));
      expect(err.file).to.equal(layout.consortiumFile);
      expect(err.message).to.include('operatorPublicKey');
    });

    it('refuses a document signed by someone else that claims the trusted operator key', () => {
      const mallory = generateSigningKeyPair();
      const file = consortiumVariant((f) => {
        f.document.members[1].endpoint = '203.0.113.9:7101';
      }, mallory.secretKey);
      expect(expectConfigError(() => Consortium.load(file, operatorKey.publicKey)).message).to.include('signature');
    });

    it('accepts a document changed and re-signed by the operator', () => {
      const file = consortiumVariant((f) => {
        f.document.version = 2;
        f.document.members[1].endpoint = '203.0.113.9:7101';
      }, operatorSecret());
      const c = Consortium.load(file, operatorKey.publicKey);
      expect(c.document.version).to.equal(2);
      expect(c.member('acquirer-b')!.endpoint).to.equal('203.0.113.9:7101');
    });

    it('refuses a duplicate member id even when signed', () => {
      const file = consortiumVariant((f) => {
        f.document.members.push({ ...f.document.members[0], endpoint: '127.0.0.1:47199' });
      }, operatorSecret());
      const err = expectConfigError(() => Consortium.load(file, operatorKey.publicKey));
      expect(err.message).to.include('appears twice');
    });

    it('refuses a schema violation, naming the field', () => {
      const file = consortiumVariant((f) => {
        f.document.members[0].roles = ['bank'];
      }, operatorSecret());
      const err = expectConfigError(() => Consortium.load(file, operatorKey.publicKey));
      expect(err.message).to.include('document.members.0.roles');
    });

    it('refuses a file that is not JSON', () => {
      const file = scratch('not json');
      expect(expectConfigError(() => Consortium.load(file, operatorKey.publicKey)).message).to.include('is not valid JSON');
    });
  });
});
