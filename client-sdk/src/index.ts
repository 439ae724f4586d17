// mamori/client: what an authorization pipeline or a member's tooling imports.
export { MamoriClient, cardPublication, MAX_BATCH, type CardCheck, type ClientOptions, type HashingKey } from './client';
export { MamoriClientError, type ClientErrorCode } from './errors';
export { readClientConfig, clientConfigSchema, type ClientConfig } from './config';
export * from './details';
export { normalizePan, type PanResult } from '../../proto/ts/normalize';
export { isPublicTestPan } from '../../proto/ts/test-cards';
