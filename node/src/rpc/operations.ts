// The standard gRPC health service and server reflection on each of the node's gRPC
// servers, so generic tools (grpcurl, grpc-health-probe, load balancers) can probe, list and
// call the API. Neither needs the Exchange bearer token: health answers SERVING or
// NOT_SERVING, and reflection describes the published protocol (the .proto files) — nothing
// about the ledger, a member's data or a card. On the peer server both sit behind mutual TLS
// like everything else there.
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { IFileDescriptorProto } from 'protobufjs/ext/descriptor';
import { MAMORI_PROTO_FILES, PROTO_DIR } from '../../../proto/ts/loader';
import { describeProtoFiles, encodeFileDescriptor } from './proto-descriptors';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';

export interface ServingHealth {
  /** SERVING for '' (the whole server) and each Mamori service it hosts. */
  serving(): void;
  /** NOT_SERVING for the same names: load balancers drain before the server closes. */
  notServing(): void;
}

/** Every .proto file reflection may serve, as protoc describes it (proto-descriptors.ts). */
let catalog: IFileDescriptorProto[] | undefined;

function reflectionCatalog(): IFileDescriptorProto[] {
  catalog ??= [
    ...describeProtoFiles({ includeDir: PROTO_DIR, files: MAMORI_PROTO_FILES }),
    // grpc-health-check ships it as health/v1/health.proto; its canonical name is grpc/health/v1/health.proto.
    ...describeProtoFiles({
      includeDir: path.resolve(path.dirname(healthProtoPath), '../..'),
      files: ['health/v1/health.proto'],
      servedAs: { 'health/v1/health.proto': 'grpc/health/v1/health.proto' },
    }),
  ];
  return catalog;
}

/**
 * What reflection serves on a server hosting the given services: the files that define them
 * and the files those import, each under its own name, as `protoc` makes it — and nothing
 * else, so the API server does not describe Replication nor the peer server Exchange.
 */
export function reflectedFiles(services: readonly string[]): IFileDescriptorProto[] {
  const all = reflectionCatalog();
  const byName = new Map(all.map((f) => [f.name ?? '', f]));
  const wanted = new Set<string>();
  const add = (name: string) => {
    if (wanted.has(name)) return;
    const file = byName.get(name);
    if (!file) throw new Error(`reflection: ${name} is imported but not described`);
    wanted.add(name);
    for (const dependency of file.dependency ?? []) add(dependency);
  };
  for (const service of services) {
    const file = all.find((f) => (f.service ?? []).some((s) => `${f.package ? `${f.package}.` : ''}${s.name ?? ''}` === service));
    if (!file) throw new Error(`reflection: no .proto file defines ${service}`);
    add(file.name ?? '');
  }
  return all.filter((f) => wanted.has(f.name ?? ''));
}

/**
 * @grpc/reflection reads the `fileDescriptorProtos` of each package-definition entry (what
 * proto-loader puts there); given the files as protoc makes them, it serves them unchanged.
 */
function reflectionDefinition(files: readonly IFileDescriptorProto[]): protoLoader.PackageDefinition {
  const bytes = files.map((f) => Buffer.from(encodeFileDescriptor(f)));
  return Object.fromEntries(
    files.map((f, i) => [f.name ?? '', { format: 'Protocol Buffer 3 FileDescriptorProto', type: {}, fileDescriptorProtos: [bytes[i]] }]),
  ) as unknown as protoLoader.PackageDefinition;
}

/** The fully qualified name of a service definition, from its methods' paths ("/pkg.Service/Method"). */
function serviceNameOf(definition: grpc.ServiceDefinition): string {
  const first = Object.values(definition)[0];
  const name = first?.path.split('/')[1];
  if (!name) throw new Error('a gRPC service definition without methods');
  return name;
}

/**
 * Adds health and reflection to a server hosting the given services. Health starts
 * NOT_SERVING; the caller says `serving()` once the server is bound (the node is open by then).
 */
export function addOperationsServices(server: grpc.Server, hosted: readonly grpc.ServiceDefinition[]): ServingHealth {
  const names = ['', ...hosted.map(serviceNameOf)];
  const health = new HealthImplementation(Object.fromEntries(names.map((n) => [n, 'NOT_SERVING' as const])));
  health.addToServer(server);
  // Reflection lists only what this server hosts: the API server does not advertise
  // Replication, nor the peer server Exchange.
  const services = [...names.slice(1), HEALTH_SERVICE];
  new ReflectionService(reflectionDefinition(reflectedFiles(services)), { services }).addToServer(server);
  const set = (status: 'SERVING' | 'NOT_SERVING') => {
    for (const name of names) health.setStatus(name, status);
  };
  return { serving: () => set('SERVING'), notServing: () => set('NOT_SERVING') };
}
