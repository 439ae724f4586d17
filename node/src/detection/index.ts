export * from './card-testing';
export * from './corroboration';
