// The Mamori services as grpc-js objects (service definitions and client constructors), built
// once from the package definition proto/ts/loader.ts loads.
import * as grpc from '@grpc/grpc-js';
import { loadMamoriPackageDefinition, type MamoriGrpcTypes } from '../../../proto/ts/loader';

let grpcTypes: MamoriGrpcTypes | undefined;

export function loadGrpcTypes(): MamoriGrpcTypes {
  grpcTypes ??= grpc.loadPackageDefinition(loadMamoriPackageDefinition()) as unknown as MamoriGrpcTypes;
  return grpcTypes;
}
