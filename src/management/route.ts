import type Router from '@koa/router';
import type Koa from 'koa';
import type { Context } from 'koa';
import type { z } from 'zod';
import type { ManagementScope } from '../domain/apis.ts';
import { readBody, readQuery } from './input.ts';
import { requireScope } from './scopes.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** `user_id | factor_id` for `/users/:user_id/mfa/:factor_id`. */
type ParamNames<P extends string> = P extends `${string}:${infer Name}/${infer Rest}` ? Name | ParamNames<`/${Rest}`> : P extends `${string}:${infer Name}` ? Name : never;
export type PathParams<P extends string> = { [K in ParamNames<P>]: string };

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

type Input = z.ZodType | undefined;

/**
 * One management route, said once (STYLE.md, after Logto's `koaGuard`): the scope it needs, what it
 * reads and what it answers. The same declaration guards the route, parses its input, types its
 * handler and describes it in the OpenAPI document (openapi.ts). Path parameters come from the path.
 */
export interface RouteDeclaration<P extends string = string, Q extends Input = Input, B extends Input = Input, R extends z.ZodType = z.ZodType> {
  method: Method;
  /** As @koa/router spells it (`/users/:user_id`), under `/api/v1`. */
  path: P;
  scope: ManagementScope;
  summary: string;
  description?: string;
  /** Parsed from the query string before the body; a failure is a Kinde-shaped 400 (input.ts). */
  query?: Q;
  /** A JSON body; no body reads as `{}` (input.ts `readBody`). */
  body?: B;
  /** A body the handler reads itself, by media type (an upload): only described in the document. */
  upload?: readonly string[];
  /** The success body: typed against the handler's answer; checked as sent with GATEHOUSE_CHECK_RESPONSES (tests). */
  response: R;
  /** The success status: 200 unless said. */
  status?: number;
}

export interface RouteInput<P extends string, Q extends Input, B extends Input> {
  params: PathParams<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
}

type Handler<P extends string, Q extends Input, B extends Input, R extends z.ZodType> = (input: RouteInput<P, Q, B>, ctx: Context) => Promise<z.input<R>> | z.input<R>;

/**
 * With GATEHOUSE_CHECK_RESPONSES (config.ts; the test servers set it) every answer is checked against
 * its declaration, so the management tests keep the document honest; in production the type checker
 * does that, at no cost per request. The management router marks its requests (`markResponseChecks`).
 */
const CHECKING_RESPONSES = 'gatehouseChecksResponses';

export function markResponseChecks(enabled: boolean): Koa.Middleware {
  return (ctx, next) => {
    ctx.state[CHECKING_RESPONSES] = enabled;
    return next();
  };
}

function assertDeclaredResponse(declaration: RouteDeclaration, answer: unknown): void {
  const where = `${declaration.method} ${declaration.path}`;
  const result = declaration.response.safeParse(answer);
  if (!result.success) throw new Error(`${where} answered outside its declared response: ${result.error.message}`);
  const undeclared = undeclaredFields(answer, result.data, '');
  if (undeclared.length > 0) throw new Error(`${where} answered fields its response does not declare: ${undeclared.join(', ')}`);
}

/** Fields of `answer` that parsing dropped: zod strips what an object schema does not name. */
function undeclaredFields(answer: unknown, parsed: unknown, at: string): string[] {
  if (typeof answer !== 'object' || answer === null || typeof parsed !== 'object' || parsed === null) return [];
  return Object.entries(answer).flatMap(([key, value]) => {
    if (value === undefined) return [];
    if (!(key in parsed)) return [`${at}${key}`];
    return undeclaredFields(value, (parsed as Record<string, unknown>)[key], `${at}${key}.`);
  });
}

const declarations = new WeakMap<Router, RouteDeclaration[]>();

/** Every route declared on this router, in the order they were registered. */
export function declarationsOf(router: Router): readonly RouteDeclaration[] {
  return declarations.get(router) ?? [];
}

/** Registers a declared route: its scope check first, then its input parsed, then the handler's answer. */
export function route<const P extends string, Q extends Input = undefined, B extends Input = undefined, R extends z.ZodType = z.ZodType>(
  router: Router,
  declaration: RouteDeclaration<P, Q, B, R>,
  handler: Handler<P, Q, B, R>,
): void {
  let declared = declarations.get(router);
  if (!declared) declarations.set(router, (declared = []));
  declared.push(declaration as RouteDeclaration);
  router.register(declaration.path, [declaration.method], [
    requireScope(declaration.scope),
    async (ctx: Context) => {
      const query = (declaration.query ? readQuery(ctx, declaration.query) : undefined) as Parsed<Q>;
      const body = (declaration.body ? await readBody(ctx, declaration.body) : undefined) as Parsed<B>;
      const answer = await handler({ params: ctx.params as PathParams<P>, query, body }, ctx);
      if (ctx.state[CHECKING_RESPONSES] === true) assertDeclaredResponse(declaration, answer);
      ctx.status = declaration.status ?? 200;
      ctx.body = answer;
    },
  ]);
}

/**
 * Every route of the management router is declared, so none is left without its scope check or out of
 * the document: one registered with `router.get()` and the like stops start-up.
 */
export function assertEveryRouteDeclared(router: Router, prefix: string, except: ReadonlySet<string>): void {
  const declared = new Set(declarationsOf(router).map(({ method, path }) => `${method} ${path}`));
  for (const layer of router.stack) {
    const methods = layer.methods.filter((m) => m !== 'HEAD');
    if (methods.length === 0) continue;
    const registered = String(layer.path);
    const path = registered.startsWith(prefix) ? registered.slice(prefix.length) : registered;
    if (except.has(path)) continue;
    for (const method of methods) {
      if (!declared.has(`${method} ${path}`)) throw new Error(`management route ${method} ${path} is not declared with route() (src/management/route.ts)`);
    }
  }
}
