export * from './database';
export * from './migrations';
export * from './ledger-store';
export * from './alert-store';
export * from './audit-store';
export * from './key-epoch-ack-store';
export * from './common-point-store';
export * from './watch-store';
