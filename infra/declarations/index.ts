export * from './functions.ts';
export * from './queues.ts';
export * from './routes.ts';
export * from './schedules.ts';
export * from './streams.ts';
export * from './tables.ts';
