// What a framer reports when the bytes are not HTTP/1.1 it will forward: a stable error code
// (src/errors/codes.ts) and the status the client is answered with before the connection is
// closed.

import type { ErrorCode } from "../../errors/codes.js";

export type ParseErrorStatus = 400 | 431 | 502 | 505;

export interface HttpParseError {
  readonly code: ErrorCode;
  /** 400, 431 for limits, 505 for a version other than 1.0/1.1; 502 for a bad upstream response. */
  readonly status: ParseErrorStatus;
  readonly message: string;
}

export function parseError(code: ErrorCode, status: ParseErrorStatus, message: string): HttpParseError {
  return { code, status, message };
}
