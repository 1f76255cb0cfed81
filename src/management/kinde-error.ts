import type { Context } from 'koa';

/** Kinde's error shape on the management API: `{ errors: [{ code, message }] }`. */
export function kindeError(ctx: Context, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.body = { errors: [{ code, message }] };
}
