export * from './card-testing';
