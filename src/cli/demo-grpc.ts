// `l7proxy demo grpc`: Cilium's gRPC story (Documentation/security/grpc.rst), told on this
// machine in network namespaces with real interception and real @grpc/grpc-js peers: Cloud
// City's door manager, and a public terminal that should not set access codes.

import { CLI } from "../netns/cluster.js";
import { runIn } from "../netns/exec.js";
import { CloudCityCluster } from "../demo/cloudcity-cluster.js";
import type { DoorCallResult, DoorMethod } from "../demo/cloudcity.js";
import { Story, bold, green, red, say } from "./demo-narration.js";

export const GRPC_HELP = `Usage: l7proxy demo grpc

Tells Cilium's gRPC story in network namespaces on this machine: a node namespace running
l7proxy with TPROXY interception, Cloud City's door manager (the gRPC service
cloudcity.DoorManager on port 50051) and a public terminal calling it over HTTP/2.
  1. no policy: the terminal may ask a door's name and location, request maintenance,
     and also set the door's access code;
  2. L7 gRPC policy rule1 (proxy-config/cloudcity/grpc-policy.yaml): GetName, GetLocation
     and RequestMaintenance are still allowed, SetAccessCode gets PERMISSION_DENIED;
  3. what l7proxy observe shows.
Everything is removed at the end. Needs root, the nft and ip commands, and the development
dependencies (@grpc/grpc-js, @grpc/proto-loader: npm ci).
`;


function describeCall(r: DoorCallResult): string {
  if (r.ok) return `${r.method}: ${JSON.stringify(r.reply)}`;
  if (r.status !== undefined) return `${r.method}: ${r.status} (${JSON.stringify(r.details)})`;
  return `${r.method}: ${r.details ?? "failed"}`;
}

export async function grpcDemo(): Promise<number> {
  const cluster = new CloudCityCluster(`cc${process.pid % 100000}`);
  const story = new Story();
  const call = async (method: DoorMethod, expectOk: boolean): Promise<void> => {
    say(`$ kubectl exec terminal-87 -- cc_door_client ${method} 1`);
    const r = await cluster.call(method);
    say(r.ok ? green(describeCall(r)) : red(describeCall(r)));
    if (r.ok !== expectOk || (!expectOk && r.status !== "PERMISSION_DENIED")) story.fail();
  };
  return story.tell(cluster, "The story held: the terminal still reads and maintains doors, but cannot set an access code.", async () => {
    say(bold("Setting up: a node namespace running l7proxy, cc-door-mgr (gRPC on 50051), terminal-87"));
    say("(cc_door_client is a @grpc/grpc-js client of cloudcity.DoorManager running in terminal-87)");
    await cluster.start();
    say();
    say(bold("Step 1: no policy. The public terminal can do anything, even set access codes."));
    for (const m of ["GetName", "GetLocation", "RequestMaintenance", "SetAccessCode"] as const) await call(m, true);
    say();
    say(bold("Step 2: L7 gRPC policy rule1: public terminals may only call GetName, GetLocation, RequestMaintenance."));
    say("$ kubectl apply -f proxy-config/cloudcity/grpc-policy.yaml");
    await cluster.applyPolicy("grpc-policy.yaml");
    for (const m of ["GetName", "GetLocation", "RequestMaintenance"] as const) await call(m, true);
    await call("SetAccessCode", false);
    say();
    say(bold("What the proxy saw (each gRPC call is one HTTP/2 stream, decided on its own):"));
    say("$ l7proxy observe --last 4");
    const observed = await runIn(cluster.topo.nodeNetns, process.execPath, [CLI, "observe", "--admin", `127.0.0.1:${cluster.adminPort}`, "--last", "4"]);
    process.stdout.write(observed.stdout);
  });
}
