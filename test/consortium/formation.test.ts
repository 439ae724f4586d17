// Forming a consortium of separate organizations with the commands of
// docs/runbook-consortium.md, step by step, as real processes: the operator's directory and
// each member's directory are separate and made only by their own `init`; three members on
// three loopback "hosts" (127.0.0.2, .3, .4); a fourth joins later and catches up every feed.
// Only join requests and join responses move between directories (through a "transfer" folder
// that stands for whatever carries files between organizations): newer consortium documents
// travel between the nodes themselves (Heads advertises the version, GetConsortium and
// OfferConsortium carry it), and the operator hands a change to one node with
// `mamori consortium push`. Bad documents handed to a node are refused, counted, and change
// nothing. Bad join requests and responses are refused, naming the field, writing nothing.
import { expect } from 'chai';
import * as fs from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as path from 'node:path';
import { MamoriClient } from '../../client-sdk/src/client';
import { sodiumReady } from '../../proto/ts/sodium';
import { signConsortiumDocument, signJoinRequest } from '../../proto/ts/trust/verify';
import { issueOperatorClientCertificate } from '../../node/src/crypto/certificates';
import { generateSigningKeyPair } from '../../node/src/crypto/signing';
import { offerConsortiumTo, PushRefused } from '../../node/src/rpc/consortium-push';
import { filesUnder, freePortBlock, runCli, spawnNode, tempDir, waitUntilServing, type NodeProcess } from '../helpers/node-harness';
import { waitForFeed, waitForOwnWrites } from '../helpers/consortium-harness';
import { panForms, randomPan } from '../helpers/cards';
import { waitFor } from '../helpers/wait';

interface MemberSpec {
  id: string;
  role: 'issuer' | 'acquirer' | 'psp';
  host: string;
  bins?: string;
}

const FIRST_THREE: MemberSpec[] = [
  { id: 'issuer-a', role: 'issuer', host: '127.0.0.2', bins: '454545,356900' },
  { id: 'acquirer-b', role: 'acquirer', host: '127.0.0.3' },
  { id: 'psp-c', role: 'psp', host: '127.0.0.4' },
];
const FOURTH: MemberSpec = { id: 'issuer-d', role: 'issuer', host: '127.0.0.5', bins: '520000' };

/** Runs `mamori …`; fails the test with its output when the exit code is not the expected one. */
async function mamori(args: string[], options: { input?: string; expectCode?: number } = {}): Promise<{ stdout: string; stderr: string }> {
  const r = await runCli(args, { input: options.input, timeoutMs: 60_000 });
  const expected = options.expectCode ?? 0;
  if ((expected === 0 && r.code !== 0) || (expected !== 0 && r.code === 0)) {
    throw new Error(`mamori ${args.join(' ')} exited ${r.code}, expected ${expected === 0 ? 0 : 'an error'}\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

/** Every file under a folder with its bytes and mode: compared before and after a refused command. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!fs.existsSync(dir)) return out;
  for (const file of filesUnder(dir)) out.set(path.relative(dir, file), `${(fs.statSync(file).mode & 0o777).toString(8)}:${fs.readFileSync(file).toString('base64')}`);
  return out;
}

/** The consortium document a member's node has in force, by its Status. */
async function versionAt(c: MamoriClient): Promise<number> {
  return Number((await c.status()).consortium?.version ?? 0);
}

describe('consortium formation: separate member and operator directories, the runbook as CLI processes', function () {
  this.timeout(300_000);
  const root = tempDir('mamori-formation-');
  const opDir = path.join(root, 'operator');
  const transfer = path.join(root, 'transfer');
  const dirOf = (id: string) => path.join(root, id);
  const ports = new Map<string, { api: string; endpoint: string }>();
  const nodes = new Map<string, NodeProcess>();
  const clients = new Map<string, MamoriClient>();
  const usedPans: string[] = [];
  let operatorKey = '';
  let formedMs = 0;

  const client = (id: string) => {
    let c = clients.get(id);
    if (!c) {
      c = MamoriClient.fromConfigFile(path.join(dirOf(id), 'client.json'), { mode: 'remote', deadlineMs: 30_000 });
      clients.set(id, c);
    }
    return c;
  };

  /** What `mamori consortium push` presents: a short-lived operator certificate from the consortium CA. */
  const operatorTls = async () => {
    const ca = { certPem: fs.readFileSync(path.join(opDir, 'ca', 'ca.cert.pem'), 'utf8'), keyPem: fs.readFileSync(path.join(opDir, 'ca', 'ca.key.pem'), 'utf8') };
    const cert = await issueOperatorClientCertificate(ca);
    return { ca: Buffer.from(ca.certPem), cert: Buffer.from(cert.certPem), key: Buffer.from(cert.keyPem) };
  };

  const initMember = async (m: MemberSpec) => {
    const p = ports.get(m.id) as { api: string; endpoint: string };
    await mamori(['member', 'init', '--dir', dirOf(m.id), '--id', m.id, '--role', m.role, '--endpoint', p.endpoint, '--api', p.api, ...(m.bins ? ['--bin-ranges', m.bins] : [])]);
    // The member sends its join request to the operator (e-mail, a portal…): the only file it sends.
    fs.copyFileSync(path.join(dirOf(m.id), 'join-request.json'), path.join(transfer, `${m.id}.join-request.json`));
  };
  const addMember = async (id: string) => {
    const r = await mamori(['consortium', 'add-member', '--dir', opDir, '--request', path.join(transfer, `${id}.join-request.json`), '--out', path.join(transfer, `${id}.join-response.json`)]);
    expect(r.stdout).to.include(`added ${id}`);
  };
  const joinMember = async (id: string) => {
    const r = await mamori(['member', 'join', '--dir', dirOf(id), '--response', path.join(transfer, `${id}.join-response.json`), '--operator-key', operatorKey]);
    expect(r.stdout).to.include(`Member ${id} joined`);
  };
  const startMember = async (id: string) => {
    nodes.set(id, spawnNode(path.join(dirOf(id), 'node.json'), path.join(dirOf(id), 'node.log')));
  };
  const ready = async (id: string) => {
    await waitUntilServing(path.join(dirOf(id), 'client.json'));
    await waitForOwnWrites(client(id));
  };

  before(async () => {
    await sodiumReady();
    fs.mkdirSync(transfer);
    const base = await freePortBlock(10);
    [...FIRST_THREE, FOURTH].forEach((m, i) => ports.set(m.id, { api: `127.0.0.1:${base + 2 * i}`, endpoint: `${m.host}:${base + 2 * i + 1}` }));
  });

  after(async () => {
    for (const c of clients.values()) c.close();
    await Promise.all(
      [...nodes.values()].map(async (n) => {
        if (n.child.exitCode === null && n.child.signalCode === null) {
          n.child.kill('SIGTERM');
          await n.exited;
        }
      }),
    );
  });

  it('forms a consortium of three members with the runbook commands; a card published at one is listed at the two others', async () => {
    const started = Date.now();
    // 1. The operator.
    const init = await mamori(['consortium', 'init', '--dir', opDir, '--name', 'Formation Test', '--json']);
    operatorKey = (JSON.parse(init.stdout) as { operatorPublicKey: string }).operatorPublicKey;
    // 2-3. Each member on its own machine, then its join request to the operator.
    for (const m of FIRST_THREE) await initMember(m);
    // 4. The operator adds each member and sends each its join response.
    for (const m of FIRST_THREE) await addMember(m.id);
    // 5. Each member installs its response.
    for (const m of FIRST_THREE) await joinMember(m.id);
    // 6. Nothing to copy: issuer-a's response holds version 2, acquirer-b's 3, psp-c's 4; the nodes bring each other up to date.
    const commandsMs = Date.now() - started;
    // 7. Each member starts its node.
    for (const m of FIRST_THREE) await startMember(m.id);
    await Promise.all(FIRST_THREE.map((m) => ready(m.id)));
    await Promise.all(FIRST_THREE.map((m) => waitFor(async () => (await client(m.id).status()).peers.every((p) => p.connected), `${m.id} connected to its peers`, 60_000, 50)));
    formedMs = Date.now() - started;
    console.log(`      formed a three-member consortium in ${formedMs} ms: ${commandsMs} ms of commands (steps 1-5, 10 CLI processes), then nodes started, exchanged documents and connected`);
    // issuer-a started with version 2 (itself only) and took version 4 from a peer it did not know yet.
    for (const m of FIRST_THREE) expect(await versionAt(client(m.id)), `${m.id}'s document version`).to.equal(4);
    const issuerA = (await client('issuer-a').status()).consortium;
    expect(issuerA?.lastChangeSource).to.match(/^peer (acquirer-b|psp-c)$/);
    expect(issuerA?.members).to.deep.equal(['acquirer-b', 'issuer-a', 'psp-c']);
    expect(JSON.parse(fs.readFileSync(path.join(dirOf('issuer-a'), 'consortium.json'), 'utf8')).document.version, "issuer-a's consortium.json, written by its node").to.equal(4);

    const shown = await mamori(['consortium', 'show', '--dir', opDir]);
    expect(shown.stdout).to.include('document version 4').and.include('3 current');

    // A card published at the PSP (read from standard input, never on argv) is listed at the two others.
    const pan = randomPan('454545');
    usedPans.push(pan);
    await mamori(['publish', 'card', '-', '--config', path.join(dirOf('psp-c'), 'client.json')], { input: `${pan}\n` });
    for (const id of ['issuer-a', 'acquirer-b']) {
      const verdict = await waitFor(async () => {
        const v = await client(id).checkCard(pan);
        return v.listed ? v : undefined;
      }, `${id} to list the card published at psp-c`);
      expect(verdict.evidence[0]?.origin).to.equal('psp-c');
    }

    // Each directory holds what its own init made plus what came in its join response; no private key crossed.
    const secretsOf = (id: string) => {
      const key = JSON.parse(fs.readFileSync(path.join(dirOf(id), 'member.key.json'), 'utf8')) as { signing: { secretKey: string }; box: { secretKey: string } };
      return [key.signing.secretKey, key.box.secretKey, fs.readFileSync(path.join(dirOf(id), 'tls', 'node.key.pem'), 'utf8').split('\n')[1] as string];
    };
    const opSecrets = [
      (JSON.parse(fs.readFileSync(path.join(opDir, 'operator', 'operator.key.json'), 'utf8')) as { secretKey: string }).secretKey,
      fs.readFileSync(path.join(opDir, 'ca', 'ca.key.pem'), 'utf8').split('\n')[1] as string,
      ...(JSON.parse(fs.readFileSync(path.join(opDir, 'operator', 'epoch-keys.json'), 'utf8')) as { epochs: { key: string }[] }).epochs.map((e) => e.key),
    ];
    const contents = (dir: string) => filesUnder(dir).map((f) => fs.readFileSync(f).toString('latin1')).join('\n');
    const everywhereBut = (dir: string) => [opDir, transfer, ...FIRST_THREE.map((m) => dirOf(m.id))].filter((d) => d !== dir).map(contents).join('\n');
    for (const m of FIRST_THREE) {
      for (const secret of secretsOf(m.id)) expect(everywhereBut(dirOf(m.id)).includes(secret), `a secret of ${m.id} outside its directory`).to.equal(false);
      expect(fs.statSync(dirOf(m.id)).mode & 0o777, `${m.id} directory`).to.equal(0o700);
      for (const f of ['member.key.json', 'node.json', 'client.json', 'join-request.json', 'consortium.json', 'tls/node.key.pem', 'tls/node.cert.pem', 'tls/ca.cert.pem']) {
        expect(fs.statSync(path.join(dirOf(m.id), f)).mode & 0o777, `${m.id}/${f}`).to.equal(0o600);
      }
    }
    for (const secret of opSecrets) expect(everywhereBut(opDir).includes(secret), 'an operator secret outside its directory').to.equal(false);
    expect(fs.readdirSync(transfer).sort()).to.deep.equal(FIRST_THREE.flatMap((m) => [`${m.id}.join-request.json`, `${m.id}.join-response.json`]).sort());
  });

  it('a fourth member added later bootstraps from its join response alone: the others learn of it from its node and it catches up every feed', async () => {
    expect(nodes.size, 'the consortium of the previous test').to.equal(3);
    // Each of the three publishes, so that there are three feeds to catch up.
    const heads = new Map<string, number>();
    for (const m of FIRST_THREE) {
      const pan = randomPan('356900');
      usedPans.push(pan);
      heads.set(m.id, (await client(m.id).publishCompromisedCards([pan], { reason: 'phishing' })).seq);
    }
    await initMember(FOURTH);
    await addMember(FOURTH.id);
    await joinMember(FOURTH.id);
    // Nothing is given to the three running nodes: they hold version 4, which does not list issuer-d.
    for (const m of FIRST_THREE) expect(await versionAt(client(m.id))).to.equal(4);
    const started = Date.now();
    await startMember(FOURTH.id);
    // issuer-d's node dials them; each refuses it as a non-member, and issuer-d offers its version 5.
    await Promise.all(FIRST_THREE.map((m) => waitFor(async () => (await versionAt(client(m.id))) === 5, `${m.id} to take version 5 from issuer-d`, 60_000, 50)));
    const learntMs = Date.now() - started;
    await Promise.all(FIRST_THREE.map((m) => waitFor(async () => (await client(m.id).status()).peers.some((p) => p.peer === FOURTH.id && p.connected), `${m.id} connected to issuer-d`, 60_000, 50)));
    console.log(`      version 5 reached all three running nodes ${learntMs} ms after issuer-d's node was started (no file copied)`);
    const shown = await mamori(['status', '--config', path.join(dirOf('issuer-a'), 'client.json')]);
    expect(shown.stdout).to.match(/consortium "Formation Test": document version 5, 4 members; version 5 taken from peer (issuer-d|acquirer-b|psp-c)/);
    expect(shown.stdout).to.match(/member certificate valid until \S+ \(36[45] days\)/);
    await ready(FOURTH.id);
    for (const [origin, seq] of heads) await waitForFeed(client(FOURTH.id), origin, seq);
    const first = usedPans[0] as string;
    expect((await client(FOURTH.id).checkCard(first)).listed, 'the card of the first test at issuer-d').to.equal(true);
    for (const m of FIRST_THREE) {
      const c = (await client(m.id).status()).consortium;
      expect(c?.members, `${m.id}'s members`).to.include(FOURTH.id);
      expect(Number(c?.documents?.taken), `${m.id}: documents taken since start`).to.be.greaterThan(0);
      const file = JSON.parse(fs.readFileSync(path.join(dirOf(m.id), 'consortium.json'), 'utf8')) as { document: { version: number } };
      expect(file.document.version, `${m.id}'s consortium.json, written by its node`).to.equal(5);
      expect(fs.statSync(path.join(dirOf(m.id), 'consortium.json')).mode & 0o777).to.equal(0o600);
    }

    // The newcomer's own publication reaches the others.
    const pan = randomPan('520000');
    usedPans.push(pan);
    await mamori(['publish', 'card', '-', '--config', path.join(dirOf(FOURTH.id), 'client.json')], { input: `${pan}\n` });
    await waitFor(async () => (await client('acquirer-b').checkCard(pan)).listed, 'acquirer-b to list the card published at issuer-d');
    expect(fs.readdirSync(transfer).sort()).to.deep.equal([...FIRST_THREE, FOURTH].flatMap((m) => [`${m.id}.join-request.json`, `${m.id}.join-response.json`]).sort());
  });

  it('remove-member, pushed to one node: every node takes it and refuses the removed member, and its earlier entries still verify', async () => {
    const earlier = randomPan('520000');
    usedPans.push(earlier);
    const seqBefore = (await client(FOURTH.id).publishCompromisedCards([earlier], { reason: 'skimming' })).seq;
    await waitForFeed(client('acquirer-b'), FOURTH.id, seqBefore);
    const r = await mamori(['consortium', 'remove-member', '--dir', opDir, '--id', FOURTH.id]);
    expect(r.stdout).to.match(/version 5 -> 6/).and.include(`${FOURTH.id}: removed at`);
    // The operator hands version 6 to one node; the others learn it from that node.
    const pushed = Date.now();
    const push = await mamori(['consortium', 'push', '--dir', opDir, '--to', 'acquirer-b']);
    expect(push.stdout).to.include('consortium document version 6').and.include('acquirer-b at').and.include('took it');
    await Promise.all(FIRST_THREE.map((m) => waitFor(async () => (await versionAt(client(m.id))) === 6, `${m.id} to take version 6`, 30_000, 50)));
    const reachedMs = Date.now() - pushed;
    await Promise.all(FIRST_THREE.map((m) => waitFor(async () => !(await client(m.id).status()).peers.some((p) => p.peer === FOURTH.id), `${m.id} to drop issuer-d`, 30_000, 50)));
    console.log(`      version 6 (issuer-d removed) reached all three nodes ${reachedMs} ms after the push to acquirer-b started (push CLI process included)`);
    expect((await client('acquirer-b').status()).consortium?.lastChangeSource).to.equal('operator');
    for (const id of ['issuer-a', 'psp-c']) expect((await client(id).status()).consortium?.lastChangeSource, id).to.match(/^peer /);
    expect(fs.readFileSync(path.join(opDir, 'pushes.jsonl'), 'utf8')).to.include('"outcome":"taken"');
    // The removed member's node (which still holds the old file) signs a new entry; every peer refuses it.
    const later = randomPan('520000');
    usedPans.push(later);
    const seqAfter = (await client(FOURTH.id).publishCompromisedCards([later], { reason: 'skimming' })).seq;
    await waitFor(
      async () => (await client(FOURTH.id).status()).peers.every((p) => !p.connected && p.lastError !== ''),
      'every peer to refuse issuer-d',
      30_000,
      50,
    );
    for (const m of FIRST_THREE) {
      const status = await client(m.id).status();
      expect(status.feeds.find((f) => f.origin === FOURTH.id)?.seq, `${m.id} holds issuer-d's feed up to its removal`).to.be.below(seqAfter);
      expect((await client(m.id).checkCard(later)).listed, `${m.id}: the removed member's new card`).to.equal(false);
      expect((await client(m.id).checkCard(earlier)).listed, `${m.id}: the removed member's earlier card`).to.equal(true);
    }
  });

  it('bad documents handed to a node are refused naming the field, counted, and change nothing; the node keeps serving', async () => {
    const target = ports.get('acquirer-b')?.endpoint as string;
    const file = path.join(dirOf('acquirer-b'), 'consortium.json');
    const before = fs.readFileSync(file);
    const signed = JSON.parse(before.toString('utf8')) as { document: Record<string, unknown> & { version: number; name: string; members: { id: string; removedAtMs?: number }[] }; signature: string };
    const operator = JSON.parse(fs.readFileSync(path.join(opDir, 'operator', 'operator.key.json'), 'utf8')) as { secretKey: string };
    const sign = (document: object, secretKey = Buffer.from(operator.secretKey, 'base64')) => Buffer.from(JSON.stringify({ document, signature: signConsortiumDocument(document, secretKey) }));
    const changed = (change: (d: typeof signed.document) => void) => {
      const d = JSON.parse(JSON.stringify(signed.document)) as typeof signed.document;
      change(d);
      return d;
    };
    const other = generateSigningKeyPair();
    const older = fs.readFileSync(path.join(transfer, `${FOURTH.id}.join-response.json`), 'utf8');
    const olderDocument = (JSON.parse(older) as { consortium: unknown }).consortium;
    const cases: { what: string; document: Buffer; code: string; text: RegExp }[] = [
      { what: 'empty', document: Buffer.alloc(0), code: 'INVALID_ARGUMENT', text: /signed_document: is empty/ },
      { what: 'not JSON', document: Buffer.from('{"document": '), code: 'INVALID_ARGUMENT', text: /signed_document: is not valid JSON/ },
      { what: 'no signature', document: Buffer.from(JSON.stringify({ document: signed.document })), code: 'INVALID_ARGUMENT', text: /signed_document\.signature: must be a base64 string/ },
      { what: 'altered after signing', document: Buffer.from(JSON.stringify({ document: changed((d) => (d.version += 1)), signature: signed.signature })), code: 'INVALID_ARGUMENT', text: /signed_document\.signature: does not verify/ },
      {
        what: 'another operator key',
        document: sign(changed((d) => ((d.version += 1), (d.operatorPublicKey = Buffer.from(other.publicKey).toString('base64')))), Buffer.from(other.secretKey)),
        code: 'INVALID_ARGUMENT',
        text: /signed_document\.document\.operatorPublicKey: is not the operator key this node trusts/,
      },
      { what: 'another consortium', document: sign(changed((d) => ((d.version += 1), (d.name = 'Another Exchange')))), code: 'INVALID_ARGUMENT', text: /signed_document\.document\.name: "Another Exchange" is not the consortium in force/ },
      { what: 'signed but malformed', document: sign(changed((d) => ((d.version += 1), (d.members = [{ id: 'BAD ID' }] as never)))), code: 'INVALID_ARGUMENT', text: /signed_document: .*members/ },
      { what: 'an older version', document: Buffer.from(JSON.stringify(olderDocument)), code: 'FAILED_PRECONDITION', text: /signed_document\.document\.version: 5 is older than version 6 in force/ },
      { what: 'the version in force, other content', document: sign(changed((d) => (d.issuedAtMs = Number(d.issuedAtMs) + 1))), code: 'FAILED_PRECONDITION', text: /version: 6 is the version in force, but the document differs/ },
      {
        what: 'a newer version removing this node',
        document: sign(changed((d) => ((d.version += 1), ((d.members.find((m) => m.id === 'acquirer-b') as { removedAtMs?: number }).removedAtMs = Date.now())))),
        code: 'FAILED_PRECONDITION',
        text: /no longer lists "acquirer-b"/,
      },
    ];
    const tls = await operatorTls();
    const countsBefore = (await client('acquirer-b').status()).consortium?.documents ?? {};
    for (const c of cases) {
      const error = await offerConsortiumTo(target, tls, c.document, 10_000).then(
        () => undefined,
        (e: unknown) => e as PushRefused,
      );
      expect(error, c.what).to.be.instanceOf(PushRefused);
      expect(error?.status, `${c.what}: ${error?.message}`).to.equal(c.code);
      expect(error?.details, c.what).to.match(c.text);
    }
    // The same document as in force is a duplicate, not a refusal.
    expect(await offerConsortiumTo(target, tls, before, 10_000)).to.deep.include({ member: 'acquirer-b', taken: false, versionInForce: 6 });
    const status = await client('acquirer-b').status();
    expect(status.consortium?.version).to.equal(6);
    const delta = (result: string) => Number(status.consortium?.documents?.[result] ?? 0) - Number(countsBefore[result] ?? 0);
    expect(delta('malformed'), 'malformed (not JSON, no signature, signed but malformed)').to.equal(3);
    expect(delta('bad_signature')).to.equal(1);
    expect(delta('other_operator')).to.equal(1);
    expect(delta('other_consortium')).to.equal(1);
    expect(delta('not_newer')).to.equal(1);
    expect(delta('conflicting_version')).to.equal(1);
    expect(delta('removes_this_member')).to.equal(1);
    // The duplicate above, and possibly the node's own file poll re-reading the document it just
    // wrote, or a peer's gossip: the document in force is counted, never refused.
    expect(delta('already_in_force')).to.be.at.least(1);
    expect(delta('taken')).to.equal(0);
    expect(fs.readFileSync(file).equals(before), "acquirer-b's consortium.json unchanged").to.equal(true);
    // Still serving, still replicating with the others.
    expect(status.peers.filter((p) => p.connected).map((p) => p.peer).sort()).to.deep.equal(['issuer-a', 'psp-c']);
    expect(nodes.get('acquirer-b')?.child.exitCode).to.equal(null);
  });

  it('no test card number is in clear in any member data directory, log or operator file', () => {
    expect(usedPans.length).to.be.greaterThan(0);
    const leaks: string[] = [];
    for (const dir of [opDir, transfer, ...[...FIRST_THREE, FOURTH].map((m) => dirOf(m.id))]) {
      for (const file of filesUnder(dir)) {
        const text = fs.readFileSync(file).toString('latin1');
        for (const pan of usedPans) for (const form of panForms(pan)) if (text.includes(form)) leaks.push(path.relative(root, file));
      }
    }
    expect(leaks).to.deep.equal([]);
  });
});

describe('consortium formation: bad join requests and responses are refused, naming the field, writing nothing', function () {
  this.timeout(180_000);
  const root = tempDir('mamori-formation-bad-');
  const opDir = path.join(root, 'operator');
  const dirOf = (id: string) => path.join(root, id);
  const requestOf = (id: string) => path.join(dirOf(id), 'join-request.json');

  before(async () => {
    await sodiumReady();
    await mamori(['consortium', 'init', '--dir', opDir, '--name', 'Bad Input']);
    await mamori(['member', 'init', '--dir', dirOf('issuer-a'), '--id', 'issuer-a', '--role', 'issuer', '--endpoint', '127.0.0.2:7401', '--bin-ranges', '454545,356900']);
    await mamori(['consortium', 'add-member', '--dir', opDir, '--request', requestOf('issuer-a'), '--out', path.join(root, 'issuer-a.join-response.json')]);
    await mamori(['member', 'init', '--dir', dirOf('acquirer-x'), '--id', 'acquirer-x', '--role', 'acquirer', '--endpoint', '127.0.0.3:7401']);
  });

  /** add-member refuses the request: the message names the field; the operator directory is unchanged. */
  async function refusedRequest(request: object | string, field: string, expected: RegExp): Promise<void> {
    const file = path.join(root, `request-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(file, typeof request === 'string' ? request : JSON.stringify(request, null, 2));
    const out = path.join(root, 'should-not-exist.json');
    const before = snapshot(opDir);
    const r = await mamori(['consortium', 'add-member', '--dir', opDir, '--request', file, '--out', out], { expectCode: 1 });
    expect(r.stderr).to.include(`${field}:`).and.match(expected);
    expect(snapshot(opDir)).to.deep.equal(before);
    expect(fs.existsSync(out)).to.equal(false);
  }

  const readRequest = (id: string) => JSON.parse(fs.readFileSync(requestOf(id), 'utf8')) as Record<string, unknown>;
  /** A request changed and signed again with the member's own key: what a faulty member tool could send. */
  const resigned = (id: string, change: (r: Record<string, unknown>) => void) => {
    const r = readRequest(id);
    change(r);
    const key = JSON.parse(fs.readFileSync(path.join(dirOf(id), 'member.key.json'), 'utf8')) as { signing: { secretKey: string } };
    return { ...r, signature: signJoinRequest(r, Buffer.from(key.signing.secretKey, 'base64')) };
  };

  it('a bad CSR: garbage, altered, or naming another member', async () => {
    await refusedRequest(resigned('acquirer-x', (r) => (r.csr = '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')), 'csr', /not a PEM PKCS#10/);
    await refusedRequest(resigned('acquirer-x', (r) => (r.csr = readRequest('issuer-a').csr)), 'csr', /subject is "CN=issuer-a", expected exactly "CN=acquirer-x"/);
    const csr = readRequest('acquirer-x').csr as string;
    const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 40] = (der[der.length - 40] as number) ^ 1; // inside the signature
    await refusedRequest(resigned('acquirer-x', (r) => (r.csr = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`)), 'csr', /signature does not verify/);
  });

  it('a request altered after the member signed it', async () => {
    await refusedRequest({ ...readRequest('acquirer-x'), endpoint: '127.0.0.9:7401' }, 'signature', /does not verify with signingPublicKey/);
  });

  it('a duplicate id', async () => {
    await mamori(['member', 'init', '--dir', dirOf('issuer-a-again'), '--id', 'issuer-a', '--role', 'issuer', '--endpoint', '127.0.0.4:7401']);
    await refusedRequest(readRequest('issuer-a-again'), 'member', /"issuer-a" is already a member/);
  });

  it('an id with odd characters: refused by member init (nothing written) and by add-member', async () => {
    const dir = dirOf('odd');
    const r = await mamori(['member', 'init', '--dir', dir, '--id', 'Issuer_A!', '--role', 'issuer', '--endpoint', '127.0.0.4:7401'], { expectCode: 1 });
    expect(r.stderr).to.include('--id:').and.include('a-z, 0-9 and -');
    expect(fs.existsSync(dir)).to.equal(false);
    await refusedRequest(resigned('acquirer-x', (q) => (q.member = 'Acquirer_X!')), 'member', /expected a member id/);
  });

  it('a BIN range another issuer owns', async () => {
    await mamori(['member', 'init', '--dir', dirOf('issuer-e'), '--id', 'issuer-e', '--role', 'issuer', '--endpoint', '127.0.0.5:7401', '--bin-ranges', '45454512']);
    await refusedRequest(readRequest('issuer-e'), 'binRanges', /45454512 overlaps 454545, a BIN range issuer "issuer-a" owns/);
  });

  it('a wrong role: refused by member init, and by add-member (an unknown role, or BIN ranges for a non-issuer)', async () => {
    const r = await mamori(['member', 'init', '--dir', dirOf('merchant-m'), '--id', 'merchant-m', '--role', 'merchant', '--endpoint', '127.0.0.6:7401'], { expectCode: 1 });
    expect(r.stderr).to.include('--role:');
    expect(fs.existsSync(dirOf('merchant-m'))).to.equal(false);
    await refusedRequest(resigned('acquirer-x', (q) => (q.roles = ['merchant'])), 'roles.0', /expected one of issuer, acquirer, psp/);
    await refusedRequest(resigned('acquirer-x', (q) => (q.binRanges = ['600000'])), 'binRanges', /only an issuer owns BIN ranges/);
  });

  it('a response for another member: refused by member join, nothing written', async () => {
    const response = path.join(root, 'issuer-a.join-response.json');
    const before = snapshot(dirOf('acquirer-x'));
    const r = await mamori(['member', 'join', '--dir', dirOf('acquirer-x'), '--response', response], { expectCode: 1 });
    expect(r.stderr).to.include('member:').and.include('the response is for "issuer-a"');
    // The same response with the id changed: the keys are still issuer-a's.
    const forged = path.join(root, 'forged.join-response.json');
    fs.writeFileSync(forged, JSON.stringify({ ...(JSON.parse(fs.readFileSync(response, 'utf8')) as object), member: 'acquirer-x' }));
    const f = await mamori(['member', 'join', '--dir', dirOf('acquirer-x'), '--response', forged], { expectCode: 1 });
    expect(f.stderr).to.include('signingPublicKey:').and.include("is not this member's signing key");
    expect(f.stderr).to.include('certificate:');
    expect(snapshot(dirOf('acquirer-x'))).to.deep.equal(before);
  });

  it('the operator directory still holds version 2 with the one member added', async () => {
    const shown = await mamori(['consortium', 'show', '--dir', opDir, '--json']);
    const view = JSON.parse(shown.stdout) as { version: number; members: { id: string }[] };
    expect(view.version).to.equal(2);
    expect(view.members.map((m) => m.id)).to.deep.equal(['issuer-a']);
  });

  it('keys rotate keeps the new epoch in the operator directory: a member added afterwards is sealed both epochs and joins', async () => {
    await mamori(['keys', 'rotate', '--consortium', path.join(opDir, 'consortium.json'), '--operator-key', path.join(opDir, 'operator', 'operator.key.json')]);
    const kept = JSON.parse(fs.readFileSync(path.join(opDir, 'operator', 'epoch-keys.json'), 'utf8')) as { epochs: { epoch: number }[] };
    expect(kept.epochs.map((e) => e.epoch)).to.deep.equal([1, 2]);
    const response = path.join(root, 'acquirer-x.join-response.json');
    await mamori(['consortium', 'add-member', '--dir', opDir, '--request', requestOf('acquirer-x'), '--out', response]);
    const joined = await mamori(['member', 'join', '--dir', dirOf('acquirer-x'), '--response', response]);
    expect(joined.stdout).to.include('Member acquirer-x joined').and.include('document version 4');
    const view = JSON.parse((await mamori(['consortium', 'show', '--dir', opDir, '--json'])).stdout) as { epochs: { epoch: number; sealedTo: string[] }[] };
    expect(view.epochs.map((e) => [e.epoch, e.sealedTo])).to.deep.equal([
      [1, ['acquirer-x', 'issuer-a']],
      [2, ['acquirer-x', 'issuer-a']],
    ]);
  });

  it('renew-cert issues a current member a new certificate that member join installs; a request with other keys or from a non-member is refused', async () => {
    const before = snapshot(opDir);
    const out = path.join(root, 'acquirer-x.renewal-response.json');
    const otherKeys = await mamori(['consortium', 'renew-cert', '--dir', opDir, '--request', requestOf('issuer-a-again'), '--out', out], { expectCode: 1 });
    expect(otherKeys.stderr).to.include('signingPublicKey: is not the key the consortium lists for "issuer-a"');
    const nonMember = await mamori(['consortium', 'renew-cert', '--dir', opDir, '--request', requestOf('issuer-e'), '--out', out], { expectCode: 1 });
    expect(nonMember.stderr).to.include('member: "issuer-e" is not a current member');
    expect(snapshot(opDir)).to.deep.equal(before);
    expect(fs.existsSync(out)).to.equal(false);

    const consortiumBefore = fs.readFileSync(path.join(dirOf('acquirer-x'), 'consortium.json'));
    const r = await mamori(['consortium', 'renew-cert', '--dir', opDir, '--request', requestOf('acquirer-x'), '--out', out, '--cert-days', '30']);
    expect(r.stdout).to.match(/acquirer-x: certificate valid until \S+ -> \S+ \(document stays at version 4\)/);
    const installed = await mamori(['member', 'join', '--dir', dirOf('acquirer-x'), '--response', out]);
    expect(installed.stdout).to.include('new certificate installed');
    const cert = new X509Certificate(fs.readFileSync(path.join(dirOf('acquirer-x'), 'tls', 'node.cert.pem')));
    expect(Math.round((Date.parse(cert.validTo) - Date.now()) / 86_400_000)).to.equal(30);
    expect(cert.checkPrivateKey(createPrivateKey(fs.readFileSync(path.join(dirOf('acquirer-x'), 'tls', 'node.key.pem'))))).to.equal(true);
    expect(fs.readFileSync(path.join(dirOf('acquirer-x'), 'consortium.json')).equals(consortiumBefore), 'the same document version is not rewritten').to.equal(true);
  });

  it('set-bins prints what changed, and refuses a non-issuer or a range another issuer owns', async () => {
    const before = snapshot(opDir);
    const acquirer = await mamori(['consortium', 'set-bins', '--dir', opDir, '--id', 'acquirer-x', '--bin-ranges', '600000'], { expectCode: 1 });
    expect(acquirer.stderr).to.include('--bin-ranges: only an issuer owns BIN ranges');
    const unknown = await mamori(['consortium', 'set-bins', '--dir', opDir, '--id', 'issuer-zz', '--bin-ranges', '600000'], { expectCode: 1 });
    expect(unknown.stderr).to.include('--id: "issuer-zz" is not a member');
    expect(snapshot(opDir)).to.deep.equal(before);
    const r = await mamori(['consortium', 'set-bins', '--dir', opDir, '--id', 'issuer-a', '--bin-ranges', '454545,356900,520000']);
    expect(r.stdout).to.include('version 4 -> 5').and.include('BIN ranges 454545, 356900 -> 454545, 356900, 520000; added 520000');
  });

  it('remove-member prints what changed; a removed id is never reused', async () => {
    const r = await mamori(['consortium', 'remove-member', '--dir', opDir, '--id', 'acquirer-x']);
    expect(r.stdout).to.include('version 5 -> 6').and.include('acquirer-x: removed at');
    await refusedRequest(readRequest('acquirer-x'), 'member', /"acquirer-x" was a member \(removed .*\); a member id is never reused/);
  });
});
