import type { DatabaseSync } from "node:sqlite";
import type { RecordedEvent } from "../event-store/event-store.port.ts";
import { applyEvents, type Projection } from "../projections/projection.ts";
import { ProjectionCheckpoints } from "../projections/projection-checkpoints.ts";
import { compileFilter } from "../projections/projection-filter.ts";

/**
 * Rebuilds projections from zero outside the service, with their own code: reset, then every
 * page applied in one transaction (as the runner does), then checkpoints at the last position,
 * so a service started on this database carries on from there. Used by `rebuild` (the live file)
 * and by verify's read-models invariant (a temporary file).
 */
export class ProjectionFeeder {
  private last = 0n;
  private readonly checkpoints: ProjectionCheckpoints;
  private readonly matchers: Array<(event: RecordedEvent) => boolean>;

  constructor(private readonly db: DatabaseSync, private readonly projections: Projection[]) {
    this.checkpoints = new ProjectionCheckpoints(db);
    this.matchers = projections.map((projection) => compileFilter(projection.filter));
    this.transaction(() => {
      for (const projection of projections) {
        projection.setup(db);
        projection.reset(db);
        this.checkpoints.save(projection, 0n, "catching_up", null);
      }
    });
  }

  apply(page: readonly RecordedEvent[]): void {
    if (page.length === 0) return;
    this.transaction(() => {
      for (let index = 0; index < this.projections.length; index++) {
        const events = page.filter(this.matchers[index]);
        if (events.length > 0) applyEvents(this.projections[index], events, this.db);
      }
    });
    this.last = page[page.length - 1].position;
  }

  /** Marks every projection live at `head` (the store's head when the read started). */
  finish(head: bigint): void {
    const position = head > this.last ? head : this.last;
    this.transaction(() => {
      for (const projection of this.projections) {
        this.checkpoints.save(projection, position, "live", null);
      }
    });
  }

  private transaction(work: () => void): void {
    this.db.exec("BEGIN");
    try {
      work();
      this.db.exec("COMMIT");
    } catch (error) {
      this.db.exec("ROLLBACK");
      throw error;
    }
  }
}
