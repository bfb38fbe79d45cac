import type { Buffer } from "node:buffer";
import type { EndpointConfig, SimulatorKnobs } from "./knobs.ts";

/** What every part of the simulator shares: knobs, the clock, generated files. */
export interface SimContext {
  knobs: SimulatorKnobs;
  apiKey?: string;
  baseUrl: string;
  /** The simulator clock: wall time plus whatever `advanceTime` added. */
  now(): number;
  endpoints: Map<string, EndpointConfig>;
  /** Generated media served at `${baseUrl}/files/{name}`. */
  files: Map<string, { contentType: string; data: Buffer }>;
  random(): number;
}
