import { scopedValue } from '../../async-scope.ts';

/** Kinde's `source` of an event: the management API, the (future) admin console, or the person. */
export type EventSource = 'api' | 'admin' | 'user';

/**
 * Who caused what the current request changes, and from where: set once per request by the HTTP
 * layer (http/event-context.ts), read by `recordEvent`, so domain code records events without
 * passing the request around.
 */
export interface EventContext {
  source: EventSource | null;
  /** The application (management API client) or person acting; unknown until authenticated. */
  actor: string | null;
  address: string | null;
}

const current = scopedValue<EventContext>('event context');

export function withEventContext<T>(context: EventContext, work: () => T): T {
  return current.run(context, work);
}

export function eventContext(): EventContext | undefined {
  return current.get();
}
