export * from './types';
export * from './ingest';
export * from './replicator';
export * from './backoff';
