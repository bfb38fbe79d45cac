import { accountsProjection } from "../auth/accounts.projection.ts";
import { credentialsProjection } from "../auth/credentials.projection.ts";
import { InferenceChargesProjection } from "../billing/inference-charges.projection.ts";
import { LedgerHistoryProjection } from "../billing/ledger-history.projection.ts";
import { LedgerProjection } from "../billing/ledger.projection.ts";
import { RequestCountsProjection } from "../billing/request-counts.projection.ts";
import { deploymentsProjection } from "../deployments/deployments.projection.ts";
import { JobStatusProjection } from "../generation/job-status.projection.ts";
import { modelGroupsProjection } from "../model-groups/model-groups.projection.ts";
import type { Projection } from "../projections/projection.ts";
import {
  realtimeCapabilitiesProjection,
  realtimeSessionsProjection,
} from "../realtime/realtime.projection.ts";

/**
 * Every read-model projection the service registers (each feature module registers its own in
 * its constructor; this list is for the offline tools that run them without Nest: `replay`,
 * `rebuild`, `verify`). A new projection must be added here too — test/cli's replay spec
 * compares this list's names with what a running app registers.
 */
export function allProjections(): Projection[] {
  return [
    accountsProjection,
    credentialsProjection,
    new LedgerProjection(),
    new LedgerHistoryProjection(),
    new InferenceChargesProjection(),
    new RequestCountsProjection(),
    new JobStatusProjection(),
    deploymentsProjection,
    modelGroupsProjection,
    realtimeCapabilitiesProjection,
    realtimeSessionsProjection,
  ];
}
