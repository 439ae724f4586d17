export * from './card-testing';
export * from './card-listings';
