import type { EventSchema } from "./event-store/event-schemas.ts";

/**
 * Every feature module's event schemas, handed to the event store by AppModule and the CLI (see
 * event-store/event-schemas.ts). Today every event type is at schema version 1, so the list is
 * empty; a module that changes an event's shape exports its own list (`BILLING_EVENT_SCHEMAS`
 * beside its events, with the upcaster and a fixture of the old shape) and it is spread here.
 */
export const EVENT_SCHEMAS: readonly EventSchema[] = [];
