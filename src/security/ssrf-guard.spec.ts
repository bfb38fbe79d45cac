import { checkUpstreamUrl, isPrivateAddress } from "./ssrf-guard.ts";

/** The host as WHATWG URL writes it (how the guard sees a literal in a base URL). */
const hostOf = (url: string) => new URL(url).hostname.replace(/^\[|\]$/g, "");

describe("isPrivateAddress", () => {
  it.each([
    ["IPv4-compatible ::127.0.0.1 (URL form ::7f00:1)", hostOf("http://[::127.0.0.1]/")],
    ["IPv4-compatible metadata ::169.254.169.254", hostOf("http://[::169.254.169.254]/")],
    ["IPv4-compatible public ::8.8.8.8", "::8.8.8.8"],
    ["SIIT ::ffff:0:127.0.0.1 (URL form ::ffff:0:7f00:1)", hostOf("http://[::ffff:0:127.0.0.1]/")],
    ["SIIT ::ffff:0:10.0.0.1", "::ffff:0:10.0.0.1"],
    ["NAT64 64:ff9b::7f00:1", "64:ff9b::7f00:1"],
    ["local NAT64 64:ff9b:1::a00:1", "64:ff9b:1::a00:1"],
    ["local NAT64 64:ff9b:1:ffff::1", "64:ff9b:1:ffff::1"],
    ["6to4 relay 192.88.99.1", "192.88.99.1"],
    ["6to4 2002:7f00:1::1", "2002:7f00:1::1"],
    ["Teredo 2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136:e378:8000:63bf:3fff:fdd2"],
    ["documentation 2001:db8::1", "2001:db8::1"],
    ["documentation 3fff::1", "3fff::1"],
    ["discard 100::1", "100::1"],
    ["unique local fd00:ec2::254", "fd00:ec2::254"],
    ["link-local fe80::1", "fe80::1"],
    ["link-local with zone fe80::1%eth0", "fe80::1%eth0"],
    ["multicast ff02::1", "ff02::1"],
    ["loopback ::1", "::1"],
    ["unspecified ::", "::"],
    ["mapped loopback ::ffff:127.0.0.1", "::ffff:127.0.0.1"],
    ["mapped hex loopback ::ffff:7f00:1", "::ffff:7f00:1"],
    ["mapped metadata ::ffff:a9fe:a9fe", "::ffff:a9fe:a9fe"],
    ["loopback 127.0.0.1", "127.0.0.1"],
    ["metadata 169.254.169.254", "169.254.169.254"],
    ["CGNAT 100.64.0.1", "100.64.0.1"],
    ["benchmarking 198.18.0.1", "198.18.0.1"],
    ["broadcast 255.255.255.255", "255.255.255.255"],
    ["not an address", "example.com"],
  ])("refuses %s", (_name, address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "192.88.100.1",
    "::ffff:8.8.8.8",
    "::ffff:808:808",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001:80b::200e",
    "2001:200::1",
  ])("allows the public address %s", (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });
});

describe("checkUpstreamUrl", () => {
  it.each([
    "http://[::127.0.0.1]:11434/v1",
    "http://[::ffff:0:127.0.0.1]/v1",
    "http://[64:ff9b:1::a9fe:a9fe]/v1",
    "http://192.88.99.7/v1",
  ])("refuses the literal %s with a 400 naming base_url", async (url) => {
    await expect(checkUpstreamUrl(url, { allowPrivate: false })).rejects.toMatchObject({
      code: "upstream_address_forbidden",
      param: "base_url",
    });
  });

  it("refuses a host any of whose addresses is in the new ranges", async () => {
    const resolve = () => Promise.resolve(["2606:4700:4700::1111", "64:ff9b:1::a00:1"]);
    await expect(
      checkUpstreamUrl("https://upstream.example/v1", { allowPrivate: false, resolve }),
    ).rejects.toMatchObject({ code: "upstream_address_forbidden" });
    const publicOnly = () => Promise.resolve(["2606:4700:4700::1111"]);
    await expect(
      checkUpstreamUrl("https://upstream.example/v1", { allowPrivate: false, resolve: publicOnly }),
    ).resolves.toMatchObject({ addresses: ["2606:4700:4700::1111"] });
  });
});
