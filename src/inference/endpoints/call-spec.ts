import type { Body } from "../../common/body-fields.ts";
import type { InferenceEndpoint, InferenceUsage } from "../inference.events.ts";
import type { Purpose, Route } from "../model-router.ts";
import type { StreamFormat } from "../streaming/stream-formats.ts";

/** A non-stream answer as the client gets it, with what InferenceCompleted records of it. */
export interface JsonOutcome {
  body: unknown;
  usage: InferenceUsage;
  finishReason: string | null;
}

/** One OpenAI-compatible call, described so one pipeline runs them all. */
export interface CallSpec {
  endpoint: InferenceEndpoint;
  purpose: Purpose;
  model: string;
  path: string;
  stream: boolean;
  includeUsage: boolean;
  /** Refusals that depend on the route (e.g. Ollama has no `n`). */
  check?(route: Route): void;
  upstreamBody(route: Route): Body;
  estimatePromptTokens(): number;
  /** Non-stream: the upstream JSON into the client's body. */
  shape?(data: any, route: Route, responseTimeMs: number): JsonOutcome;
  /** Streams: chunk object and client format. */
  streamObject?: "chat.completion.chunk" | "text_completion";
  streamFormat?(): StreamFormat;
}

/** The `system_fingerprint` a client sees: which deployment answered. */
export function fingerprint(route: Route): string {
  return `modelpilot-${route.deploymentId}`;
}
