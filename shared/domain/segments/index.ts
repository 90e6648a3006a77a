/**
 * Segments' pure domain: definitions as data (checked against the rule catalogue, compiled),
 * evaluation over a member with the leaves that decided, the fields each segment reads and an
 * index from fields to segments, and the JSON Schema of the format. No AWS, no env, no I/O.
 */
export * from './evaluate-segment.ts';
export * from './exact-decimal.ts';
export * from './load-segment-definition.ts';
export * from './member-input.ts';
export * from './membership.ts';
export * from './segment-definition.ts';
export * from './segment-definition-schema.ts';
export * from './segment-dependencies.ts';
