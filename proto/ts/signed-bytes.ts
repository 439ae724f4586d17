// The bytes that get signed are defined in trust/domains.ts; kept so existing imports resolve.
export { canonicalJson, consortiumSigningBytes, entrySigningBytes } from './trust/domains';
