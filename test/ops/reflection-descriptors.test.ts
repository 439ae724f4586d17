// Server reflection against protoc: what a running node's reflection returns, on the member
// API server and on the peer server, is built into a strict descriptor pool and compared with
// the FileDescriptorSet `protoc --include_imports --descriptor_set_out` makes from proto/ —
// file names, packages, snake_case field names, json names, map entries, everything; any
// difference fails. protoc is Debian's protobuf-compiler (.ci/run installs it; README,
// prerequisites): without it this test fails, it does not skip.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';
import * as descriptor from 'protobufjs/ext/descriptor';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { describeProtoFiles, jsonNameOf, mapEntryNameOf } from '../../node/src/rpc/proto-descriptors';
import { PROTO_DIR } from '../../proto/ts/loader';
import { sodiumReady } from '../../proto/ts/sodium';
import type { DevConsortiumLayout } from '../../node/src/runtime/dev-consortium';
import { makeConsortium } from '../helpers/node-harness';
import { insecureTarget, memberTlsTarget, reflectionListServices, reflectionRequest, runMemberNode, type OpsTarget } from '../helpers/ops';

type FileObject = Record<string, unknown> & { name: string; dependency?: string[] };

const HEALTH_FILE = 'grpc/health/v1/health.proto';

/** protoc's FileDescriptorSet of the given files under includeDir, with their imports; fails clearly without protoc. */
function protocDescriptorSet(includeDir: string, files: readonly string[]): descriptor.IFileDescriptorProto[] {
  const version = spawnSync('protoc', ['--version'], { encoding: 'utf8' });
  if (version.error || version.status !== 0) {
    throw new Error(
      'protoc not found: this test compares server reflection with protoc\'s descriptors. Install Debian\'s protobuf-compiler ' +
        '(`sudo apt-get install -y protobuf-compiler`; .ci/run does it on CI).',
    );
  }
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-protoc-')), 'set.pb');
  const run = spawnSync('protoc', ['--include_imports', `--descriptor_set_out=${out}`, `-I${includeDir}`, ...files], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`protoc failed: ${run.stderr}`);
  const set = descriptor.FileDescriptorSet.decode(fs.readFileSync(out)) as unknown as descriptor.IFileDescriptorSet;
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  return set.file ?? [];
}

/** Every .proto file under dir, relative to it. */
function protoFilesUnder(dir: string, prefix = ''): string[] {
  return fs.readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return protoFilesUnder(dir, rel);
    return entry.name.endsWith('.proto') ? [rel] : [];
  });
}

/** A decoded FileDescriptorProto as a plain object: only fields present on the wire, so presence counts. */
function plain(bytes: Uint8Array): FileObject {
  return descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(bytes)) as FileObject;
}

function plainFromObject(file: descriptor.IFileDescriptorProto): FileObject {
  return plain(descriptor.FileDescriptorProto.encode(file).finish());
}

interface Fetched {
  files: Map<string, FileObject>;
}

/** Reflection results, failing on an error response. */
async function reflectFiles(at: OpsTarget, request: object): Promise<FileObject[]> {
  const response = await reflectionRequest(at, request);
  if (response.errorResponse) throw new Error(`reflection ${JSON.stringify(request)}: ${response.errorResponse.errorCode} ${response.errorResponse.errorMessage}`);
  return (response.fileDescriptorResponse?.fileDescriptorProto ?? []).map((b) => plain(b));
}

/**
 * What grpcurl does: list the services, ask for the file of each, then ask by file name for
 * every import not returned yet, until the set is closed.
 */
async function fetchEverything(at: OpsTarget): Promise<Fetched> {
  const files = new Map<string, FileObject>();
  const add = (list: FileObject[]) => {
    for (const f of list) {
      const seen = files.get(f.name);
      if (seen) expect(f, `${f.name} returned twice, differently`).to.deep.equal(seen);
      files.set(f.name, f);
    }
  };
  for (const service of await reflectionListServices(at)) add(await reflectFiles(at, { fileContainingSymbol: service }));
  for (;;) {
    const missing = [...files.values()].flatMap((f) => f.dependency ?? []).filter((d) => !files.has(d));
    if (missing.length === 0) break;
    for (const name of new Set(missing)) add(await reflectFiles(at, { fileByFilename: name }));
  }
  return { files };
}

interface FieldObject {
  name: string;
  number: number;
  label?: number;
  type?: number;
  typeName?: string;
  jsonName?: string;
}
interface MessageObject {
  name: string;
  field?: FieldObject[];
  nestedType?: MessageObject[];
  enumType?: { name: string }[];
  oneofDecl?: unknown[];
  options?: { mapEntry?: boolean };
}

/**
 * A strict descriptor pool: every import present, every type name resolving to a message or
 * enum of the file or of a file it imports, json names as protoc computes them, and map entries
 * as protobuf's own builder requires (named <Field>Entry, nested beside their repeated field,
 * key = 1 and value = 2, nothing else) — the rules grpcurl's descriptor builder enforces — then
 * protobufjs builds and resolves the whole set.
 */
function buildStrictPool(files: ReadonlyMap<string, FileObject>): protobuf.Root {
  const problems: string[] = [];
  const symbolsOf = new Map<string, Map<string, 'message' | 'enum'>>();
  for (const file of files.values()) {
    const symbols = new Map<string, 'message' | 'enum'>();
    const pkg = typeof file['package'] === 'string' ? `.${file['package']}` : '';
    const walk = (scope: string, messages: MessageObject[] = [], enums: { name: string }[] = []) => {
      for (const e of enums) symbols.set(`${scope}.${e.name}`, 'enum');
      for (const m of messages) {
        symbols.set(`${scope}.${m.name}`, 'message');
        walk(`${scope}.${m.name}`, m.nestedType, m.enumType);
      }
    };
    walk(pkg, file['messageType'] as MessageObject[] | undefined, file['enumType'] as { name: string }[] | undefined);
    symbolsOf.set(file.name, symbols);
  }
  for (const file of files.values()) {
    const visible = new Map(symbolsOf.get(file.name));
    for (const dependency of file.dependency ?? []) {
      const imported = symbolsOf.get(dependency);
      if (!imported) problems.push(`${file.name}: import ${dependency} not in the set`);
      for (const [k, v] of imported ?? []) visible.set(k, v);
    }
    const checkMessage = (scope: string, m: MessageObject) => {
      const full = `${scope}.${m.name}`;
      for (const f of m.field ?? []) {
        if (f.jsonName !== jsonNameOf(f.name)) problems.push(`${full}.${f.name}: json_name ${String(f.jsonName)}`);
        if (f.typeName !== undefined) {
          const kind = visible.get(f.typeName);
          if (!kind) problems.push(`${full}.${f.name}: type ${f.typeName} not found`);
          else if ((kind === 'message') !== (f.type === 11)) problems.push(`${full}.${f.name}: type ${f.typeName} is a ${kind}, field type ${String(f.type)}`);
        }
      }
      for (const nested of m.nestedType ?? []) {
        if (nested.options?.mapEntry) {
          const field = (m.field ?? []).find((f) => f.typeName === `${full}.${nested.name}`);
          if (!field || mapEntryNameOf(field.name) !== nested.name || field.label !== 3) {
            problems.push(`${full}.${nested.name}: map_entry should not be set explicitly (no repeated field it is the entry of)`);
          }
          const [key, value, ...rest] = nested.field ?? [];
          if (key?.name !== 'key' || key.number !== 1 || value?.name !== 'value' || value.number !== 2 || rest.length > 0 || nested.nestedType?.length || nested.enumType?.length || nested.oneofDecl?.length) {
            problems.push(`${full}.${nested.name}: not a map entry as protoc makes one`);
          }
        }
        checkMessage(full, nested);
      }
    };
    const pkg = typeof file['package'] === 'string' ? `.${file['package']}` : '';
    for (const m of (file['messageType'] as MessageObject[] | undefined) ?? []) checkMessage(pkg, m);
    for (const s of (file['service'] as { name: string; method?: { name: string; inputType: string; outputType: string }[] }[] | undefined) ?? []) {
      for (const method of s.method ?? []) {
        for (const t of [method.inputType, method.outputType]) {
          if (visible.get(t) !== 'message') problems.push(`${pkg}.${s.name}/${method.name}: ${t} is not a message of this file or its imports`);
        }
      }
    }
  }
  expect(problems, 'the reflected descriptors in a strict pool').to.deep.equal([]);
  const set = descriptor.FileDescriptorSet.fromObject({ file: [...files.values()] });
  const root = (protobuf.Root as unknown as { fromDescriptor(set: protobuf.Message): protobuf.Root }).fromDescriptor(set);
  root.resolveAll();
  return root;
}

/** Every difference between two descriptor sets, file by file ([] when they are the same). */
function differences(actual: ReadonlyMap<string, FileObject>, expected: ReadonlyMap<string, FileObject>): string[] {
  const out: string[] = [];
  for (const name of new Set([...actual.keys(), ...expected.keys()])) {
    const a = actual.get(name);
    const e = expected.get(name);
    if (!a) out.push(`${name}: not served`);
    else if (!e) out.push(`${name}: served, but protoc does not make it`);
    else {
      const ja = JSON.stringify(a, null, 1).split('\n');
      const je = JSON.stringify(e, null, 1).split('\n');
      const at = ja.findIndex((line, i) => line !== je[i]);
      if (at >= 0 || ja.length !== je.length) out.push(`${name} differs near: served ${JSON.stringify(ja.slice(Math.max(0, at - 3), at + 3))} vs protoc ${JSON.stringify(je.slice(Math.max(0, at - 3), at + 3))}`);
    }
  }
  return out;
}

describe('operations: reflection serves the .proto files exactly as protoc describes them', function () {
  let layout: DevConsortiumLayout;
  let running: Awaited<ReturnType<typeof runMemberNode>>;
  let api: OpsTarget;
  let peer: OpsTarget;
  /** protoc's description of every file under proto/ plus the health protocol, by file name. */
  const protoc = new Map<string, FileObject>();

  before(async () => {
    // protoc first: without it the test fails here, with how to install it.
    for (const file of protocDescriptorSet(PROTO_DIR, protoFilesUnder(PROTO_DIR))) protoc.set(file.name ?? '', plainFromObject(file));
    // The health protocol under its canonical name, as grpc-health-check ships it.
    const healthDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-health-'));
    fs.mkdirSync(path.join(healthDir, path.dirname(HEALTH_FILE)), { recursive: true });
    fs.copyFileSync(healthProtoPath, path.join(healthDir, HEALTH_FILE));
    for (const file of protocDescriptorSet(healthDir, [HEALTH_FILE])) protoc.set(file.name ?? '', plainFromObject(file));
    fs.rmSync(healthDir, { recursive: true, force: true });

    await sodiumReady();
    layout = await makeConsortium();
    running = await runMemberNode(layout, 'psp-c', { listen: '127.0.0.1:0', peerListen: '127.0.0.1:0' });
    api = insecureTarget(running.exchange.address);
    peer = memberTlsTarget(layout, 'acquirer-b', running.replication?.address ?? 'no peer server');
  });
  after(async () => {
    await running?.stop();
  });

  const subset = (names: readonly string[]) => new Map(names.map((n) => [n, protoc.get(n) as FileObject]));

  it('member API server: lists Exchange and health only, and serves exchange.proto, ledger.proto and health.proto identical to protoc', async () => {
    expect(await reflectionListServices(api)).to.deep.equal(['grpc.health.v1.Health', 'mamori.v1.Exchange']);
    const { files } = await fetchEverything(api);
    buildStrictPool(files);
    expect(differences(files, subset(['mamori/v1/ledger.proto', 'mamori/v1/exchange.proto', HEALTH_FILE]))).to.deep.equal([]);
  });

  it('peer server: lists Replication and health only, and serves replication.proto with its imports identical to protoc', async () => {
    expect(await reflectionListServices(peer)).to.deep.equal(['grpc.health.v1.Health', 'mamori.v1.Replication']);
    const { files } = await fetchEverything(peer);
    buildStrictPool(files);
    expect(differences(files, subset(['mamori/v1/ledger.proto', 'mamori/v1/exchange.proto', 'mamori/v1/replication.proto', HEALTH_FILE]))).to.deep.equal([]);
  });

  it('between them the two servers describe every .proto file under proto/', async () => {
    const served = new Set([...(await fetchEverything(api)).files.keys(), ...(await fetchEverything(peer)).files.keys()]);
    expect([...served].sort()).to.deep.equal([...protoc.keys()].sort());
  });

  it('answers file_by_filename with the file as named in proto/ (and its imports), and file_containing_symbol for messages, fields and methods', async () => {
    for (const [at, name] of [[api, 'mamori/v1/exchange.proto'], [api, 'mamori/v1/ledger.proto'], [peer, 'mamori/v1/replication.proto'], [api, HEALTH_FILE]] as const) {
      const files = await reflectFiles(at, { fileByFilename: name });
      expect(files[0]?.name).to.equal(name);
      expect(files[0]).to.deep.equal(protoc.get(name));
    }
    const peerStatus = await reflectFiles(api, { fileContainingSymbol: 'mamori.v1.PeerStatus' });
    expect(peerStatus[0]?.name).to.equal('mamori/v1/exchange.proto');
    expect((await reflectFiles(api, { fileContainingSymbol: 'mamori.v1.Exchange.Status' }))[0]?.name).to.equal('mamori/v1/exchange.proto');
    expect((await reflectFiles(api, { fileContainingSymbol: 'mamori.v1.Selector' }))[0]?.name).to.equal('mamori/v1/ledger.proto');
  });

  it('does not describe on one server the service the other one serves', async () => {
    for (const request of [{ fileByFilename: 'mamori/v1/replication.proto' }, { fileContainingSymbol: 'mamori.v1.Replication' }]) {
      const response = await reflectionRequest(api, request);
      expect(response.errorResponse?.errorCode, JSON.stringify(request)).to.equal(grpc.status.NOT_FOUND);
    }
    expect(await reflectionListServices(peer)).to.not.include('mamori.v1.Exchange');
  });

  it('describes maps, nested types, proto3 optional, reserved ranges, streams and file options as protoc does (a fixture)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mamori-fixture-'));
    try {
      fs.mkdirSync(path.join(dir, 'fx/v1'), { recursive: true });
      fs.writeFileSync(
        path.join(dir, 'fx/v1/base.proto'),
        'syntax = "proto3";\npackage fx.v1;\noption java_package = "fx.v1";\nenum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; reserved 5 to 7; reserved "KIND_OLD"; }\nmessage Base { string base_id = 1; }\n',
      );
      fs.writeFileSync(
        path.join(dir, 'fx/v1/svc.proto'),
        [
          'syntax = "proto3";',
          'package fx.v1;',
          'option go_package = "example.com/fx/v1;fxv1";',
          'option java_multiple_files = true;',
          'import "fx/v1/base.proto";',
          'service Things { rpc Get(Thing) returns (Thing); rpc Watch(stream Thing) returns (stream Base); }',
          'message Thing {',
          '  message Inner { enum Mode { MODE_UNSPECIFIED = 0; } Mode mode = 1; }',
          '  map<string, uint64> by_reason = 1;',
          '  map<int32, Inner> inner_by_id = 2;',
          '  map<string, Kind> kinds = 3;',
          '  optional string note = 4;',
          '  oneof pick { Base base = 5; string label_text = 6; }',
          '  repeated int64 values = 7 [packed = false];',
          '  int32 old_field = 8 [deprecated = true];',
          '  optional Kind kind_x = 9;',
          '  reserved 10, 12 to 14, 100 to max;',
          '  reserved "gone";',
          '}',
          '',
        ].join('\n'),
      );
      const expected = new Map(protocDescriptorSet(dir, ['fx/v1/svc.proto']).map((f) => [f.name ?? '', plainFromObject(f)]));
      const actual = new Map(describeProtoFiles({ includeDir: dir, files: ['fx/v1/svc.proto'] }).map((f) => [f.name ?? '', plainFromObject(f)]));
      expect([...actual.keys()]).to.deep.equal(['fx/v1/base.proto', 'fx/v1/svc.proto']);
      expect(differences(actual, expected)).to.deep.equal([]);
      buildStrictPool(actual);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
