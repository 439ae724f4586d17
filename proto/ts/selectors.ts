// Selector hashing is defined with every other hashed byte in trust/domains.ts; kept so existing imports resolve.
export { DIGEST_BYTES, HASHING_KEY_BYTES, SELECTOR_DOMAINS, hashSelector, panSelector, type SelectorTypeName } from './trust/domains';
