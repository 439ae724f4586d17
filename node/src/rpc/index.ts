export * from './server';
export * from './status-mapping';
