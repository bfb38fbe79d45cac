import type { CatalogueModel } from "./catalogue.ts";

/**
 * The names a catalogue entry answers to besides its id: its served (Hugging Face) name, as
 * RunPod's vLLM route accepts it, and its aliases. Each name must lead to exactly one model, so
 * a name two entries claim (or one that is another entry's id) is refused when the catalogue
 * loads rather than resolved by order. Returns name → id.
 */
export function catalogueNames(
  models: readonly CatalogueModel[],
  fail: (detail: string) => never,
): Map<string, string> {
  const ids = new Map(models.map((model, index) => [model.id, index]));
  const owners = new Map<string, { index: number; field: string }>();
  const names = new Map<string, string>();
  models.forEach((model, index) => {
    const claimed: Array<[string, string]> = [
      ...(model.served_model_name !== undefined
        ? [["served_model_name", model.served_model_name] as [string, string]]
        : []),
      ...(model.aliases ?? []).map((alias) => ["aliases", alias] as [string, string]),
    ];
    for (const [field, name] of claimed) {
      if (name === model.id) continue;
      const at = `models[${index}] (${model.id}).${field}`;
      const idOf = ids.get(name);
      if (idOf !== undefined) {
        fail(`${at}: '${name}' is the id of models[${idOf}]; a name must lead to one model`);
      }
      const owner = owners.get(name);
      if (owner && owner.index !== index) {
        fail(
          `${at}: '${name}' is also the ${owner.field} of models[${owner.index}] (${
            models[owner.index].id
          }); a name must lead to one model, so give one of them another served name or alias`,
        );
      }
      owners.set(name, { index, field });
      names.set(name, model.id);
    }
  });
  return names;
}
