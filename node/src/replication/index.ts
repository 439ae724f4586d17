export * from './types';
export * from './ingest';
export * from './replicator';
export * from './backoff';
export * from './own-write-gate';
export * from './own-feed-recovery';
