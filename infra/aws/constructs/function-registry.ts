import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { FunctionId } from '../../declarations/index.ts';

/**
 * The deployed functions by declaration id. Constructs that wire declarations to functions
 * (routes, stream consumers, alarms) look functions up here instead of knowing who built them.
 */
export type FunctionRegistry = Readonly<Partial<Record<FunctionId, IFunction>>>;

/** A declaration names a function that no construct in the stack has built. */
export class MissingFunctionError extends Error {
  readonly code = 'missing_function';
  constructor(id: FunctionId, wantedBy: string) {
    super(
      `${wantedBy} needs function "${id}", but no construct built it. ` +
        'Build it from infra/declarations/functions.ts and add it to the function registry.',
    );
    this.name = 'MissingFunctionError';
  }
}

/** Returns the function declared as `id`, or throws when it was never built. */
export function requireFunction(
  registry: FunctionRegistry,
  id: FunctionId,
  wantedBy: string,
): IFunction {
  const fn = registry[id];
  if (!fn) throw new MissingFunctionError(id, wantedBy);
  return fn;
}
