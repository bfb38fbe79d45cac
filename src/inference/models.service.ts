import { Inject, Injectable } from "@nestjs/common";
import { ApiError } from "../common/api-error.ts";
import { ModelCatalogue } from "../catalogue/catalogue.ts";
import { DeploymentsQueries } from "../deployments/deployments.queries.ts";
import { ModelGroupsQueries } from "../model-groups/model-groups.queries.ts";
import { clip, MAX_MODEL_LENGTH } from "../common/body-fields.ts";

export interface ModelObject {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

/** A fixed `created` for catalogue models (they have no deployment time). */
const CATALOGUE_CREATED = 1_735_689_600;

/**
 * `GET /models`: what this account can call: its running deployments under their name and
 * their model identifier, its model groups, then the catalogue's serverless text models. The gateway answers
 * retrieve itself (vLLM has no such route; Ollama's takes one path segment).
 */
@Injectable()
export class ModelsService {
  constructor(
    @Inject(DeploymentsQueries) private readonly deployments: DeploymentsQueries,
    @Inject(ModelCatalogue) private readonly catalogue: ModelCatalogue,
    @Inject(ModelGroupsQueries) private readonly groups: ModelGroupsQueries,
  ) {}

  list(accountId: string): ModelObject[] {
    const models = new Map<string, ModelObject>();
    for (const deployment of this.deployments.listForAccount(accountId)) {
      if (deployment.status !== "running") continue;
      const created = Math.floor(Date.parse(deployment.createdAt) / 1000);
      const ownedBy = deployment.provider === "external" ? "external" : "runpod-pod";
      for (const id of [deployment.name, deployment.modelIdentifier]) {
        if (!models.has(id)) models.set(id, { id, object: "model", created, owned_by: ownedBy });
      }
    }
    // A group's name is what clients pass as `model`; it cannot shadow a deployment's.
    for (const group of this.groups.listForAccount(accountId)) {
      if (models.has(group.name)) continue;
      const created = Math.floor(Date.parse(group.createdAt) / 1000);
      models.set(group.name, {
        id: group.name,
        object: "model",
        created,
        owned_by: "modelpilot-group",
      });
    }
    for (const entry of this.catalogue.list()) {
      if (entry.kind !== "text" && entry.kind !== "embedding") continue;
      if (!models.has(entry.id)) {
        models.set(entry.id, {
          id: entry.id,
          object: "model",
          created: CATALOGUE_CREATED,
          owned_by: "modelpilot",
        });
      }
    }
    return [...models.values()];
  }

  retrieve(accountId: string, id: string): ModelObject {
    // No model id is longer than a `model` may be; the echo quotes only a short prefix.
    const found = id.length <= MAX_MODEL_LENGTH
      ? this.list(accountId).find((model) => model.id === id) ?? this.catalogueName(id)
      : undefined;
    if (!found) {
      throw ApiError.notFound(
        `The model '${clip(id, MAX_MODEL_LENGTH)}' does not exist or you do not have access to it.`,
        "model_not_found",
        "model",
      );
    }
    return found;
  }

  /**
   * A catalogue model asked for by its served (Hugging Face) name or an alias: the names
   * `model` accepts are the names retrieve knows, under the name asked for.
   */
  private catalogueName(id: string): ModelObject | undefined {
    const entry = this.catalogue.get(id);
    if (!entry || (entry.kind !== "text" && entry.kind !== "embedding")) return undefined;
    return { id, object: "model", created: CATALOGUE_CREATED, owned_by: "modelpilot" };
  }
}
