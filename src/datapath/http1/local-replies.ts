// The responses the proxy writes itself, byte for byte. The 403 matches what Cilium's Envoy
// sends for a denied HTTP/1.1 request (sendLocalReply: content-length, content-type
// text/plain, date; body "Access denied\r\n"; headers only for HEAD). Envoy also sends
// "server: envoy"; l7proxy sends no server header rather than claim to be Envoy.
// Replies to broken requests say "connection: close" because the connection is closed
// right after them.

const DENIED_BODY = "Access denied\r\n";
const UPSTREAM_FAILURE_BODY = "upstream connect error or disconnect/reset before headers\r\n";
/** Envoy's body when the route timeout passes before the response head. */
const UPSTREAM_TIMEOUT_BODY = "upstream request timeout";

let cachedSecond = -1;
let cachedDate = "";

/** IMF-fixdate (RFC 9110 §5.6.7), recomputed at most once a second. */
export function httpDate(nowMs: number = Date.now()): string {
  const second = Math.floor(nowMs / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(second * 1000).toUTCString();
  }
  return cachedDate;
}

/** "close" when the connection closes after the reply; "keep-alive" for HTTP/1.0 clients that keep it. */
export type ConnectionToken = "close" | "keep-alive" | null;

function reply(status: string, body: string, connection: ConnectionToken, headOnly: boolean): Buffer {
  const head =
    `HTTP/1.1 ${status}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncontent-type: text/plain\r\n` +
    `date: ${httpDate()}\r\n${connection === null ? "" : `connection: ${connection}\r\n`}\r\n`;
  return Buffer.from(headOnly ? head : head + body, "latin1");
}

/**
 * The 403 for a denied request. `connection` is "close" when the connection is closed after
 * it, and "keep-alive" for an HTTP/1.0 client that asked to keep it (HTTP/1.0 closes otherwise).
 */
export function deniedResponse(opts: { headOnly: boolean; connection: ConnectionToken }): Buffer {
  // The usual 403 (keep-alive, with body) only changes with the date: built once a second.
  if (opts.connection === null && !opts.headOnly) {
    const date = httpDate();
    if (date !== denied403Date) {
      denied403Date = date;
      denied403 = reply("403 Forbidden", DENIED_BODY, null, false);
    }
    return denied403;
  }
  return reply("403 Forbidden", DENIED_BODY, opts.connection, opts.headOnly);
}

let denied403Date = "";
let denied403: Buffer = Buffer.alloc(0);

/**
 * The 307 Envoy sends for a path with escaped slashes (UNESCAPE_AND_REDIRECT): an empty body
 * and the normalized path and query as the location.
 */
export function redirectResponse(opts: { location: string; connection: ConnectionToken }): Buffer {
  const c = opts.connection;
  return Buffer.from(
    `HTTP/1.1 307 Temporary Redirect\r\nlocation: ${opts.location}\r\ncontent-length: 0\r\n` +
      `date: ${httpDate()}\r\n${c === null ? "" : `connection: ${c}\r\n`}\r\n`,
    "latin1",
  );
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** The reply to a request the proxy refuses to parse or could not deliver; always closes. */
export function errorResponse(status: 400 | 408 | 431 | 502 | 503 | 504 | 505, headOnly = false): Buffer {
  const reason = REASONS[status]!;
  const body = status === 503 ? UPSTREAM_FAILURE_BODY : status === 504 ? UPSTREAM_TIMEOUT_BODY : `${reason}\r\n`;
  return reply(`${status} ${reason}`, body, "close", headOnly);
}
