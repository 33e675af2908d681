// Drives the framers over a list of reads the way the session does, and collects what a
// proxy would do with the bytes: which heads, which body bytes, where requests end.

import * as rf from "../../../../src/datapath/http1/request-framer.js";
import * as sf from "../../../../src/datapath/http1/response-framer.js";
import type { HttpParseError } from "../../../../src/datapath/http1/parse-error.js";
import type { RequestHead } from "../../../../src/datapath/http1/request-head.js";
import type { ResponseContext, ResponseHead } from "../../../../src/datapath/http1/response-head.js";

export interface FramedRequest {
  head: RequestHead;
  body: Buffer;
  ended: boolean;
}

export interface RequestRun {
  requests: FramedRequest[];
  error: HttpParseError | null;
  stopped: "paused" | "closed" | null;
  /** Bytes not consumed because the framer paused or closed. */
  rest: Buffer;
}

export function frameRequests(chunks: Buffer[], limits: Partial<rf.RequestLimits> = {}): RequestRun {
  const framer = new rf.RequestFramer(limits);
  const out: RequestRun = { requests: [], error: null, stopped: null, rest: Buffer.alloc(0) };
  const bodies: Buffer[][] = [];
  for (let c = 0; c < chunks.length; c++) {
    const buf = chunks[c]!;
    let pos = 0;
    for (;;) {
      const ev = framer.execute(buf, pos);
      if (ev === rf.NEED_MORE) break;
      if (ev === rf.ERROR) {
        out.error = framer.error;
        return finish(out, bodies);
      }
      if (ev === rf.PAUSED || ev === rf.CLOSED) {
        out.stopped = ev === rf.PAUSED ? "paused" : "closed";
        out.rest = Buffer.concat([buf.subarray(pos), ...chunks.slice(c + 1)]);
        return finish(out, bodies);
      }
      if (ev === rf.HEAD) {
        out.requests.push({ head: framer.head!, body: Buffer.alloc(0), ended: false });
        bodies.push([]);
      } else if (ev === rf.BODY) {
        bodies[bodies.length - 1]!.push(buf.subarray(framer.bodyStart, framer.pos));
      } else if (ev === rf.END) {
        out.requests[out.requests.length - 1]!.ended = true;
      }
      pos = framer.pos;
    }
  }
  return finish(out, bodies);
}

function finish(out: RequestRun, bodies: Buffer[][]): RequestRun {
  out.requests.forEach((r, i) => (r.body = Buffer.concat(bodies[i]!)));
  return out;
}

export interface FramedResponse {
  heads: ResponseHead[];
  body: Buffer;
  ended: boolean;
  upgraded: boolean;
}

/** Frames responses to the given requests in order; `eof` says the upstream closed after the last read. */
export function frameResponses(
  chunks: Buffer[],
  requests: ResponseContext[],
  eof = false,
): { responses: FramedResponse[]; error: HttpParseError | null; truncated: boolean } {
  const framer = new sf.ResponseFramer();
  const responses: FramedResponse[] = [];
  let next = 0;
  const start = () => {
    if (next < requests.length) {
      framer.begin(requests[next++]!);
      responses.push({ heads: [], body: Buffer.alloc(0), ended: false, upgraded: false });
    }
  };
  start();
  const cur = () => responses[responses.length - 1]!;
  for (const buf of chunks) {
    let pos = 0;
    for (;;) {
      const ev = framer.execute(buf, pos);
      if (ev === sf.NEED_MORE) break;
      if (ev === sf.ERROR) return { responses, error: framer.error, truncated: false };
      if (ev === sf.UPGRADE) {
        cur().heads.push(framer.head!);
        cur().upgraded = true;
        cur().body = buf.subarray(framer.pos);
        return { responses, error: null, truncated: false };
      }
      if (ev === sf.HEAD) cur().heads.push(framer.head!);
      else if (ev === sf.BODY) cur().body = Buffer.concat([cur().body, buf.subarray(framer.bodyStart, framer.pos)]);
      else if (ev === sf.END) {
        cur().ended = true;
        start();
      }
      pos = framer.pos;
    }
  }
  let truncated = false;
  if (eof) {
    const wasInBody = framer.inBody;
    const ok = framer.endOfStream();
    if (ok && wasInBody) cur().ended = true;
    truncated = !ok;
  }
  return { responses, error: null, truncated };
}

/** Cuts buf into pieces at random places (1 to maxPiece bytes each). */
export function randomSplit(buf: Buffer, rand: () => number, maxPiece: number): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    const n = 1 + Math.floor(rand() * maxPiece);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return out;
}

export function bytewise(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) out.push(buf.subarray(i, i + 1));
  return out;
}
