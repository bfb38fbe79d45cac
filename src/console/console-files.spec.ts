import { Buffer } from "node:buffer";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chooseEncoding, ConsoleFiles, notModified } from "./console-files.ts";

describe("the console's built files", () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), "console-dist-"));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it("reports no build until index.html exists, then picks it up on a later look", () => {
    const files = new ConsoleFiles(directory);
    expect(files.current(0)).toBeUndefined();
    mkdirSync(join(directory, "assets"));
    writeFileSync(join(directory, "index.html"), "<!doctype html>");
    writeFileSync(join(directory, "assets", "app-abc.js"), "console.log(1)");
    writeFileSync(join(directory, "assets", "app-abc.js.br"), "compressed");
    writeFileSync(join(directory, "assets", "..hidden"), "x");
    // Looked for again only after a pause, so a missing build costs no disk access per request.
    expect(files.current(500)).toBeUndefined();
    const build = files.current(1500);
    expect(build?.index.contentType).toBe("text/html; charset=utf-8");
    expect([...build!.assets.keys()]).toEqual(["app-abc.js"]);
    const asset = build!.assets.get("app-abc.js")!;
    expect(asset.contentType).toBe("text/javascript; charset=utf-8");
    expect(Object.keys(asset.representations).sort()).toEqual(["br", "identity"]);
    expect(asset.representations.br!.etag).not.toBe(asset.representations.identity!.etag);
  });

  it("chooses brotli, then gzip, honouring q=0 and wildcards, and ignores nonsense", () => {
    const file = {
      contentType: "text/javascript",
      lastModified: "",
      representations: {
        identity: { body: Buffer.from("a"), etag: '"a"' },
        gzip: { body: Buffer.from("g"), etag: '"g"' },
        br: { body: Buffer.from("b"), etag: '"b"' },
      },
    };
    expect(chooseEncoding(file, "gzip, deflate, br")).toBe("br");
    expect(chooseEncoding(file, "br;q=0, gzip")).toBe("gzip");
    expect(chooseEncoding(file, "*")).toBe("br");
    expect(chooseEncoding(file, "*;q=0")).toBe("identity");
    expect(chooseEncoding(file, "gzip;q=zz")).toBe("identity");
    expect(chooseEncoding(file, undefined)).toBe("identity");
    expect(chooseEncoding(file, ["br"])).toBe("identity");
  });

  it("matches If-None-Match weakly, in lists and as *", () => {
    expect(notModified('"x", W/"a"', '"a"')).toBe(true);
    expect(notModified("*", '"a"')).toBe(true);
    expect(notModified('"b"', '"a"')).toBe(false);
    expect(notModified(undefined, '"a"')).toBe(false);
  });
});
