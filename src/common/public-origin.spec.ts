import { publicOrigin } from "./public-origin.ts";

describe("publicOrigin", () => {
  it("prefers PUBLIC_BASE_URL, without a trailing slash", () => {
    expect(publicOrigin({ protocol: "http", host: "127.0.0.1:8080" }, {
      publicBaseUrl: "https://gw.example.com/prefix/",
    })).toBe("https://gw.example.com/prefix");
  });

  it("otherwise uses the request's scheme and host, port included", () => {
    expect(publicOrigin({ protocol: "http", host: "127.0.0.1:8080" }, {}))
      .toBe("http://127.0.0.1:8080");
    expect(publicOrigin({ protocol: "https", host: "Console.Example.com" }, {}))
      .toBe("https://console.example.com");
    expect(publicOrigin({ protocol: "http", host: "[::1]:3001" }, {})).toBe("http://[::1]:3001");
    expect(publicOrigin({ headers: { host: "h.example:81" } }, {})).toBe("http://h.example:81");
  });

  it("never turns a host that is not a host name into a link", () => {
    for (const host of ["evil.example/path", "a b", "x@y", "", "h:port", "a".repeat(300)]) {
      expect(publicOrigin({ protocol: "http", host }, {})).toBe("http://localhost");
    }
    // Only http and https are schemes a link is given.
    expect(publicOrigin({ protocol: "javascript", host: "h" }, {})).toBe("http://h");
  });
});
