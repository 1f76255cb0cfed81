import { z } from 'zod';
import { kindeErrorResponse } from './responses.ts';
import type { RouteDeclaration } from './route.ts';

type JsonSchema = Record<string, unknown>;

/**
 * JSON Schema 2020-12, OpenAPI 3.1's dialect. A request is described as sent (`io: 'input'`: before
 * transforms, defaulted fields optional), a response as answered. A field that must be absent
 * (`z.undefined()`, e.g. an unsupported `sort`) is `not: {}`. Responses stay open to new fields, as
 * Kinde's own document leaves them, so a client generated from this one survives the next field.
 */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    override: (ctx) => {
      const { type } = ctx.zodSchema._zod.def;
      if (type === 'undefined') ctx.jsonSchema.not = {};
      if (io === 'output' && type === 'object' && ctx.jsonSchema.additionalProperties === false) delete ctx.jsonSchema.additionalProperties;
    },
  });
  return rest;
}

/** `/users/:user_id` → `/users/{user_id}`. */
function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, '{$1}');
}

function pathParameters(path: string) {
  return [...path.matchAll(/:(\w+)/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
}

/** Each property of the query schema is one query parameter. */
function queryParameters(query: z.ZodType) {
  const { properties = {}, required = [] } = jsonSchema(query, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(properties).map(([name, schema]) => ({ name, in: 'query', required: required.includes(name), schema }));
}

function requestBody(declaration: RouteDeclaration) {
  if (declaration.body) {
    // input.ts reads no body as `{}`, so the body is required only when `{}` is refused.
    return { required: !declaration.body.safeParse({}).success, content: { 'application/json': { schema: jsonSchema(declaration.body, 'input') } } };
  }
  if (declaration.upload) return { required: true, content: Object.fromEntries(declaration.upload.map((type) => [type, { schema: { type: 'string' } }])) };
  return undefined;
}

const ERROR = { $ref: '#/components/responses/Error' };

function operation(declaration: RouteDeclaration) {
  const body = requestBody(declaration);
  const readsInput = body !== undefined || declaration.query !== undefined;
  return {
    operationId: operationIdOf(declaration.summary),
    summary: declaration.summary,
    ...(declaration.description ? { description: declaration.description } : {}),
    tags: [declaration.path.split('/')[1]],
    security: [{ bearerAuth: [declaration.scope] }],
    'x-required-scope': declaration.scope,
    parameters: [...pathParameters(declaration.path), ...(declaration.query ? queryParameters(declaration.query) : [])],
    ...(body ? { requestBody: body } : {}),
    responses: {
      [String(declaration.status ?? 200)]: { description: 'Success', content: { 'application/json': { schema: jsonSchema(declaration.response, 'output') } } },
      ...(readsInput ? { '400': ERROR } : {}),
      '403': { description: 'No valid management token, or one without the required scope', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      default: ERROR,
    },
  };
}

const ARTICLES = new Set(['a', 'an', 'the']);

/** `Update an application's redirect URLs` → `updateApplicationRedirectUrls`: what client generators name their methods by. */
function operationIdOf(summary: string): string {
  const words = summary
    .replace(/['’]s\b/g, '')
    .replace(/[^A-Za-z0-9 ]/g, ' ')
    .split(' ')
    .filter((word) => word.length > 0 && !ARTICLES.has(word.toLowerCase()));
  return words.map((word, i) => (i === 0 ? word.toLowerCase() : word[0]!.toUpperCase() + word.slice(1).toLowerCase())).join('');
}

/** The document describes itself too: served at `documentPath` without a token. */
function documentOperation() {
  return {
    operationId: 'getOpenApiDocument',
    summary: 'This OpenAPI document',
    tags: ['openapi'],
    security: [],
    parameters: [],
    responses: {
      '200': { description: 'The management API as OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } },
      default: ERROR,
    },
  };
}

/** The management API's OpenAPI 3.1 document, from its route declarations (route.ts). */
export function openApiDocument(declarations: readonly RouteDeclaration[], serverUrl: string, documentPath: string) {
  const paths: Record<string, Record<string, unknown>> = { [documentPath]: { get: documentOperation() } };
  const operationIds = new Set<string>(['getOpenApiDocument']);
  for (const declaration of declarations) {
    const methods = (paths[openApiPath(declaration.path)] ??= {});
    const described = operation(declaration);
    // OpenAPI requires them unique; a summary that repeats another's is a declaration to fix.
    if (operationIds.has(described.operationId)) throw new Error(`two management routes are summarised "${declaration.summary}"`);
    operationIds.add(described.operationId);
    methods[declaration.method.toLowerCase()] = described;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse management API',
      version: '1',
      description: "Kinde's management API (`/api/v1`) as Gatehouse serves it, with Gatehouse's extensions.",
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: "A client-credentials access token for the audience `<issuer>/api`; each operation names the scope it needs (`x-required-scope`).",
        },
      },
      schemas: { Error: jsonSchema(kindeErrorResponse, 'output') },
      responses: { Error: { description: "An error, in Kinde's shape", content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
    },
    paths,
  };
}
