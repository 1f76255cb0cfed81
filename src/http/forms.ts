import type { Context } from 'koa';

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
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_BODY_LIMIT) return 'too_large';
    chunks.push(chunk);
  }
  return toParams(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

/** A single-valued field; repeated or missing fields read as undefined. */
export function field(params: FormParams, name: string): string | undefined {
  const value = params[name];
  return typeof value === 'string' ? value : undefined;
}
