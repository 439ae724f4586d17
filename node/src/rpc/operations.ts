// The standard gRPC health service and server reflection on each of the node's gRPC
// servers, so generic tools (grpcurl, grpc-health-probe, load balancers) can probe, list and
// call the API. Neither needs the Exchange bearer token: health answers SERVING or
// NOT_SERVING, and reflection describes the published protocol (the .proto files) — nothing
// about the ledger, a member's data or a card. On the peer server both sit behind mutual TLS
// like everything else there.
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import { loadMamoriPackageDefinition } from '../../../proto/ts/loader';

export const HEALTH_SERVICE = 'grpc.health.v1.Health';

export interface ServingHealth {
  /** SERVING for '' (the whole server) and each Mamori service it hosts. */
  serving(): void;
  /** NOT_SERVING for the same names: load balancers drain before the server closes. */
  notServing(): void;
}

let reflected: protoLoader.PackageDefinition | undefined;

/** The Mamori protocol plus the health protocol, so a reflection client can call both. */
function reflectedDefinition(): protoLoader.PackageDefinition {
  reflected ??= { ...loadMamoriPackageDefinition(), ...protoLoader.loadSync(healthProtoPath) };
  return reflected;
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
  new ReflectionService(reflectedDefinition(), { services: [...names.slice(1), HEALTH_SERVICE] }).addToServer(server);
  const set = (status: 'SERVING' | 'NOT_SERVING') => {
    for (const name of names) health.setStatus(name, status);
  };
  return { serving: () => set('SERVING'), notServing: () => set('NOT_SERVING') };
}
