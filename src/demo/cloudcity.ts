// Cilium's gRPC example (Documentation/security/grpc.rst), as real @grpc/grpc-js peers: Cloud
// City's door manager (cloudcity.DoorManager on port 50051) and a terminal that calls it. The
// service definition is proxy-config/cloudcity/door-manager.proto.
//   node cloudcity.js serve PORT                       the door manager
//   node cloudcity.js call TARGET METHOD [DOOR_ID]     one call; prints a JSON line:
//     {"method":"GetName","ok":true,"reply":{...}} or {"method":...,"ok":false,"code":7,"status":"PERMISSION_DENIED","details":"Access denied\r\n"}

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as GrpcJs from "@grpc/grpc-js";
import { REPO_ROOT } from "../netns/cluster.js";
import { loadGrpc } from "./grpc-echo-server.js";

export const DOOR_MANAGER_PROTO = join(REPO_ROOT, "proxy-config", "cloudcity", "door-manager.proto");
export const DOOR_METHODS = ["GetName", "GetLocation", "RequestMaintenance", "SetAccessCode"] as const;
export type DoorMethod = (typeof DOOR_METHODS)[number];

type Unary = (req: unknown, cb: (err: GrpcJs.ServiceError | null, reply?: unknown) => void) => void;
interface DoorPackage {
  cloudcity: { DoorManager: GrpcJs.ServiceClientConstructor };
}

async function doorPackage(): Promise<{ grpc: typeof GrpcJs; pkg: DoorPackage }> {
  const grpc = await loadGrpc();
  let loader: typeof import("@grpc/proto-loader");
  try {
    loader = await import("@grpc/proto-loader");
  } catch {
    throw new Error("@grpc/proto-loader is not installed (npm ci installs it with the development dependencies)");
  }
  const def = loader.loadSync(DOOR_MANAGER_PROTO, { defaults: true });
  return { grpc, pkg: grpc.loadPackageDefinition(def) as unknown as DoorPackage };
}

export async function startDoorManager(port: number, host = "0.0.0.0"): Promise<GrpcJs.Server> {
  const { grpc, pkg } = await doorPackage();
  const server = new grpc.Server();
  const doors: Record<number, { name: string; lat: number; long: number }> = {
    1: { name: "Spaceport Door #1", lat: 10.2, long: 68.5 },
    2: { name: "Carbon Freeze Chamber", lat: 10.3, long: 68.6 },
  };
  const door = (call: GrpcJs.ServerUnaryCall<{ door_id: number }, unknown>) => doors[call.request.door_id] ?? doors[1]!;
  server.addService(pkg.cloudcity.DoorManager.service, {
    GetName: (call: GrpcJs.ServerUnaryCall<{ door_id: number }, unknown>, cb: GrpcJs.sendUnaryData<unknown>) => cb(null, { name: door(call).name }),
    GetLocation: (call: GrpcJs.ServerUnaryCall<{ door_id: number }, unknown>, cb: GrpcJs.sendUnaryData<unknown>) => cb(null, { lat: door(call).lat, long: door(call).long }),
    RequestMaintenance: (_call: unknown, cb: GrpcJs.sendUnaryData<unknown>) => cb(null, { success: true }),
    SetAccessCode: (_call: unknown, cb: GrpcJs.sendUnaryData<unknown>) => cb(null, { success: true }),
  });
  await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return server;
}

export interface DoorCallResult {
  method: DoorMethod;
  ok: boolean;
  reply?: unknown;
  code?: number;
  status?: string;
  details?: string;
}

export async function callDoorManager(target: string, method: DoorMethod, doorId = 1): Promise<DoorCallResult> {
  const { grpc, pkg } = await doorPackage();
  const client = new pkg.cloudcity.DoorManager(target, grpc.credentials.createInsecure());
  const req = method === "RequestMaintenance" ? { door_id: doorId, maint_description: "door is stuck" } : method === "SetAccessCode" ? { door_id: doorId, access_code: 4242 } : { door_id: doorId };
  try {
    return await new Promise<DoorCallResult>((resolve) => {
      (client[method] as Unary).call(client, req, (err, reply) => {
        if (err) resolve({ method, ok: false, code: err.code, status: grpc.status[err.code], details: err.details });
        else resolve({ method, ok: true, reply });
      });
    });
  } finally {
    client.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd, a, b, c] = process.argv.slice(2);
  if (cmd === "serve") {
    void startDoorManager(Number(a ?? 50051)).then((server) => {
      process.stdout.write(`listening ${a ?? 50051}\n`);
      process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
    });
  } else if (cmd === "call" && a !== undefined && DOOR_METHODS.includes(b as DoorMethod)) {
    void callDoorManager(a, b as DoorMethod, Number(c ?? 1)).then((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
  } else {
    process.stderr.write("usage: cloudcity.js serve PORT | call TARGET GetName|GetLocation|RequestMaintenance|SetAccessCode [DOOR_ID]\n");
    process.exit(2);
  }
}
