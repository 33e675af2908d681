// Secrets never reach flow records: credentials and session headers are replaced, URL
// user-info is removed, and (when configured) query values are hidden, as Hubble's
// --hubble-redact-http-* options do. Redaction happens when the record is built, so the
// log, the ring buffer and /flows all see the same redacted record.

export const REDACTED = "[REDACTED]";

/** Longest URL kept in a record; request targets may be up to the header limit. */
export const MAX_RECORDED_URL = 4096;

const SENSITIVE_HEADERS = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-api-key",
  "api-key",
  "apikey",
  "x-auth-token",
  "x-access-token",
  "x-csrf-token",
  "x-xsrf-token",
  "x-amz-security-token",
  "x-goog-iam-authorization-token",
]);

// Headers named like credentials that the list above does not know (x-vendor-session-token,
// x-internal-secret...). Over-redacting a harmless header costs less than leaking a key.
const SENSITIVE_NAME = /(auth|token|secret|passw|cookie|session|api-?key|credential|signature)/;

export function isSensitiveHeader(nameLower: string): boolean {
  return SENSITIVE_HEADERS.has(nameLower) || SENSITIVE_NAME.test(nameLower);
}

export interface RecordedHeader {
  key: string;
  value: string;
}

export function redactHeaders(headers: readonly (readonly [string, string])[]): RecordedHeader[] {
  return headers.map(([name, value]) => {
    const key = name.toLowerCase();
    return { key, value: isSensitiveHeader(key) ? REDACTED : value };
  });
}

export interface UrlRedaction {
  /** Replace every query parameter's value (keys stay, to help debugging). */
  query: boolean;
}

export function redactUrl(url: string, opts: UrlRedaction): string {
  let out = url;
  // Absolute-form targets (proxies, CONNECT-less forward requests) may carry user:password@.
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#@]*@)/.exec(out);
  if (scheme !== null) out = `${scheme[1]}${REDACTED}@${out.slice(scheme[0].length)}`;
  if (opts.query) {
    const q = out.indexOf("?");
    if (q >= 0) {
      const hash = out.indexOf("#", q);
      const end = hash >= 0 ? hash : out.length;
      const params = out
        .slice(q + 1, end)
        .split("&")
        .map((p) => {
          const eq = p.indexOf("=");
          return eq >= 0 ? `${p.slice(0, eq)}=${REDACTED}` : p;
        })
        .join("&");
      out = `${out.slice(0, q + 1)}${params}${out.slice(end)}`;
    }
  }
  if (out.length > MAX_RECORDED_URL) out = `${out.slice(0, MAX_RECORDED_URL)}...`;
  return out;
}
