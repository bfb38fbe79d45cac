import type { FastifyReply, FastifyRequest } from "fastify";
import {
  clearSessionCookies,
  csrfTokenFor,
  readCookie,
  setSessionCookies,
} from "./session-cookie.ts";

function fakeReply() {
  const cookies: string[] = [];
  const reply = {
    header(name: string, value: string) {
      if (name === "set-cookie") cookies.push(value);
      return reply;
    },
  };
  return { reply: reply as unknown as FastifyReply, cookies };
}

const overHttps = { protocol: "https" } as FastifyRequest;
const overHttp = { protocol: "http" } as FastifyRequest;

describe("session cookies", () => {
  it("marks both cookies Secure over HTTPS only, the session one HttpOnly only", () => {
    const secure = fakeReply();
    setSessionCookies(secure.reply, overHttps, "mp_sess_abc", 3600);
    expect(secure.cookies).toEqual([
      "mp_session=mp_sess_abc; HttpOnly; Path=/; Max-Age=3600; SameSite=Lax; Secure",
      `mp_csrf=${csrfTokenFor("mp_sess_abc")}; Path=/; Max-Age=3600; SameSite=Lax; Secure`,
    ]);
    const plain = fakeReply();
    setSessionCookies(plain.reply, overHttp, "mp_sess_abc", 3600);
    expect(plain.cookies.every((cookie) => !cookie.includes("Secure"))).toBe(true);
  });

  it("clears both cookies with an expiry in the past", () => {
    const { reply, cookies } = fakeReply();
    clearSessionCookies(reply, overHttp);
    expect(cookies).toHaveLength(2);
    for (const cookie of cookies) {
      expect(cookie).toMatch(/=; .*Max-Age=0.*Expires=Thu, 01 Jan 1970/);
    }
  });

  it("binds the CSRF token to the session token", () => {
    expect(csrfTokenFor("mp_sess_a")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(csrfTokenFor("mp_sess_a")).not.toBe(csrfTokenFor("mp_sess_b"));
  });

  it("reads one cookie out of a Cookie header, and nothing out of anything else", () => {
    expect(readCookie("a=1; mp_session=tok; b=2", "mp_session")).toBe("tok");
    expect(readCookie("xmp_session=tok", "mp_session")).toBeUndefined();
    expect(readCookie("mp_session=", "mp_session")).toBeUndefined();
    expect(readCookie(undefined, "mp_session")).toBeUndefined();
    expect(readCookie(["mp_session=tok"], "mp_session")).toBeUndefined();
  });
});
