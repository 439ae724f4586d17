export * from './node';
export * from './membership';
export * from './filter-loader';
export * from './verify-ledger';
