import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CallbackApp {
  /** The application's redirect URI. */
  callback: string;
  close(): void;
}

/** The application's side of a browser test: a page at /callback that only says it was reached. */
export async function startCallbackApp(): Promise<CallbackApp> {
  const server = createServer((_req, res) => res.end('<!doctype html><title>App</title><p>Signed in</p>'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { callback: `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`, close: () => server.close() };
}
