// Counts HTTP/1.1 responses on a keep-alive connection, incrementally, without copying
// bodies: only the head is buffered; body bytes (Content-Length or chunked) are skipped as
// they arrive. The load generator needs the status of each response and the moment its last
// byte arrived, nothing more.

const CRLFCRLF = Buffer.from("\r\n\r\n");
const MAX_HEAD = 64 * 1024;

export class ResponseParseError extends Error {}

type State =
  | { kind: "head" }
  | { kind: "body"; remaining: number }
  | { kind: "chunk-size" }
  | { kind: "chunk-data"; remaining: number }
  | { kind: "trailer" };

export class ResponseParser {
  #pending: Buffer | null = null;
  #state: State = { kind: "head" };
  #status = 0;
  /** Whether the current response said `connection: close`. */
  closeAfter = false;

  constructor(private readonly onResponse: (status: number, close: boolean) => void) {}

  /** True between responses: nothing of a next response has arrived yet. */
  get idle(): boolean {
    return this.#state.kind === "head" && this.#pending === null;
  }

  feed(chunk: Buffer): void {
    const buf = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = null;
    let off = 0;
    while (off < buf.length) {
      const st = this.#state;
      if (st.kind === "body" || st.kind === "chunk-data") {
        const take = Math.min(st.remaining, buf.length - off);
        st.remaining -= take;
        off += take;
        if (st.remaining > 0) break;
        if (st.kind === "body") this.#finish();
        else this.#state = { kind: "chunk-size" };
        continue;
      }
      const end = st.kind === "head" ? buf.indexOf(CRLFCRLF, off) : buf.indexOf("\r\n", off);
      if (end < 0) {
        if (buf.length - off > MAX_HEAD) throw new ResponseParseError("response head larger than 64 KiB");
        this.#pending = buf.subarray(off);
        break;
      }
      if (st.kind === "head") {
        this.#head(buf.toString("latin1", off, end));
        off = end + 4;
      } else if (st.kind === "chunk-size") {
        // A chunk's data ends with CRLF, which shows up here as an empty line first.
        const line = buf.toString("latin1", off, end);
        off = end + 2;
        if (line === "") continue;
        const size = parseInt(line, 16);
        if (!Number.isFinite(size) || size < 0) throw new ResponseParseError(`bad chunk size ${JSON.stringify(line)}`);
        this.#state = size === 0 ? { kind: "trailer" } : { kind: "chunk-data", remaining: size };
      } else {
        const empty = end === off;
        off = end + 2;
        if (empty) this.#finish();
      }
    }
  }

  #head(head: string): void {
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (m === null) throw new ResponseParseError(`not an HTTP/1 status line: ${JSON.stringify(head.slice(0, 40))}`);
    this.#status = Number(m[1]);
    const lower = head.toLowerCase();
    this.closeAfter = /\r\nconnection:[ \t]*close/.test(lower);
    const cl = /\r\ncontent-length:[ \t]*(\d+)/.exec(lower);
    if (/\r\ntransfer-encoding:[^\r]*chunked/.test(lower)) this.#state = { kind: "chunk-size" };
    else if (cl !== null && Number(cl[1]) > 0) this.#state = { kind: "body", remaining: Number(cl[1]) };
    else if (cl !== null || this.#status === 204 || this.#status === 304 || this.#status < 200) this.#finish();
    else throw new ResponseParseError("response without content-length or chunked encoding (read-until-close is not supported)");
  }

  #finish(): void {
    this.#state = { kind: "head" };
    this.onResponse(this.#status, this.closeAfter);
  }
}
