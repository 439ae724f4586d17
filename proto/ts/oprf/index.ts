// Oblivious PRFs: RFC 9497 (ristretto255-SHA512) and Mamori's threshold PRF for PAN selectors.
// docs/oprf.md describes the construction.
export * from './group';
export * from './rfc9497';
export * from './threshold';
