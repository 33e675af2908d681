// The Star Wars demo as a small cluster in network namespaces: two nodes, each running
// `l7proxy run --node-name`; deathstar (two replicas, one per node, behind a Service VIP that
// each node DNATs, as kube-proxy would), tiefighter and xwing on node-1. A ship's call that
// the VIP sends to deathstar-2 crosses to node-2, whose proxy decides the deathstar's ingress. Used by `l7proxy demo` (which narrates) and by the
// end-to-end tests (which assert).

import { join } from "node:path";
import { NetnsCluster, REPO_ROOT } from "../netns/cluster.js";

const STARWARS_DIR = join(REPO_ROOT, "proxy-config", "starwars");
const SERVICE_VIP = "10.96.0.10";
export const SERVICE_HOST = "deathstar.default.svc.cluster.local";

export interface ShotResult {
  /** curl's exit code: 0 on any HTTP answer; 7 refused, 28 timeout, 52/56 reset. */
  curlExit: number;
  status: number;
  body: string;
  servedBy: string;
  /** The address the deathstar saw the call come from (its x-client-address header). */
  clientAddress: string;
}

/** The demo's nodes; proxy-config/starwars/endpoints.yaml places each pod on one. */
export const STARWARS_NODES = ["node-1", "node-2"];

export class StarWarsCluster extends NetnsCluster {
  constructor(tag: string) {
    super(tag, {
      endpointsFile: join(STARWARS_DIR, "endpoints.yaml"),
      servers: ["deathstar-1", "deathstar-2"].map((pod) => ({ pod, script: "demo/deathstar-server.js", args: ["80", pod] })),
      services: [{ vip: SERVICE_VIP, port: 80, targetPort: 80, backends: ["10.200.0.11", "10.200.0.12"] }],
      nodes: STARWARS_NODES,
    });
  }

  /** Replaces the applied policy with one of proxy-config/starwars (null = none). */
  async applyPolicy(file: string | null): Promise<void> {
    await this.applyPolicies(file === null ? [] : [join(STARWARS_DIR, file)]);
  }

  /** A ship calls the deathstar through its Service, like `kubectl exec SHIP -- curl ...`. */
  async shoot(ship: string, method: string, path: string, target = SERVICE_VIP): Promise<ShotResult> {
    const r = await this.curl(ship, ["-X", method, "-H", `Host: ${SERVICE_HOST}`, "-D", "-", `http://${target}${path}`]);
    // -D - puts the response head before the body on stdout.
    const split = r.body.indexOf("\r\n\r\n");
    const head = split >= 0 ? r.body.slice(0, split) : "";
    const servedBy = /^x-served-by: (\S+)/im.exec(head)?.[1] ?? "";
    const clientAddress = /^x-client-address: (\S+)/im.exec(head)?.[1] ?? "";
    return { curlExit: r.code, status: r.status, body: split >= 0 ? r.body.slice(split + 4) : r.body, servedBy, clientAddress };
  }
}
