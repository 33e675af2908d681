import { describe, expect, it } from "vitest";
import { isSensitiveHeader, MAX_RECORDED_URL, REDACTED, redactHeaders, redactUrl } from "../../../src/telemetry/redact.js";

describe("header redaction", () => {
  it.each(["authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token", "x-csrf-token", "x-amz-security-token"])(
    "redacts %s",
    (name) => {
      expect(isSensitiveHeader(name)).toBe(true);
    },
  );

  it("redacts headers named like credentials it does not list", () => {
    expect(isSensitiveHeader("x-vendor-session-id")).toBe(true);
    expect(isSensitiveHeader("x-internal-secret")).toBe(true);
    expect(isSensitiveHeader("x-hub-signature-256")).toBe(true);
  });

  it("keeps ordinary headers", () => {
    for (const name of ["content-type", "user-agent", "x-request-id", "accept", "host", "x-forwarded-for"]) {
      expect(isSensitiveHeader(name)).toBe(false);
    }
  });

  it("matches names case-insensitively and keeps order and values of the rest", () => {
    expect(
      redactHeaders([
        ["AUTHORIZATION", "Basic dXNlcjpwYXNz"],
        ["Accept", "*/*"],
        ["Set-Cookie", "id=1"],
      ]),
    ).toEqual([
      { key: "authorization", value: REDACTED },
      { key: "accept", value: "*/*" },
      { key: "set-cookie", value: REDACTED },
    ]);
  });
});

describe("URL redaction", () => {
  it("removes user-info from absolute-form URLs", () => {
    expect(redactUrl("http://luke:force@deathstar/v1/", { query: false })).toBe(`http://${REDACTED}@deathstar/v1/`);
  });

  it("keeps origin-form paths and queries unless query redaction is on", () => {
    expect(redactUrl("/v1/request-landing?token=abc&x", { query: false })).toBe("/v1/request-landing?token=abc&x");
    expect(redactUrl("/v1/request-landing?token=abc&x#frag", { query: true })).toBe(`/v1/request-landing?token=${REDACTED}&x#frag`);
  });

  it("truncates very long URLs", () => {
    const out = redactUrl(`/${"a".repeat(MAX_RECORDED_URL * 2)}`, { query: false });
    expect(out.length).toBe(MAX_RECORDED_URL + 3);
    expect(out.endsWith("...")).toBe(true);
  });
});
