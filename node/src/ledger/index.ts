export * from './errors';
export * from './limits';
export * from './roles';
export * from './entry';
export * from './validate';
export * from './acceptance';
export * from './sightings';
export * from './issuer-notices';
