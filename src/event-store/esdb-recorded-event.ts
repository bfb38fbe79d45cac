import type { AllStreamResolvedEvent, Position, ResolvedEvent } from "@eventstore/db-client";
import type { EventMetadata, RecordedEvent } from "./event-store.port.ts";

/** EventStoreDB's resolved events and positions as the port's RecordedEvent and bigints. */

export function positionOf(resolved: ResolvedEvent | AllStreamResolvedEvent): bigint | undefined {
  return resolved.event?.position?.commit ?? resolved.commitPosition;
}

export function toRecordedEvent(
  resolved: ResolvedEvent | AllStreamResolvedEvent,
): RecordedEvent | undefined {
  const event = resolved.event;
  if (!event) return undefined;
  return {
    id: event.id,
    type: event.type,
    data: event.isJson ? event.data : decodeJson(event.data as Uint8Array),
    metadata: toMetadata(event.metadata),
    stream: event.streamId,
    revision: event.revision,
    // Servers older than 22.6 do not report positions on stream reads.
    position: positionOf(resolved) ?? -1n,
    createdAt: event.created,
  };
}

function toMetadata(metadata: unknown): EventMetadata {
  if (metadata instanceof Uint8Array) {
    if (metadata.length === 0) return {};
    try {
      return decodeJson(metadata) as EventMetadata;
    } catch {
      return {};
    }
  }
  if (metadata && typeof metadata === "object") return metadata as EventMetadata;
  return {};
}

function decodeJson(bytes: Uint8Array): unknown {
  const text = new TextDecoder().decode(bytes);
  return text.length === 0 ? null : JSON.parse(text);
}

export function isUserEvent(event: Pick<RecordedEvent, "stream" | "type">): boolean {
  return !event.type.startsWith("$") && !event.stream.startsWith("$");
}

export function comparePositions(left: Position, right: Position): number {
  if (left.commit !== right.commit) return left.commit < right.commit ? -1 : 1;
  if (left.prepare !== right.prepare) return left.prepare < right.prepare ? -1 : 1;
  return 0;
}
