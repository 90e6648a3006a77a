/**
 * The API document: every declared route with its scope, valid OpenAPI 3.1, and built from the
 * schema objects the request validators use, so that a body the document's schema accepts the
 * real validator accepts too, and the reverse, on samples.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsPlugin from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { catalogueFormats, routeEnvelopeSchema } from '../../events/catalogue.ts';
import { canonicalIngestPath, routes } from '../../infra/declarations/routes.ts';
import { parseIngestBody } from '../../shared/domain/ingest/parse-request.ts';
import {
  loadSegmentDefinition,
  SegmentDefinitionError,
  segmentDefinitionSchema,
} from '../../shared/domain/segments/index.ts';
import { defaultRuleCatalogue } from '../../shared/domain/tags/default-catalogue.ts';
import { checkRequestSchema, readCheckRequest } from '../../shared/http/api-requests.ts';
import { InvalidSegmentDefinitionError } from '../../shared/http/errors.ts';
import { openApiDocument, routesWithoutDetails } from '../../shared/http/openapi.ts';

interface Operation {
  operationId: string;
  security: Record<string, string[]>[];
  'x-portrait-scope'?: string;
  parameters?: { name: string; in: string; required?: boolean; schema: Record<string, unknown> }[];
  requestBody?: { content: { 'application/json': { schema: { $ref: string } } } };
  responses: Record<
    string,
    {
      headers?: Record<string, unknown>;
      content?: { 'application/json': { schema: { properties?: { code?: { enum: string[] } } } } };
    }
  >;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Record<string, unknown>> };
}

const live = openApiDocument();
/** The document as a client receives it: serialised JSON. */
const served = JSON.parse(JSON.stringify(live)) as Document;
const operationOf = (method: string, path: string): Operation | undefined =>
  served.paths[path]?.[method.toLowerCase()];
const bodySchemaOf = (method: string, path: string): Record<string, unknown> => {
  const ref = operationOf(method, path)?.requestBody?.content['application/json'].schema.$ref;
  const name = ref?.split('/').at(-1) ?? '';
  const schema = served.components.schemas[name];
  if (!schema) throw new Error(`${method} ${path} has no request body schema`);
  return schema;
};

describe('the API document', () => {
  it('is valid OpenAPI 3.1', async () => {
    const validator = new Validator();
    const result = await validator.validate(served as unknown as Record<string, unknown>);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it.each(routes.map((route) => [`${route.method} ${route.path}`, route] as const))(
    'documents %s with its scope and path parameters',
    (_, route) => {
      const operation = operationOf(route.method, route.path);
      expect(operation).toBeDefined();
      if (route.scope === null) {
        expect(operation?.security).toEqual([]);
      } else {
        expect(operation?.['x-portrait-scope']).toBe(route.scope);
        expect(operation?.security).toEqual([
          { basicAuth: [route.scope] },
          { bearerAuth: [route.scope] },
        ]);
        expect(
          operation?.responses['401']?.content?.['application/json'].schema.properties?.code?.enum,
        ).toEqual(['invalid_write_key', 'missing_write_key']);
        expect(
          operation?.responses['403']?.content?.['application/json'].schema.properties?.code?.enum,
        ).toContain('insufficient_scope');
        expect(operation?.responses['429']?.headers).toHaveProperty('Retry-After');
      }
      const placeholders = [...route.path.matchAll(/\{([^}+]+)\+?\}/g)].map(([, name]) => name);
      const pathParameters = (operation?.parameters ?? []).filter((p) => p.in === 'path');
      expect(pathParameters.map((p) => p.name)).toEqual(placeholders);
      expect(pathParameters.every((p) => p.required)).toBe(true);
    },
  );

  it('is what docs/openapi.json holds (regenerate it with `npm run openapi`)', () => {
    const file = resolve(import.meta.dirname, '..', '..', 'docs', 'openapi.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(served);
  });

  it('has hand-written details for every declared route', () => {
    expect(routesWithoutDetails()).toEqual([]);
  });

  it('gives every operation a unique operationId', () => {
    const ids = Object.values(served.paths).flatMap((item) =>
      Object.values(item).map((operation) => operation.operationId),
    );
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(routes.length);
  });

  it('embeds the validating schema objects themselves, not copies', () => {
    const schemas = (live as { components: { schemas: Record<string, unknown> } }).components
      .schemas;
    expect(schemas.SegmentDefinition).toBe(segmentDefinitionSchema);
    expect(schemas.SegmentCheck).toBe(checkRequestSchema);
    expect(schemas.SegmentTrack).toEqual(routeEnvelopeSchema('track'));
  });

  it('documents the query parameters the handlers check, with their bounds', () => {
    const limit = operationOf('GET', '/v1/segments/{id}/members')?.parameters?.find(
      (p) => p.name === 'limit',
    );
    expect(limit).toMatchObject({
      in: 'query',
      schema: { type: 'integer', minimum: 1, maximum: 1000 },
    });
  });
});

describe('document schemas and request validators agree', () => {
  const draft7 = new Ajv({ strict: false, allowUnionTypes: true, logger: false });
  (addFormatsPlugin as unknown as typeof addFormatsPlugin.default)(draft7);
  for (const [name, format] of Object.entries(catalogueFormats))
    draft7.addFormat(name, format.pattern);
  const draft2020 = new Ajv2020({ strict: false });

  const context = {
    catalogue: defaultRuleCatalogue(),
    segments: new Map<string, ReadonlySet<string>>(),
  };
  const definitionSchema = draft2020.compile(bodySchemaOf('POST', '/v1/segments'));
  const definitionValidatorAccepts = (json: unknown) => {
    try {
      loadSegmentDefinition(json, context);
      return true;
    } catch (error) {
      if (error instanceof SegmentDefinitionError) return false;
      throw error;
    }
  };
  const labels = { 'zh-CN': '北京烧烤常客', en: 'Beijing barbecue regulars' };
  const definitions: [string, unknown, boolean][] = [
    [
      'a valid definition',
      {
        id: 'bbq_fans',
        labels,
        purpose: 'marketing',
        expression: {
          all: [
            { aggregate: 'orders_365d', op: '>', value: 20 },
            { trait: 'city', op: '=', value: '北京' },
          ],
        },
      },
      true,
    ],
    [
      'an unknown field',
      { id: 'x1', labels, purpose: 'marketing', expression: { tag: 'vip' }, extra: 1 },
      false,
    ],
    [
      'a missing label',
      { id: 'x1', labels: { en: 'x' }, purpose: 'marketing', expression: { tag: 'vip' } },
      false,
    ],
    [
      'a comparison without its value',
      { id: 'x1', labels, purpose: 'marketing', expression: { aggregate: 'orders_365d', op: '>' } },
      false,
    ],
  ];
  it.each(definitions)('segment definition: %s', (_, body, valid) => {
    expect(definitionSchema(body)).toBe(valid);
    expect(definitionValidatorAccepts(body)).toBe(valid);
  });

  const checkSchema = draft2020.compile(bodySchemaOf('POST', '/v1/segments/{id}/check'));
  const checkValidatorAccepts = (body: unknown) => {
    try {
      readCheckRequest(body);
      return true;
    } catch (error) {
      if (error instanceof InvalidSegmentDefinitionError) return false;
      throw error;
    }
  };
  const checks: [string, unknown, boolean][] = [
    ['ids', { memberIds: ['m-1', '会员2'] }, true],
    ['1,000 ids', { memberIds: Array.from({ length: 1000 }, (_, i) => `m${i}`) }, true],
    ['1,001 ids', { memberIds: Array.from({ length: 1001 }, (_, i) => `m${i}`) }, false],
    ['no ids', { memberIds: [] }, false],
    ['an empty id', { memberIds: ['a', ''] }, false],
    ['a number id', { memberIds: [7] }, false],
    ['no memberIds', {}, false],
  ];
  it.each(checks)('check body: %s', (_, body, valid) => {
    expect(checkSchema(body)).toBe(valid);
    expect(checkValidatorAccepts(body)).toBe(valid);
  });

  const ingestAccepts = (path: string, body: unknown) => {
    const route = canonicalIngestPath(path);
    if (!route) throw new Error(path);
    const parsed = parseIngestBody(JSON.stringify(body), route, {
      receivedAt: new Date('2026-05-01T12:00:00Z'),
      sourceId: 'test',
      maxFutureSkewSeconds: 86_400,
      retentionDays: 400,
      newMessageId: () => 'generated',
    });
    return parsed.kind === 'parsed' && parsed.items.every((item) => item.result.ok);
  };
  const events: [string, string, unknown, boolean][] = [
    [
      'a catalogue track',
      '/v1/track',
      {
        userId: 'm-1',
        event: 'Order Completed',
        properties: { orderId: 'o-1', revenue: '19.90', currency: 'CNY' },
        timestamp: '2026-05-01T11:00:00Z',
      },
      true,
    ],
    ['a track without event', '/v1/track', { userId: 'm-1' }, false],
    ['an event without identity', '/v1/identify', { traits: { city: '北京' } }, false],
    ['properties that are not an object', '/v1/page', { anonymousId: 'a', properties: 'x' }, false],
    ['an alias', '/v1/alias', { userId: 'm-1', previousId: 'anon-1' }, true],
    ['a group without groupId', '/v1/group', { userId: 'm-1' }, false],
    [
      'a batch',
      '/v1/batch',
      {
        batch: [
          { type: 'track', userId: 'm', event: 'Shared' },
          { type: 'identify', userId: 'm' },
        ],
      },
      true,
    ],
    [
      'a batch item without type',
      '/v1/batch',
      { batch: [{ userId: 'm', event: 'Shared' }] },
      false,
    ],
    ['a batch that is not an array', '/v1/batch', { batch: {} }, false],
  ];
  it.each(events)('ingest body: %s', (_, path, body, valid) => {
    const schema = draft7.compile(bodySchemaOf('POST', path));
    expect(schema(body)).toBe(valid);
    expect(ingestAccepts(path, body)).toBe(valid);
  });
});
