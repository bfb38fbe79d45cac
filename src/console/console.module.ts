import { Module } from "@nestjs/common";
import { ConsoleFiles } from "./console-files.ts";
import { ConsoleController } from "./console.controller.ts";

/** Serves the web console built into console/dist (see console/ and the README). */
@Module({
  controllers: [ConsoleController],
  providers: [{ provide: ConsoleFiles, useFactory: () => new ConsoleFiles() }],
})
export class ConsoleModule {}
