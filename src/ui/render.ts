import type { Context } from 'koa';
import type { VNode } from 'preact';
import { render } from 'preact-render-to-string';

/** Server-rendered pages: escaped by default, no client framework, no inline script. */
export function renderPage(ctx: Context, page: VNode): void {
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'");
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.body = '<!doctype html>' + render(page);
}
