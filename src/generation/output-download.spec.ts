import { downloadOutput } from "./output-download.ts";
import { WorkerOutputError } from "./worker-formats.ts";

describe("downloadOutput", () => {
  it("refuses anything but http(s) URLs", async () => {
    await expect(downloadOutput("file:///etc/passwd")).rejects.toThrow(WorkerOutputError);
    await expect(downloadOutput("ftp://example.com/x.png")).rejects.toThrow(/only http and https/);
    await expect(downloadOutput("not a url")).rejects.toThrow(WorkerOutputError);
  });
});
