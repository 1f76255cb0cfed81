import type { Context } from 'koa';
import { readBodyWithin } from './bodies.ts';

export type FormParams = Record<string, string | string[]>;

export const FORM_BODY_LIMIT = 56 * 1024;

export function toParams(search: URLSearchParams): FormParams {
  const params: FormParams = {};
  for (const [key, value] of search) {
    const existing = params[key];
    params[key] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  return params;
}

/** Reads an urlencoded body with a size limit; anything else is not a form. */
export async function readForm(ctx: Context): Promise<FormParams | 'too_large' | 'not_a_form'> {
  if (!ctx.is('application/x-www-form-urlencoded')) return 'not_a_form';
  const body = await readBodyWithin(ctx, FORM_BODY_LIMIT);
  return body === undefined ? 'too_large' : toParams(new URLSearchParams(body.toString('utf8')));
}

/** A single-valued field; repeated or missing fields read as undefined. */
export function field(params: FormParams, name: string): string | undefined {
  const value = params[name];
  return typeof value === 'string' ? value : undefined;
}
