import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CallbackApp {
  /** The application's redirect URI. */
  callback: string;
  /** Its home page (a heading "Welcome to the app"), for homepage and login URIs. */
  homepage: string;
  close(): void;
}

/** The application's side of a browser test: a page at /callback that only says it was reached, and a home page. */
export async function startCallbackApp(): Promise<CallbackApp> {
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(req.url?.startsWith('/home') ? '<!doctype html><title>App home</title><h1>Welcome to the app</h1>' : '<!doctype html><title>App</title><p>Signed in</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { callback: `${origin}/callback`, homepage: `${origin}/home`, close: () => server.close() };
}
