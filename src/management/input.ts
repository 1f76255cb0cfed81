import type { Context } from 'koa';
import { z } from 'zod';
import { DomainError } from '../domain/errors.ts';
import { readBodyWithin } from '../http/bodies.ts';
import { decodeNextToken, type PageRequest, toPage } from '../store/pagination.ts';

/** Management request bodies are small JSON documents; anything bigger is a mistake or an attack. */
export const JSON_BODY_LIMIT = 64 * 1024;

/** Names every failing field, e.g. `identities.0.details.email: Invalid email address`. */
function describeIssues(error: z.ZodError, where: string): string {
  return error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : where}: ${issue.message}`).join('; ');
}

function validate<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new DomainError('INVALID_REQUEST', describeIssues(result.error, where), 400);
  return result.data;
}

async function readRaw(ctx: Context): Promise<string> {
  const body = await readBodyWithin(ctx, JSON_BODY_LIMIT);
  if (body === undefined) throw new DomainError('PAYLOAD_TOO_LARGE', `Request bodies are limited to ${JSON_BODY_LIMIT} bytes`, 413);
  return body.toString('utf8');
}

/**
 * Reads and validates a JSON body. No body reads as `{}`: the SDK omits the body when every field of
 * an optional request body is absent (e.g. `Users.createUser()`).
 */
export async function readBody<S extends z.ZodType>(ctx: Context, schema: S): Promise<z.output<S>> {
  const raw = await readRaw(ctx);
  if (raw.trim() === '') return validate(schema, {}, 'body');
  if (!ctx.is('application/json', '+json')) {
    throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'Request bodies must be JSON (Content-Type: application/json)', 415);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new DomainError('INVALID_JSON', 'The request body is not valid JSON', 400);
  }
  return validate(schema, parsed, 'body');
}

export function readQuery<S extends z.ZodType>(ctx: Context, schema: S): z.output<S> {
  return validate(schema, ctx.query, 'query');
}

/** `page_size` (default 10, at most 500) + opaque `next_token` (contract: "Pagination"). */
export const pageQuery = {
  page_size: z.coerce.number().int().min(1).max(500).default(10),
  next_token: z.string().optional(),
};

export function pageRequest(query: { page_size: number; next_token?: string | undefined }): PageRequest {
  const after = decodeNextToken(query.next_token);
  if (after === null) throw new DomainError('INVALID_NEXT_TOKEN', 'next_token is not a token this server issued', 400);
  return { pageSize: query.page_size, after };
}

/** Cuts a `pageSize + 1` listing into one page and the token for the next. */
export function pageOf<T extends { id: string; createdAt: number }>(rows: T[], pageSize: number): { items: T[]; nextToken: string | undefined } {
  const page = toPage(rows.map((item) => ({ id: item.id, created_at: item.createdAt, item })), pageSize);
  return { items: page.items.map((entry) => entry.item), nextToken: page.nextToken };
}

/** `starting_after`/`ending_before` + `has_more` (contract: connections, identities, properties). */
export const cursorQuery = {
  page_size: z.coerce.number().int().min(1).max(500).default(10),
  starting_after: z.string().min(1).optional(),
  ending_before: z.string().min(1).optional(),
};

export const oneCursorAtMost = [
  (q: { starting_after?: string | undefined; ending_before?: string | undefined }) => !(q.starting_after && q.ending_before),
  'use starting_after or ending_before, not both',
] as const;

/**
 * Cursor pagination over a short, creation-ordered list, Stripe-style: `has_more` says whether more
 * lie beyond the page in the direction of travel.
 */
export function cursorPage<T extends { id: string }>(
  all: T[],
  query: { page_size: number; starting_after?: string | undefined; ending_before?: string | undefined },
  what: string,
): { items: T[]; hasMore: boolean } {
  const cursor = query.starting_after ?? query.ending_before;
  const at = cursor === undefined ? -1 : all.findIndex((item) => item.id === cursor);
  if (cursor !== undefined && at === -1) throw new DomainError('INVALID_CURSOR', `No ${what} with id ${cursor}`, 400);
  if (query.ending_before !== undefined) {
    const start = Math.max(0, at - query.page_size);
    return { items: all.slice(start, at), hasMore: start > 0 };
  }
  const rest = all.slice(at + 1);
  return { items: rest.slice(0, query.page_size), hasMore: rest.length > query.page_size };
}

/** Redirect and logout URLs: absolute http(s), no fragment (RFC 6749 §3.1.2). */
export const callbackUrl = z
  .url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })
  .refine((value) => !value.includes('#'), 'must not contain a fragment');

export const OK = { code: 'OK', message: 'Success' } as const;
