// `mamori member init|join|replica|api-tls` (on each member's machine) and `mamori consortium
// init|add-member|renew-cert|remove-member|set-bins|show` (the operator): parsing and printing only; the
// work is in runtime/member-setup.ts and runtime/consortium-operator.ts.
// The step-by-step use: docs/runbook-consortium.md.
import type { Command } from 'commander';
import { addMember, daysUntil, DEFAULT_CERT_DAYS, initConsortium, pushConsortium, removeMember, renewCertificate, setBins, showConsortium, type ChangeResult } from '../runtime/consortium-operator';
import { DEFAULT_API, initMember, joinMember } from '../runtime/member-setup';
import { makeMemberReplica } from '../runtime/member-replica';
import { DEFAULT_API_CLIENT_NAME, makeApiTls } from '../runtime/member-api-tls';
import { isoDate, toJson } from './output';
import { wholeNumber } from './whole-number';

const list = (value: string): string[] =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

function printChange(r: ChangeResult, json: boolean | undefined): void {
  if (json) return console.log(toJson(r));
  console.log([`${r.consortiumFile}: version ${r.previousVersion} -> ${r.version}`, ...r.changes.map((c) => `  ${c}`), copyHint(r.consortiumFile)].join('\n'));
}

const copyHint = (file: string) =>
  `Hand it to any one member's node: mamori consortium push --dir ${file.replace(/\/consortium\.json$/, '')} --to <member id or HOST:PORT>; the nodes pass it on to each other.`;

export function addFormationCommands(program: Command): void {
  const member = program.command('member').description("a member's own keys and its joining of a consortium (run on the member's machine)");

  member
    .command('init')
    .description("make this member's keys (signing, box, TLS) and a certificate signing request in DIR; write node.json, client.json and DIR/join-request.json for the operator")
    .requiredOption('--dir <dir>', "the member's directory (created 0700; must be empty)")
    .requiredOption('--id <id>', 'member id: 3-32 characters of a-z, 0-9 and -')
    .requiredOption('--role <role>', 'issuer, acquirer or psp')
    .requiredOption('--endpoint <host:port>', "where the other members' nodes reach this node (replication, mutual TLS)")
    .option('--bin-ranges <bins>', 'BIN ranges this issuer owns, comma-separated (6-8 digits each)', list, [] as string[])
    .option('--api <host:port>', "the member API on loopback (this member's CLI and SDK; beyond loopback: mamori member api-tls)", DEFAULT_API)
    .option('--peer-listen <host:port>', 'where the node listens for peers (default: the endpoint)')
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; id: string; role: string; endpoint: string; binRanges: string[]; api: string; peerListen?: string; json?: boolean }) => {
      const r = await initMember({ dir: o.dir, id: o.id, role: o.role, endpoint: o.endpoint, binRanges: o.binRanges, api: o.api, peerListen: o.peerListen });
      if (o.json) return console.log(toJson({ member: r.member, dir: r.layout.dir, joinRequest: r.layout.joinRequest, signingPublicKey: r.signingKey }));
      console.log(
        [
          `Member ${r.member}: keys made in ${r.layout.dir} (private keys never leave it).`,
          `  node config: ${r.layout.nodeConfig}`,
          `  client config: ${r.layout.clientConfig}`,
          `  join request: ${r.layout.joinRequest}  <- send this file to the operator`,
          `  signing key: ${r.signingKey} (tell the operator out of band, to confirm the request is yours)`,
        ].join('\n'),
      );
    });

  member
    .command('join')
    .description("install the operator's join response in DIR (certificate, CA, consortium document); then run: mamori start --config DIR/node.json")
    .requiredOption('--dir <dir>', "the member's directory (made by mamori member init)")
    .requiredOption('--response <file>', 'join-response.json from the operator')
    .option('--operator-key <base64>', "the operator's public key, when the operator told it out of band: the response must be signed with it")
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; response: string; operatorKey?: string; json?: boolean }) => {
      const r = await joinMember({ dir: o.dir, responseFile: o.response, operatorKey: o.operatorKey });
      if (o.json) return console.log(toJson({ renewal: r.renewal, member: r.member, consortium: r.consortium, version: r.version, operatorPublicKey: r.operatorKey, certificateNotAfterMs: r.certificateNotAfterMs, peers: r.peers }));
      if (r.renewal) {
        return console.log(
          `Member ${r.member}: new certificate installed, valid until ${isoDate(r.certificateNotAfterMs)}. A running node presents it on new connections within one poll (no restart); mamori status shows it.`,
        );
      }
      console.log(
        [
          `Member ${r.member} joined consortium "${r.consortium}" (document version ${r.version}).`,
          `  operator key: ${r.operatorKey}`,
          `  certificate valid until ${isoDate(r.certificateNotAfterMs)}`,
          `  peers: ${r.peers.map((p) => `${p.member} ${p.endpoint}`).join(', ') || '(none yet)'}`,
          `Start the node: mamori start --config ${r.layout.nodeConfig}`,
        ].join('\n'),
      );
    });

  member
    .command('replica')
    .description("make the directory of a read replica of this member: node.json, client.json and a key file without the signing key; then run: mamori start --config OUT/node.json")
    .requiredOption('--dir <dir>', "the member's directory (its signer's node.json and keys; only read)")
    .requiredOption('--out <dir>', "the replica's directory (created 0700; must be empty)")
    .requiredOption('--api <host:port>', "the replica's member API on loopback")
    .option('--signer <text>', "how the replica names the signer when it refuses a write (default: the member's endpoint)")
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; out: string; api: string; signer?: string; json?: boolean }) => {
      const r = await makeMemberReplica({ dir: o.dir, out: o.out, api: o.api, signer: o.signer });
      if (o.json) return console.log(toJson(r));
      console.log(
        [
          `Read replica of ${r.member} made in ${r.dir} (no signing key; writes go to the signer: ${r.signer}).`,
          `  node config: ${r.nodeConfig}`,
          `  client config: ${r.clientConfig || "(none: the member's directory has no client.json)"}`,
          `  key file: ${r.keyFile}`,
          `Start it: mamori start --config ${r.nodeConfig}`,
        ].join('\n'),
      );
    });

  member
    .command('api-tls')
    .description(
      "serve the member API beyond loopback over mutual TLS: make a CA of this member's own, a server certificate for the node and a client certificate for its payment systems in DIR/api-tls; set apiTls and listen in node.json, tls and target in client.json",
    )
    .requiredOption('--dir <dir>', "the member's directory (node.json and client.json)")
    .requiredOption('--host <names>', "names or addresses the member's systems reach the node by, comma-separated (the first goes in client.json)", list)
    .requiredOption('--listen <host:port>', 'where the node serves the member API, for example 0.0.0.0:7101')
    .option('--client-name <name>', 'the name in the client certificate', DEFAULT_API_CLIENT_NAME)
    .option('--cert-days <days>', 'validity of the server and client certificates', wholeNumber('--cert-days', { min: 1, max: 3650 }), 825)
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; host: string[]; listen: string; clientName: string; certDays: number; json?: boolean }) => {
      const r = await makeApiTls({ dir: o.dir, hosts: o.host, listen: o.listen, clientName: o.clientName, certDays: o.certDays });
      if (o.json) return console.log(toJson(r));
      console.log(
        [
          `Member ${r.member}: the member API will be served on ${r.listen} over mutual TLS (restart the node).`,
          `  node.json: apiTls -> ${r.files.serverCert}, client certificates must chain to ${r.files.caCert}`,
          `  client.json: target ${r.target}, tls -> ${r.files.clientCert}`,
          `  for a payment system on another host, copy client.json with ${r.files.caCert}, ${r.files.clientCert} and ${r.files.clientKey} (same relative paths)`,
          `  ${r.files.caKey} signs client certificates: keep it off the node once they are made`,
        ].join('\n'),
      );
    });

  const consortium = program.command('consortium').description("the operator's consortium: CA, signed document, members (run in the operator's directory)");

  consortium
    .command('init')
    .description('make the operator key, the consortium CA, hashing-key epoch 1 and version 1 of the signed document (no members yet)')
    .requiredOption('--dir <dir>', "the operator's directory (created 0700; must be empty)")
    .requiredOption('--name <name>', 'the consortium name')
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; name: string; json?: boolean }) => {
      const r = await initConsortium({ dir: o.dir, name: o.name });
      if (o.json) return console.log(toJson({ dir: r.layout.dir, name: r.name, version: r.version, operatorPublicKey: r.operatorPublicKey }));
      console.log(
        [
          `Consortium "${r.name}" created in ${r.layout.dir}: document version ${r.version}, no members, hashing-key epoch 1.`,
          `  operator key: ${r.operatorPublicKey} (tell members out of band: mamori member join --operator-key)`,
          `  consortium file: ${r.layout.consortiumFile}`,
          `Next: mamori consortium add-member --dir ${o.dir} --request <a member's join-request.json>`,
        ].join('\n'),
      );
    });

  consortium
    .command('add-member')
    .description("check a member's join request and CSR, issue its certificate, seal the hashing keys to it, raise the version, sign; write its join response")
    .requiredOption('--dir <dir>', "the operator's directory")
    .requiredOption('--request <file>', "the member's join-request.json")
    .option('--out <file>', 'where to write the join response (default DIR/members/<id>/join-response.json)')
    .option('--cert-days <days>', 'validity of the member certificate', wholeNumber('--cert-days', { min: 1, max: 825, what: 'a number of days' }), DEFAULT_CERT_DAYS)
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; request: string; out?: string; certDays: number; json?: boolean }) => {
      const r = await addMember({ dir: o.dir, requestFile: o.request, outFile: o.out, certDays: o.certDays });
      if (o.json) return console.log(toJson(r));
      console.log(
        [
          `${r.consortiumFile}: version ${r.previousVersion} -> ${r.version}`,
          `  added ${r.member} (${r.roles.join(', ')}) at ${r.endpoint}${r.binRanges.length ? `, BIN ranges ${r.binRanges.join(', ')}` : ''}`,
          `  certificate valid until ${isoDate(r.certificateNotAfterMs)}; hashing keys sealed to ${r.member}`,
          `  join response: ${r.responseFile}  <- send this file to ${r.member}`,
          ...(r.existingMembers.length > 0
            ? [`${r.existingMembers.join(', ')} learn version ${r.version} from ${r.member}'s node when it starts (nothing to copy); to tell them now: ${copyHint(r.consortiumFile).replace(/^Hand it to any one member's node: /, '').replace(/; the nodes .*$/, '')}`]
            : []),
        ].join('\n'),
      );
    });

  consortium
    .command('renew-cert')
    .description("issue a current member a new certificate for the CSR of its request (its join-request.json); the document does not change")
    .requiredOption('--dir <dir>', "the operator's directory")
    .requiredOption('--request <file>', "the member's join-request.json (its keys must be the ones the consortium lists)")
    .option('--out <file>', 'where to write the response (default DIR/members/<id>/renewal-response.json)')
    .option('--cert-days <days>', 'validity of the new certificate', wholeNumber('--cert-days', { min: 1, max: 825, what: 'a number of days' }), DEFAULT_CERT_DAYS)
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; request: string; out?: string; certDays: number; json?: boolean }) => {
      const r = await renewCertificate({ dir: o.dir, requestFile: o.request, outFile: o.out, certDays: o.certDays });
      if (o.json) return console.log(toJson(r));
      console.log(
        [
          `${r.member}: certificate valid until ${r.previousNotAfterMs !== undefined ? `${isoDate(r.previousNotAfterMs)} -> ` : ''}${isoDate(r.certificateNotAfterMs)} (document stays at version ${r.version})`,
          `  response: ${r.responseFile}  <- send this file to ${r.member}: mamori member join --dir DIR --response FILE (its running node takes it without a restart)`,
        ].join('\n'),
      );
    });

  consortium
    .command('push')
    .description("hand the signed document to members' nodes over their peer endpoints (one is enough: the nodes pass it on to each other)")
    .requiredOption('--dir <dir>', "the operator's directory")
    .requiredOption('--to <targets>', "member nodes: member ids (their endpoints in the document) or HOST:PORT, comma-separated", list)
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; to: string[]; json?: boolean }) => {
      const r = await pushConsortium({ dir: o.dir, to: o.to });
      if (o.json) console.log(toJson(r));
      else {
        console.log(
          [
            `consortium document version ${r.version}:`,
            ...r.results.map((x) => {
              const who = `${x.member ?? x.to} at ${x.endpoint}`;
              if (x.outcome === 'taken') return `  ${who}: took it`;
              if (x.outcome === 'already-held') return `  ${who}: already held it`;
              return `  ${x.to} at ${x.endpoint}: ${x.outcome.toUpperCase()} (${x.reason ?? ''})`;
            }),
          ].join('\n'),
        );
      }
      if (!r.results.some((x) => x.outcome === 'taken' || x.outcome === 'already-held')) process.exitCode = 1;
    });

  consortium
    .command('remove-member')
    .description('remove a member: its earlier entries still verify; nodes refuse its connections and new entries')
    .requiredOption('--dir <dir>', "the operator's directory")
    .requiredOption('--id <id>', 'the member to remove')
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; id: string; json?: boolean }) => {
      const r = await removeMember({ dir: o.dir, id: o.id });
      printChange(r, o.json);
      if (!o.json) console.log(`After a compromise, rotate the hashing key too: mamori keys rotate --consortium ${r.consortiumFile} --operator-key ${o.dir}/operator/operator.key.json`);
    });

  consortium
    .command('set-bins')
    .description("set an issuer's BIN ranges (refused when a range overlaps another issuer's)")
    .requiredOption('--dir <dir>', "the operator's directory")
    .requiredOption('--id <id>', 'the issuer')
    .requiredOption('--bin-ranges <bins>', 'the BIN ranges, comma-separated (6-8 digits each); "" for none', list)
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; id: string; binRanges: string[]; json?: boolean }) => printChange(await setBins({ dir: o.dir, id: o.id, binRanges: o.binRanges }), o.json));

  consortium
    .command('show')
    .description('the signed document: version, members (roles, endpoint, BIN ranges, certificate expiry), hashing-key epochs')
    .requiredOption('--dir <dir>', "the operator's directory")
    .option('--json', 'print JSON')
    .action(async (o: { dir: string; json?: boolean }) => {
      const v = await showConsortium(o.dir);
      if (o.json) return console.log(toJson(v));
      console.log(
        [
          `Consortium "${v.name}", document version ${v.version} (signed ${isoDate(v.issuedAtMs)}), operator key ${v.operatorKey}…`,
          `Members (${v.members.filter((m) => m.removedAtMs === undefined).length} current):`,
          ...(v.members.length === 0 ? ['  (none)'] : []),
          ...v.members.map(
            (m) =>
              `  ${m.id.padEnd(16)} ${m.roles.join(',').padEnd(9)} ${m.endpoint.padEnd(22)} ${m.removedAtMs !== undefined ? `removed ${isoDate(m.removedAtMs)}` : m.certificateNotAfterMs !== undefined ? `certificate until ${isoDate(m.certificateNotAfterMs)} (${daysUntil(m.certificateNotAfterMs)} days)` : ''}${m.binRanges.length ? `  BINs ${m.binRanges.join(', ')}` : ''}`,
          ),
          'Hashing-key epochs:',
          ...v.epochs.map((e) => `  epoch ${e.epoch}: active from ${isoDate(e.activeFromMs)}${e.retiresAtMs !== undefined ? `, retires ${isoDate(e.retiresAtMs)}` : ''}; sealed to ${e.sealedTo.join(', ') || '(no member yet)'}`),
        ].join('\n'),
      );
    });
}
