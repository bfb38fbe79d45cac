import { clientTracker } from "./client-address.ts";

describe("clientTracker", () => {
  it("keeps IPv4 addresses whole, mapped or not", () => {
    expect(clientTracker("198.51.100.7")).toBe("198.51.100.7");
    expect(clientTracker("::ffff:198.51.100.7")).toBe("198.51.100.7");
  });

  it("groups IPv6 addresses by their /64", () => {
    const prefix = "2001:db8:aa:bb::/64";
    expect(clientTracker("2001:db8:aa:bb::1")).toBe(prefix);
    expect(clientTracker("2001:0db8:00aa:00bb:ffff:ffff:ffff:ffff")).toBe(prefix);
    expect(clientTracker("2001:DB8:AA:BB:1:2:3.4.5.6")).toBe(prefix);
    expect(clientTracker("2001:db8:aa:bb::1%eth0")).toBe(prefix);
    expect(clientTracker("2001:db8:aa:bc::1")).toBe("2001:db8:aa:bc::/64");
    expect(clientTracker("::1")).toBe("0:0:0:0::/64");
    expect(clientTracker("2001:db8::")).toBe("2001:db8:0:0::/64");
  });
});
