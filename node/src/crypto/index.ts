export * from '../../../proto/ts/index';
export * from './signing';
export * from './epochs';
export * from './sealed-box';
