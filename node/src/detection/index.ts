export * from './card-testing';
export * from './common-point';
export * from './merchant-watch';
export * from './poisson';
