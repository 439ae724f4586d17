// The Mamori protocol shared by the node and the client SDK: wire types, loader options,
// normalization, selector hashing and the bytes that get signed.
export * from './loader';
export * from './normalize';
export * from './selectors';
export * from './signed-bytes';
export * from './sodium';
export * from './test-cards';
export * from './merchant';
