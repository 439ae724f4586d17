export * from './database';
export * from './migrations';
export * from './ledger-store';
export * from './alert-store';
export * from './audit-store';
