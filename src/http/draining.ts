import type http from 'node:http';
import type { ServerResponse } from 'node:http';

export interface Drainable {
  /**
   * Stops accepting connections, lets the requests in flight finish (up to `graceMs`, then cuts off
   * what is left) and closes each keep-alive connection as soon as it is idle. Resolves once every
   * connection has ended.
   */
  drain(graceMs: number): Promise<void>;
}

/**
 * Follows a server's requests so that it can stop gracefully (SIGTERM from a supervisor, a rolling
 * deploy). Node's `server.close()` alone stops accepting but then waits for each connection busy at
 * that moment to reach its keep-alive timeout (5 s) after its response, and a client that reuses one
 * meanwhile gets a reset.
 */
export function drainable(server: http.Server): Drainable {
  const inFlight = new Set<ServerResponse>();
  let draining = false;

  // "Connection: close" tells the client not to reuse the connection, and Node ends it once the
  // response is sent. (Gatehouse sends its headers with the body, so they are not sent yet.)
  const lastOnItsConnection = (response: ServerResponse) => {
    if (!response.headersSent) response.setHeader('connection', 'close');
  };

  server.on('request', (_request: http.IncomingMessage, response: ServerResponse) => {
    inFlight.add(response);
    response.once('close', () => inFlight.delete(response));
    if (draining) lastOnItsConnection(response);
  });

  return {
    async drain(graceMs) {
      draining = true;
      // close() also ends the connections idle right now (Node ≥ 19); the busy ones end after their response.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const response of inFlight) lastOnItsConnection(response);
      const cutOff = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(cutOff);
    },
  };
}
