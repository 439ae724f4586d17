// The backoff is shared with the client SDK, so it lives beside the protocol; kept so existing imports resolve.
export { backoffDelay, sleep } from '../../../proto/ts/backoff';
