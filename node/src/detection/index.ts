export * from './card-testing';
export * from './corroboration';
export * from './common-point';
export * from './merchant-watch';
export * from './poisson';
export * from './card-listings';
