/**
 * The tag engine's pure domain: rules as data, order-independent profile folding, evaluation at
 * an instant with reasons and the next change, and tag diffs. No AWS, no env, no logging.
 */
export * from './decimal.ts';
export * from './default-catalogue.ts';
export * from './evaluate.ts';
export * from './fold.ts';
export * from './profile.ts';
export * from './rule-catalogue.ts';
export * from './zone-calendar.ts';
