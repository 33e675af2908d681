// The HTTP/2 connection(s) from one client connection to its original destination: the
// upstream speaks what the client spoke (Cilium's useDownstreamProtocolConfig). Opened on the
// first allowed stream through the connection's own upstream path (connectUpstream: the
// original destination, the client's source address where that is preserved), with the core
// node:http2 client API. When the upstream sends GOAWAY (a rolling restart of the server),
// streams already on it finish there and new streams go to a new connection.
//
// Each upstream connection's inbound frames are scanned for END_STREAM (end-stream-ledger.ts),
// because node:http2 reports a response the upstream cut short with RST_STREAM(NO_ERROR) as
// complete (nodejs/node #35209).

import { connect, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from "node:http2";
import type { Socket } from "node:net";
import { EndStreamLedger } from "./end-stream-ledger.js";
import { FLAG_END_STREAM, FRAME, FrameScanner, type FrameSink } from "./frame-scanner.js";
import type { Http2Settings } from "./session-settings.js";
import { SocketTap } from "./socket-tap.js";

export interface UpstreamStream {
  stream: ClientHttp2Stream;
  /** Whether END_STREAM really arrived on it (ask once, when its readable side has ended). */
  endedCleanly(): boolean;
  /** The same, without forgetting the stream. */
  endedCleanlyPeek(): boolean;
}

class UpstreamFrames implements FrameSink {
  constructor(readonly ledger: EndStreamLedger) {}
  frame(type: number, flags: number, streamId: number): boolean {
    if ((type === FRAME.DATA || type === FRAME.HEADERS) && (flags & FLAG_END_STREAM) !== 0) this.ledger.ended(streamId);
    return true;
  }
}

interface Link {
  session: ClientHttp2Session;
  ledger: EndStreamLedger;
  usable: boolean;
}

export class UpstreamLink {
  #current: Link | null = null;
  readonly #all = new Set<Link>();
  #closing = false;

  constructor(
    private readonly connectSocket: () => Socket,
    /** http://host:port of the original destination (the default :authority). */
    private readonly origin: string,
    private readonly settings: Http2Settings,
    private readonly onError: (err: Error) => void,
  ) {}

  request(headers: OutgoingHttpHeaders, endStream: boolean): UpstreamStream {
    const link = this.#link();
    const stream = link.session.request(headers, endStream ? { endStream: true } : { endStream: false, waitForTrailers: true });
    const ledger = link.ledger;
    return {
      stream,
      endedCleanly: () => stream.id !== undefined && ledger.take(stream.id),
      endedCleanlyPeek: () => stream.id !== undefined && ledger.has(stream.id),
    };
  }

  /** No new streams; connections close once their streams are done. */
  close(): void {
    this.#closing = true;
    for (const l of this.#all) if (!l.session.destroyed) l.session.close();
  }

  destroy(): void {
    this.#closing = true;
    for (const l of this.#all) l.session.destroy();
  }

  #link(): Link {
    const cur = this.#current;
    if (cur !== null && cur.usable && !cur.session.closed && !cur.session.destroyed) return cur;
    if (this.#closing) throw new Error("upstream link closed");
    const ledger = new EndStreamLedger(4 * this.settings.maxConcurrentStreams + 64);
    const socket = this.connectSocket();
    const tap = new SocketTap(socket, new FrameScanner(new UpstreamFrames(ledger)), null);
    tap.start();
    const session = connect(this.origin, {
      createConnection: () => tap,
      settings: { enablePush: false, initialWindowSize: this.settings.streamWindowBytes, maxHeaderListSize: this.settings.maxHeaderListBytes },
      maxHeaderListPairs: this.settings.maxHeaderListPairs,
      maxSessionMemory: this.settings.maxSessionMemoryMb,
    });
    const link: Link = { session, ledger, usable: true };
    this.#all.add(link);
    this.#current = link;
    session.once("connect", () => {
      if (this.settings.connectionWindowBytes > 65_535 && !session.destroyed) session.setLocalWindowSize(this.settings.connectionWindowBytes);
    });
    session.on("goaway", () => (link.usable = false));
    session.on("error", (err: Error) => {
      link.usable = false;
      this.onError(err);
    });
    session.on("close", () => {
      link.usable = false;
      this.#all.delete(link);
      if (this.#current === link) this.#current = null;
    });
    return link;
  }
}
