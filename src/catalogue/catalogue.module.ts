import { Module } from "@nestjs/common";
import { ModelCatalogue } from "./catalogue.ts";

/** The model catalogue (MODELS_FILE or the built-in one), for generation and inference. */
@Module({
  providers: [ModelCatalogue],
  exports: [ModelCatalogue],
})
export class CatalogueModule {}
