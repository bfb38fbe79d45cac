import { Module } from "@nestjs/common";
import { ApiDocsController } from "./api-docs.controller.ts";
import { ApiDocsService } from "./api-docs.service.ts";

/** `GET /openapi.json` and the `/docs` reference; createApp attaches the app to the service. */
@Module({
  controllers: [ApiDocsController],
  providers: [ApiDocsService],
  exports: [ApiDocsService],
})
export class ApiDocsModule {}
