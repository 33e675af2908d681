// What every part of an HTTP/1 session (client side, upstream side, timers) asks of the session
// as a whole: the session object implements it, so no part reaches into another's state.

import type { ErrorCode } from "../../errors/codes.js";
import type { Exchange } from "./http1-exchange.js";

export interface SessionControl<V> {
  /** Ends the client connection after what was written (see SocketPair.closeGracefully). */
  closeGracefully(): void;
  /** Resets both connections. */
  abort(): void;
  /** Runs an event handler: a throw resets both connections (fail closed). */
  guard(fn: () => void): void;
  /** The exchange is done with (answered, or the connection died): its record goes out. */
  report(ex: Exchange<V>): void;
  /** The oldest exchange, of which nothing was sent yet, gets a local error answer and the connection closes. */
  answerOldestAndClose(ex: Exchange<V>, status: 502 | 503 | 504): void;
  connectionError(code: ErrorCode, detail: string): void;
}
