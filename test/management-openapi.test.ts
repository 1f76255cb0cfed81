import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { okResponse } from '../src/management/responses.ts';
import { assertEveryRouteDeclared, declarationsOf, markResponseChecks, route } from '../src/management/route.ts';
import { managementRoutes, OPENAPI_PATH } from '../src/management/router.ts';
import { testDatabases } from './support/databases.ts';
import { assertKindeError, BOOTSTRAP, serverForSuite, type TestServer } from './support/server.ts';

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema: any;
}

interface Operation {
  operationId: string;
  security: Array<{ bearerAuth: string[] }>;
  'x-required-scope': string;
  parameters: Parameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: any }> };
  responses: Record<string, unknown>;
}

interface Document {
  openapi: string;
  servers: Array<{ url: string }>;
  components: { securitySchemes: Record<string, any>; schemas: Record<string, any> };
  paths: Record<string, Record<string, Operation>>;
}

const PREFIX = '/api/v1';
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

/** `METHOD /path` of every operation, in the router's spelling (`/users/:user_id`). */
function operationsOf(document: Document): Map<string, Operation> {
  const operations = new Map<string, Operation>();
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) operations.set(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`, operation);
  }
  return operations;
}

/** Every route the management router answers, but the catch-all 404. */
function registeredRoutes(router: Router): string[] {
  return router.stack.flatMap((layer) => {
    const path = String(layer.path).slice(PREFIX.length);
    if (path === '/{*rest}') return [];
    return layer.methods.filter((method) => method !== 'HEAD').map((method) => `${method} ${path}`);
  });
}

for (const database of testDatabases()) {
  describe(`management API: its OpenAPI document (${database.name})`, () => {
    let server: TestServer;
    serverForSuite(database, (started) => (server = started));

    let cached: Document | undefined;
    async function openApi(): Promise<Document> {
      if (cached) return cached;
      const response = await fetch(`${server.url}${PREFIX}${OPENAPI_PATH}`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /application\/json/);
      cached = (await response.json()) as Document;
      return cached;
    }

    async function tokenWithScopes(scope: string): Promise<string> {
      const response = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: BOOTSTRAP.id, client_secret: BOOTSTRAP.secret, audience: `${server.services.config.issuer}/api`, scope }),
      });
      const body = (await response.json()) as { access_token?: string; scope?: string };
      assert.equal(body.scope, scope);
      return body.access_token!;
    }

    async function call(token: string, method: string, path: string, body?: unknown) {
      const response = await fetch(`${server.url}${PREFIX}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    }

    it('is served without a token, as OpenAPI 3.1 with bearer authentication and the server it describes', async () => {
      const document = await openApi();
      assert.equal(document.openapi, '3.1.0');
      assert.deepEqual(document.servers, [{ url: `${server.services.config.issuer}${PREFIX}` }]);
      assert.equal(document.components.securitySchemes.bearerAuth.type, 'http');
      assert.equal(document.components.securitySchemes.bearerAuth.scheme, 'bearer');
      assert.deepEqual(document.components.schemas.Error.required, ['errors']);
    });

    it('has every route of the management router exactly once, with the scope it is declared with', async () => {
      const router = managementRoutes(server.services);
      const declared = declarationsOf(router).map(({ method, path }) => `${method} ${path}`);
      assert.equal(new Set(declared).size, declared.length, 'no route is declared twice');
      const operations = operationsOf(await openApi());
      assert.deepEqual([...operations.keys()].sort(), registeredRoutes(router).sort());
      for (const declaration of declarationsOf(router)) {
        const operation = operations.get(`${declaration.method} ${declaration.path}`)!;
        assert.deepEqual(operation.security, [{ bearerAuth: [declaration.scope] }], `${declaration.method} ${declaration.path}`);
        assert.equal(operation['x-required-scope'], declaration.scope);
      }
      const ids = [...operations.values()].map((operation) => operation.operationId);
      assert.ok(ids.every((id) => /^[a-z][A-Za-z0-9]*$/.test(id)), 'operation ids are camelCase names');
      assert.equal(new Set(ids).size, ids.length, 'operation ids are unique');
      assert.equal(operations.get('GET /users')!.operationId, 'listUsers');
      assert.deepEqual(operations.get(`GET ${OPENAPI_PATH}`)!.security, [], 'the document itself needs no token');
    });

    it('declares every parameter of every path, and a success and an error response for every operation', async () => {
      const document = await openApi();
      for (const [path, methods] of Object.entries(document.paths)) {
        const inPath = [...path.matchAll(/\{(\w+)\}/g)].map(([, name]) => name);
        for (const [method, operation] of Object.entries(methods)) {
          assert.ok(METHODS.includes(method), method);
          const declared = operation.parameters.filter((parameter) => parameter.in === 'path');
          assert.deepEqual(declared.map((parameter) => parameter.name), inPath, `${method} ${path}`);
          assert.ok(declared.every((parameter) => parameter.required), `${method} ${path}: path parameters are required`);
          const success = Object.keys(operation.responses).filter((status) => /^2\d\d$/.test(status));
          assert.equal(success.length, 1, `${method} ${path} has one success response`);
          const needsToken = operation.security.length > 0;
          assert.ok((!needsToken || operation.responses['403']) && operation.responses.default, `${method} ${path} has its errors`);
        }
      }
    });

    it('describes request bodies as the routes check them: what the schema refuses is refused with 400', async () => {
      const operations = operationsOf(await openApi());
      const token = await server.managementToken();

      const createRole = operations.get('POST /roles')!.requestBody!;
      const roleSchema = createRole.content['application/json']!.schema;
      assert.equal(createRole.required, true);
      assert.deepEqual([...roleSchema.required].sort(), ['key', 'name']);
      assertKindeError(await call(token, 'POST', '/roles', { name: 'No key' }), 400, 'INVALID_REQUEST');
      assert.equal(roleSchema.properties.is_default_role.type, 'boolean');
      assertKindeError(await call(token, 'POST', '/roles', { key: 'typed', name: 'Typed', is_default_role: 'yes' }), 400, 'INVALID_REQUEST');
      assert.equal((await call(token, 'POST', '/roles', { key: 'documented', name: 'Documented' })).status, 201);

      const settings = operations.get('PATCH /environment/settings')!.requestBody!.content['application/json']!.schema;
      assert.equal(settings.additionalProperties, false);
      assertKindeError(await call(token, 'PATCH', '/environment/settings', { is_self_sign_up_enabeld: true }), 400, 'INVALID_REQUEST');

      const mfa = operations.get('PUT /mfa')!.requestBody!.content['application/json']!.schema;
      assert.deepEqual(mfa.properties.policy.enum, ['off', 'optional', 'required']);
      assertKindeError(await call(token, 'PUT', '/mfa', { policy: 'sometimes', enabled_factors: [] }), 400, 'INVALID_REQUEST');

      // No body reads as `{}`, so a body whose every field is optional is not required.
      assert.equal(operations.get('POST /user')!.requestBody!.required, false);
    });

    it('describes query parameters as the routes check them', async () => {
      const operations = operationsOf(await openApi());
      const hasOrganization = operations.get('GET /users')!.parameters.find((parameter) => parameter.name === 'has_organization')!;
      assert.deepEqual(hasOrganization.schema.enum, ['true', 'false']);
      assertKindeError(await call(await server.managementToken(), 'GET', '/users?has_organization=maybe'), 400, 'INVALID_REQUEST');
      const id = operations.get('GET /user')!.parameters.find((parameter) => parameter.name === 'id')!;
      assert.equal(id.required, true);
      assertKindeError(await call(await server.managementToken(), 'GET', '/user'), 400, 'INVALID_REQUEST');
      // An unsupported parameter is one that must be absent.
      assert.deepEqual(operations.get('GET /roles')!.parameters.find((parameter) => parameter.name === 'sort')!.schema, { not: {} });
    });

    it('names the scope each route enforces: a token without it gets 403 naming that scope', async () => {
      const token = await tokenWithScopes('read:users');
      for (const [key, operation] of operationsOf(await openApi())) {
        const [method, path] = key.split(' ') as [string, string];
        const url = path.replace(/:(\w+)/g, 'placeholder');
        const response = await call(token, method, url);
        if (operation['x-required-scope'] === 'read:users' || operation.security.length === 0) {
          assert.notEqual(response.status, 403, key);
          continue;
        }
        assertKindeError(response, 403, 'INSUFFICIENT_SCOPE');
        assert.equal(response.body.errors[0].message, `This access token lacks the ${operation['x-required-scope']} scope`, key);
      }
    });

    it('stops start-up when a management route is registered without a declaration', () => {
      const router = new Router({ prefix: PREFIX });
      route(router, { method: 'GET', path: '/declared', scope: 'read:users', summary: 'Declared', response: okResponse }, () => ({ code: 'OK', message: 'Success' }));
      assert.doesNotThrow(() => assertEveryRouteDeclared(router, PREFIX, new Set()));
      router.post('/undeclared', (ctx) => {
        ctx.body = {};
      });
      assert.throws(() => assertEveryRouteDeclared(router, PREFIX, new Set()), /POST \/undeclared is not declared/);
    });

    it('refuses an answer outside its declared response while GATEHOUSE_CHECK_RESPONSES is on (as in every test server)', async () => {
      assert.equal(server.services.config.checkManagementResponses, true);
      const answerFrom = async (checking: boolean) => {
        const router = new Router({ prefix: PREFIX });
        route(router, { method: 'GET', path: '/drifted', scope: 'read:users', summary: 'Drifted', response: okResponse }, () => ({ code: 'OK', message: 'Success', undeclared: 1 }) as never);
        const app = new Koa();
        app.silent = true;
        app.use(markResponseChecks(checking));
        app.use((ctx, next) => {
          ctx.state.managementScopes = new Set(['read:users']);
          return next();
        });
        app.use(router.routes());
        const listening = app.listen(0, '127.0.0.1');
        await once(listening, 'listening');
        try {
          return (await fetch(`http://127.0.0.1:${(listening.address() as AddressInfo).port}${PREFIX}/drifted`)).status;
        } finally {
          listening.close();
        }
      };
      assert.equal(await answerFrom(true), 500, 'checked: the undeclared field is caught');
      assert.equal(await answerFrom(false), 200, 'unchecked (production): answered as the handler said');
    });
  });
}
