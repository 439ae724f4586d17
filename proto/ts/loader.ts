// Loads the Mamori protocol for gRPC (proto-loader; grpc-js turns it into service objects in
// node/src/rpc/grpc-types.ts and the SDK's transport) and for the signed ledger bytes
// (protobufjs), both with the options in proto/loader-options.json — the same options
// scripts/gen-proto.js passes to proto-loader-gen-types, so generated types match runtime values.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import type { ProtoGrpcType as ExchangeGrpcType } from '../gen/exchange';
import type { ProtoGrpcType as ReplicationGrpcType } from '../gen/replication';

function findProtoDir(): string {
  // Source layout: proto/ts/loader.ts; compiled layout: dist/proto/ts/loader.js.
  for (const candidate of [path.resolve(__dirname, '..'), path.resolve(__dirname, '../../../proto')]) {
    if (fs.existsSync(path.join(candidate, 'mamori/v1/ledger.proto'))) return candidate;
  }
  throw new Error(`Mamori proto files not found near ${__dirname}`);
}

export const PROTO_DIR = findProtoDir();

export const LOADER_OPTIONS: Readonly<protoLoader.Options> = Object.freeze({
  ...(JSON.parse(fs.readFileSync(path.join(PROTO_DIR, 'loader-options.json'), 'utf8')) as Record<string, unknown>),
  longs: Number,
  enums: String,
  includeDirs: [PROTO_DIR],
});

/** The protocol's .proto files, as imported (relative to PROTO_DIR). */
export const MAMORI_PROTO_FILES: readonly string[] = Object.freeze(['mamori/v1/ledger.proto', 'mamori/v1/exchange.proto', 'mamori/v1/replication.proto']);

export type MamoriGrpcTypes = ExchangeGrpcType & ReplicationGrpcType;
let packageDefinition: protoLoader.PackageDefinition | undefined;

/** The proto-loader package definition of every Mamori service. */
export function loadMamoriPackageDefinition(): protoLoader.PackageDefinition {
  packageDefinition ??= protoLoader.loadSync([...MAMORI_PROTO_FILES], LOADER_OPTIONS);
  return packageDefinition;
}

let ledgerRoot: protobuf.Root | undefined;

/** The protobufjs root for ledger messages, for encoding and decoding entry bodies. */
export function ledgerProtoRoot(): protobuf.Root {
  if (!ledgerRoot) {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(PROTO_DIR, target));
    root.loadSync('mamori/v1/ledger.proto', { keepCase: false });
    root.resolveAll();
    ledgerRoot = root;
  }
  return ledgerRoot;
}

/** toObject options equal to the loader options, so decoded values have the generated __Output types. */
export const TO_OBJECT_OPTIONS: protobuf.IConversionOptions = Object.freeze({
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
