/**
 * Request contracts of the read and segments API that are not events or definitions: query
 * parameters and the `check` body. Each is declared once as a JSON Schema; the handlers validate
 * with it and the API document (`openapi.ts`) publishes it.
 */
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { InvalidQueryParameterError, InvalidSegmentDefinitionError } from './errors.ts';

/** Tag history entries per page of `GET /v1/members/{id}/tags/history`. */
export const HISTORY_PAGE = { default: 50, max: 500 } as const;

/** Members per page of `GET /v1/segments/{id}/members`. */
export const MEMBERS_PAGE = { default: 100, max: 1_000 } as const;

/** Member ids one `check` may ask about. */
export const MAX_CHECK_IDS = 1_000;

/** Longest member id `check` accepts. */
export const MAX_MEMBER_ID_LENGTH = 512;

/** A query parameter, as the OpenAPI Parameter Object describes it. */
export interface QueryParameter {
  readonly name: string;
  readonly description: string;
  readonly schema:
    | {
        readonly type: 'integer';
        readonly minimum: number;
        readonly maximum?: number;
        readonly default?: number;
      }
    | { readonly type: 'string' };
}

const cursor = (of: string): QueryParameter => ({
  name: 'cursor',
  description: `Opaque cursor from the previous page's \`next\`; absent for the first page of ${of}.`,
  schema: { type: 'string' },
});

/** The query parameters of each route that takes some. */
export const queryParameters = {
  historyLimit: {
    name: 'limit',
    description: 'Tag changes per page, newest first.',
    schema: {
      type: 'integer',
      minimum: 1,
      maximum: HISTORY_PAGE.max,
      default: HISTORY_PAGE.default,
    },
  },
  historyCursor: cursor('the history'),
  membersLimit: {
    name: 'limit',
    description: 'Members per page, in member order.',
    schema: {
      type: 'integer',
      minimum: 1,
      maximum: MEMBERS_PAGE.max,
      default: MEMBERS_PAGE.default,
    },
  },
  membersCursor: cursor('the members'),
  membersAsOf: {
    name: 'asOf',
    description:
      'An earlier instant (ISO 8601 date-time, settled: at least 5 s ago): the members then. Cursors carry it.',
    schema: { type: 'string' },
  },
  changesLimit: {
    name: 'limit',
    description: 'Enters and exits per page, in ledger order.',
    schema: {
      type: 'integer',
      minimum: 1,
      maximum: MEMBERS_PAGE.max,
      default: MEMBERS_PAGE.default,
    },
  },
  changesSince: {
    name: 'since',
    description:
      "Opaque cursor from the previous page's `next` (always present; keep it); absent to read the ledger from the start.",
    schema: { type: 'string' },
  },
  analyticsRunId: {
    name: 'runId',
    description:
      'A nightly run id (`GET /v1/analytics/rfm` lists recent ones); absent for the latest succeeded run.',
    schema: { type: 'string' },
  },
  segmentVersion: {
    name: 'version',
    description: 'An older saved version of the definition; absent for the current one.',
    schema: { type: 'integer', minimum: 1 },
  },
} as const satisfies Record<string, QueryParameter>;

/**
 * An integer query parameter checked against its schema: its default when absent, a 400
 * `invalid_query_parameter` naming the parameter when not a whole number within the bounds.
 */
export function integerParameter(
  query: Readonly<Record<string, string | undefined>> | undefined,
  parameter: QueryParameter & { readonly schema: { readonly type: 'integer' } },
): number | undefined {
  const raw = query?.[parameter.name];
  const { minimum, maximum } = parameter.schema;
  if (raw === undefined) return parameter.schema.default;
  const value = Number(raw);
  if (
    raw.trim() === '' ||
    !Number.isSafeInteger(value) ||
    value < minimum ||
    (maximum !== undefined && value > maximum)
  ) {
    throw new InvalidQueryParameterError(
      parameter.name,
      maximum === undefined
        ? `${minimum === 1 ? 'a positive integer' : `an integer ≥ ${minimum}`}, got "${raw}"`
        : `an integer from ${minimum} to ${maximum}, got "${raw}"`,
    );
  }
  return value;
}

/** JSON Schema of the `POST /v1/segments/{id}/check` body. */
export const checkRequestSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Segment check',
  type: 'object',
  required: ['memberIds'],
  properties: {
    memberIds: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_CHECK_IDS,
      description: 'Member ids: a userId, or an anonymousId not linked to a user.',
      items: { type: 'string', minLength: 1, maxLength: MAX_MEMBER_ID_LENGTH },
    },
  },
} as const;

const ajv = new Ajv2020({ strict: true, allErrors: false });
const checkBodyValid = ajv.compile<{ memberIds: string[] }>(checkRequestSchema);

/** The `memberIds` of a check body, validated by {@link checkRequestSchema}; 400 with a pointer otherwise. */
export function readCheckRequest(body: unknown): string[] {
  if (checkBodyValid(body)) return body.memberIds;
  const [error] = checkBodyValid.errors ?? [];
  const { pointer, message } = describeCheckError(error, body);
  throw new InvalidSegmentDefinitionError('The check body is invalid; see issues.', [
    { pointer, code: 'invalid_value', message },
  ]);
}

function describeCheckError(
  error: ErrorObject | undefined,
  body: unknown,
): { pointer: string; message: string } {
  const path = error?.instancePath ?? '';
  if (path.startsWith('/memberIds/')) {
    return {
      pointer: path,
      message: `a member id is a non-empty string of at most ${MAX_MEMBER_ID_LENGTH} characters`,
    };
  }
  if (path === '/memberIds' && (error?.keyword === 'minItems' || error?.keyword === 'maxItems')) {
    const ids = (body as { memberIds: unknown[] }).memberIds;
    return { pointer: path, message: `from 1 to ${MAX_CHECK_IDS} ids, got ${ids.length}` };
  }
  return { pointer: '/memberIds', message: 'an array of member ids is required' };
}
