import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { downloadOutput } from "./output-download.ts";
import { WorkerOutputError } from "./worker-formats.ts";

describe("downloadOutput", () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/file") return void res.end("png-bytes");
      if (req.url === "/redirect") {
        res.writeHead(302, { location: "/file" });
        return void res.end();
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("refuses anything but http(s) URLs", async () => {
    const options = { allowPrivate: true };
    await expect(downloadOutput("file:///etc/passwd", options)).rejects.toThrow(WorkerOutputError);
    await expect(downloadOutput("ftp://example.com/x.png", options)).rejects.toThrow(
      /only http and https/,
    );
    await expect(downloadOutput("not a url", options)).rejects.toThrow(WorkerOutputError);
  });

  it("downloads from loopback only when private addresses are allowed or the origin is trusted", async () => {
    expect(new TextDecoder().decode(await downloadOutput(`${base}/file`, { allowPrivate: true })))
      .toBe("png-bytes");
    await expect(downloadOutput(`${base}/file`, { allowPrivate: false })).rejects.toThrow(
      /private, loopback or metadata/,
    );
    await expect(downloadOutput(`${base}/file`, { allowPrivate: false, trustedOrigins: [base] }))
      .resolves.toHaveLength(9);
  });

  it("refuses a redirect instead of following it, and a 4xx as a bad output", async () => {
    await expect(downloadOutput(`${base}/redirect`, { allowPrivate: true })).rejects.toThrow(
      /redirect \(302\)/,
    );
    await expect(downloadOutput(`${base}/missing`, { allowPrivate: true })).rejects.toThrow(
      WorkerOutputError,
    );
  });
});
