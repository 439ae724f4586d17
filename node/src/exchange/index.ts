export * from './node';
export * from './observer';
export * from './evidence';
export * from './membership';
export * from './filter-loader';
export * from './verify-ledger';
export * from './selector-index';
export * from './ledger-writer';
