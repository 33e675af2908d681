// The HTTP/2 settings and limits both sides of the proxy use, from the run configuration
// (src/config/run-config.ts owns the defaults; http2SettingsOf maps them).

export interface Http2Settings {
  /** SETTINGS_MAX_CONCURRENT_STREAMS the proxy advertises to clients; past it nghttp2 refuses streams. */
  maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: what a stream may have in flight towards the proxy. */
  streamWindowBytes: number;
  /** The connection's receive window: what all streams together may have in flight. */
  connectionWindowBytes: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE (decoded); past it a stream is refused (ENHANCE_YOUR_CALM). */
  maxHeaderListBytes: number;
  maxHeaderListPairs: number;
  /** Compressed bytes of one header block, and CONTINUATION frames in one. */
  maxHeaderBlockBytes: number;
  maxContinuations: number;
  /** SETTINGS or PING frames a client may send in a second. */
  maxControlPerSecond: number;
  /** Streams a connection opens before the rapid-reset rule (half of them reset) applies. */
  resetMinStreams: number;
  /** node:http2 maxSessionMemory, in MB. */
  maxSessionMemoryMb: number;
  /** A connection without open streams for this long is closed with GOAWAY; 0: never. */
  idleTimeoutMs: number;
  /** Route timeout of every forwarded stream, end of request to end of response; 0: none. */
  requestTimeoutMs: number;
  /** Cap on a gRPC call's grpc-timeout deadline; 0: no cap (the header alone). */
  maxGrpcTimeoutMs: number;
}

/** nghttp2 1.61 refuses a header block of more CONTINUATION frames than this itself. */
const NGHTTP2_MAX_CONTINUATIONS = 8;

/** The run configuration values the HTTP/2 session uses (src/config/run-config.ts owns the defaults). */
export interface Http2Config {
  readonly http2MaxConcurrentStreams: number;
  readonly http2StreamWindowBytes: number;
  readonly http2ConnectionWindowBytes: number;
  readonly http2MaxHeaderListPairs: number;
  readonly http2MaxControlFramesPerSecond: number;
  readonly http2ResetMinStreams: number;
  readonly http2MaxSessionMemoryMb: number;
  readonly maxHeaderBytes: number;
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxGrpcTimeoutMs: number;
}

export function http2SettingsOf(c: Http2Config): Http2Settings {
  return Object.freeze({
    maxConcurrentStreams: c.http2MaxConcurrentStreams,
    streamWindowBytes: c.http2StreamWindowBytes,
    connectionWindowBytes: c.http2ConnectionWindowBytes,
    maxHeaderListBytes: c.maxHeaderBytes,
    maxHeaderListPairs: c.http2MaxHeaderListPairs,
    maxHeaderBlockBytes: c.maxHeaderBytes,
    maxContinuations: NGHTTP2_MAX_CONTINUATIONS,
    maxControlPerSecond: c.http2MaxControlFramesPerSecond,
    resetMinStreams: c.http2ResetMinStreams,
    maxSessionMemoryMb: c.http2MaxSessionMemoryMb,
    idleTimeoutMs: c.idleTimeoutMs,
    requestTimeoutMs: c.requestTimeoutMs,
    maxGrpcTimeoutMs: c.maxGrpcTimeoutMs,
  });
}
