// A gRPC upstream (@grpc/grpc-js) for tests and benchmarks: the l7test.Echo service with every
// kind of RPC. Messages are raw bytes (identity serialization, no protobuf schema needed);
// what an RPC should do comes in its request metadata. Each call, and each cancellation, is
// reported as a JSON line on stdout, so a test can tell what reached the upstream.
//   node grpc-echo-server.js PORT [HOST]
//
//   Unary      answers its request bytes; x-delay-ms: wait first; trailer x-echo-digest
//   Upload     client streaming: answers "messages bytes sha256" of what it received
//   Download   server streaming: x-count messages of x-size bytes (x-count "forever": until cancelled)
//   Chat       bidirectional: echoes each message, ends when the client does
//   Forbidden  answers; a policy is meant to deny it, so a call reaching it is a failure

import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import type * as GrpcJs from "@grpc/grpc-js";

export type Grpc = typeof GrpcJs;

const MAX_MESSAGE = 32 * 1024 * 1024;
export const ECHO_SERVICE = "l7test.Echo";

const raw = (b: Buffer): Buffer => b;

function method(name: string, requestStream: boolean, responseStream: boolean): GrpcJs.MethodDefinition<Buffer, Buffer> {
  return { path: `/${ECHO_SERVICE}/${name}`, requestStream, responseStream, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw };
}

export const ECHO_DEFINITION = {
  Unary: method("Unary", false, false),
  Upload: method("Upload", true, false),
  Download: method("Download", false, true),
  Chat: method("Chat", true, true),
  Forbidden: method("Forbidden", false, false),
} as const;

/** Bytes that depend on their offset (and a seed): a byte lost or moved changes the digest. */
export function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >>> 11)) & 0xff;
  return b;
}

export const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** @grpc/grpc-js is a development dependency: loaded only when a gRPC peer is started. */
export async function loadGrpc(): Promise<Grpc> {
  try {
    return await import("@grpc/grpc-js");
  } catch {
    throw new Error("@grpc/grpc-js is not installed (npm ci installs it with the development dependencies)");
  }
}

type Log = (o: Record<string, unknown>) => void;

/** What every kind of server call has. */
interface AnyCall {
  metadata: GrpcJs.Metadata;
  getPeer(): string;
  on(event: "cancelled", listener: () => void): unknown;
}

export async function startEchoServer(port: number, host = "127.0.0.1", log: Log = () => {}): Promise<{ server: GrpcJs.Server; port: number }> {
  const grpc = await loadGrpc();
  const server = new grpc.Server({ "grpc.max_receive_message_length": MAX_MESSAGE, "grpc.max_send_message_length": MAX_MESSAGE });
  const meta = (call: { metadata: GrpcJs.Metadata }, key: string): string | undefined => {
    const v = call.metadata.get(key)[0];
    return v === undefined ? undefined : String(v);
  };
  const seen = (call: AnyCall, name: string): void => {
    log({ event: "call", method: name, metadata: call.metadata.getMap(), peer: call.getPeer() });
    call.on("cancelled", () => log({ event: "cancelled", method: name }));
  };
  server.addService(ECHO_DEFINITION, {
    Unary(call: GrpcJs.ServerUnaryCall<Buffer, Buffer>, cb: GrpcJs.sendUnaryData<Buffer>) {
      seen(call, "Unary");
      const reply = (): void => {
        const trailer = new grpc.Metadata();
        trailer.set("x-echo-digest", sha256(call.request));
        cb(null, call.request, trailer);
      };
      const delay = Number(meta(call, "x-delay-ms") ?? 0);
      if (delay > 0) setTimeout(reply, delay);
      else reply();
    },
    Upload(call: GrpcJs.ServerReadableStream<Buffer, Buffer>, cb: GrpcJs.sendUnaryData<Buffer>) {
      seen(call, "Upload");
      const h = createHash("sha256");
      let messages = 0;
      let bytes = 0;
      call.on("data", (m: Buffer) => {
        messages++;
        bytes += m.length;
        h.update(m);
      });
      call.on("end", () => cb(null, Buffer.from(`${messages} ${bytes} ${h.digest("hex")}`)));
    },
    Download(call: GrpcJs.ServerWritableStream<Buffer, Buffer>) {
      seen(call, "Download");
      const size = Number(meta(call, "x-size") ?? 16);
      const countText = meta(call, "x-count") ?? "1";
      let i = 0;
      if (countText === "forever") {
        const t = setInterval(() => call.write(pattern(size, i++)), 20);
        call.on("cancelled", () => clearInterval(t));
        return;
      }
      const count = Number(countText);
      const pump = (): void => {
        while (i < count) {
          const ok = call.write(pattern(size, i));
          i++;
          if (!ok) return void call.once("drain", pump);
        }
        call.end();
      };
      pump();
    },
    Chat(call: GrpcJs.ServerDuplexStream<Buffer, Buffer>) {
      seen(call, "Chat");
      call.on("data", (m: Buffer) => call.write(m));
      call.on("end", () => call.end());
    },
    Forbidden(call: GrpcJs.ServerUnaryCall<Buffer, Buffer>, cb: GrpcJs.sendUnaryData<Buffer>) {
      seen(call, "Forbidden");
      cb(null, Buffer.from("should never be reached"));
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port: bound };
}

/** A client of the Echo service (a grpc-js generic client). */
export async function echoClient(target: string, options: GrpcJs.ChannelOptions = {}): Promise<GrpcJs.Client & EchoCalls> {
  const grpc = await loadGrpc();
  const Ctor = grpc.makeGenericClientConstructor(ECHO_DEFINITION, ECHO_SERVICE);
  return new Ctor(target, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": MAX_MESSAGE,
    "grpc.max_send_message_length": MAX_MESSAGE,
    ...options,
  }) as unknown as GrpcJs.Client & EchoCalls;
}

type Cb = (err: GrpcJs.ServiceError | null, value?: Buffer) => void;
export interface EchoCalls {
  Unary(req: Buffer, md: GrpcJs.Metadata, opts: GrpcJs.CallOptions, cb: Cb): GrpcJs.ClientUnaryCall;
  Upload(md: GrpcJs.Metadata, opts: GrpcJs.CallOptions, cb: Cb): GrpcJs.ClientWritableStream<Buffer>;
  Download(req: Buffer, md: GrpcJs.Metadata, opts?: GrpcJs.CallOptions): GrpcJs.ClientReadableStream<Buffer>;
  Chat(md: GrpcJs.Metadata, opts?: GrpcJs.CallOptions): GrpcJs.ClientDuplexStream<Buffer, Buffer>;
  Forbidden(req: Buffer, md: GrpcJs.Metadata, opts: GrpcJs.CallOptions, cb: Cb): GrpcJs.ClientUnaryCall;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 50051);
  const log: Log = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
  void startEchoServer(port, process.argv[3] ?? "0.0.0.0", log).then(({ server, port: bound }) => {
    process.stdout.write(`listening ${bound}\n`);
    process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
  });
}
