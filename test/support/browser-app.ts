import { createServer as createHttpServer, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Certificate } from './tls.ts';

/**
 * A browser application's source (ES modules importing Kinde's SDKs from this repository's
 * node_modules), bundled for Chromium the way an application's own build would.
 */
export async function bundleBrowserApp(source: string): Promise<string> {
  const result = await build({
    stdin: { contents: source, resolveDir: fileURLToPath(new URL('.', import.meta.url)), loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    // React picks its build from process.env.NODE_ENV, as an application's bundler would set it.
    define: { 'process.env.NODE_ENV': '"production"' },
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

export interface BrowserAppServer {
  port: number;
  close(): void;
}

/**
 * Serves a bundled application on a random loopback port: `/app.js` is the bundle, every other path
 * its page, which hands `settings()` (read per request, so they may be filled in after start) to the
 * bundle as `window.GATEHOUSE`. Over https when given a certificate.
 */
export async function serveBrowserApp(bundle: string, settings: () => Record<string, unknown>, tls?: Certificate): Promise<BrowserAppServer> {
  const respond: RequestListener = (req, res) => {
    if (req.url === '/app.js') {
      res.setHeader('content-type', 'text/javascript');
      return res.end(bundle);
    }
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(
      `<!doctype html><html lang="en"><title>App</title><div id="root"></div>` +
        `<script>window.GATEHOUSE=${JSON.stringify(settings())}</script><script type="module" src="/app.js"></script></html>`,
    );
  };
  const server = tls ? createHttpsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, respond) : createHttpServer(respond);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}
