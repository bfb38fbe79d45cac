import { createRequire } from "node:module";

type EsdbClientLibrary = typeof import("@eventstore/db-client");

let library: EsdbClientLibrary | undefined;

/**
 * The EventStoreDB client library, loaded when an EventStoreDB adapter is first made: its gRPC
 * stack costs about 250 ms of start-up and 19 MB that a gateway on the embedded store never uses.
 * It is CommonJS, so it loads synchronously and the adapters stay synchronous to construct.
 */
export function esdbClientLibrary(): EsdbClientLibrary {
  library ??= createRequire(import.meta.url)("@eventstore/db-client") as EsdbClientLibrary;
  return library;
}
