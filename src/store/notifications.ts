import { createRequire } from 'node:module';
import type pg from 'pg';

const requireDriver = createRequire(import.meta.url);

/** How long to wait before listening again after the connection drops, doubling up to 30 s. */
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;

export interface Listening {
  stop(): Promise<void>;
}

/**
 * PostgreSQL `LISTEN` on its own connection (a pooled one would be handed to queries): `onNotify`
 * runs for each `NOTIFY` on `channel` that another session committed. A dropped connection is
 * reopened with backoff; whatever was notified meanwhile is missed, so listeners must not depend on
 * it alone (the webhook workers still poll).
 */
export function listenForNotifications(databaseUrl: string, channel: string, onNotify: () => void, onError: (error: unknown) => void): Listening {
  const { Client } = requireDriver('pg') as typeof pg;
  let client: pg.Client | undefined;
  let stopped = false;
  let retryMs = RECONNECT_MIN_MS;
  let retry: NodeJS.Timeout | undefined;

  const reconnectLater = () => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, retryMs);
    retry.unref();
    retryMs = Math.min(retryMs * 2, RECONNECT_MAX_MS);
  };

  async function connect(): Promise<void> {
    const next = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5_000 });
    client = next;
    next.on('notification', (message) => {
      if (message.channel === channel) onNotify();
    });
    next.on('error', (error) => {
      onError(error);
      void next.end().catch(() => undefined);
      reconnectLater();
    });
    try {
      await next.connect();
      if (stopped) return void (await next.end());
      await next.query(`LISTEN ${channel}`);
      retryMs = RECONNECT_MIN_MS;
      // Deliveries may have been queued while nobody listened: look once.
      onNotify();
    } catch (error) {
      onError(error);
      await next.end().catch(() => undefined);
      reconnectLater();
    }
  }

  void connect();
  return {
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
