import { type INestApplication, Injectable } from "@nestjs/common";
import { buildOpenApiDocument } from "./openapi-document.ts";

/**
 * Holds the generated document. The swagger scanner needs the application object itself, which
 * no provider can inject, so createApp hands it over (attach); the document is built on first
 * request (routes never change once the app is built) and served from memory afterwards.
 */
@Injectable()
export class ApiDocsService {
  private app?: INestApplication;
  private json?: string;

  attach(app: INestApplication): void {
    this.app = app;
  }

  documentJson(): string {
    if (this.json === undefined) {
      if (!this.app) throw new Error("ApiDocsService.attach(app) was not called by createApp");
      this.json = JSON.stringify(buildOpenApiDocument(this.app));
    }
    return this.json;
  }
}
