export * from './errors';
export * from './files';
export * from './schemas';
export * from './node-config';
