// Which Secrets the policies need, and the value each one carries.
//
// Only `headerMatches[].secret` refers to Secrets. As in Cilium (pkg/policy/api/http.go,
// getSecrets), the secret's namespace defaults to the policy's, and a Secret used as a header
// value must hold exactly one entry ("Secret %s must have exactly one item").

import type { LoadedPolicy, PortRule } from "../../policy/api/types.js";
import type { KubeObject } from "./types.js";

export interface SecretRefs {
  /** "namespace/name" of every Secret to fetch. */
  refs: Set<string>;
  /** References that cannot be resolved, e.g. a cluster-wide policy naming a secret without a namespace. */
  problems: string[];
}

export function secretRefsOf(policies: readonly LoadedPolicy[]): SecretRefs {
  const refs = new Set<string>();
  const problems: string[] = [];
  for (const p of policies) {
    if (p.kind === "NetworkPolicy") continue;
    p.rules.forEach((rule, ri) => {
      const sections: [string, { toPorts?: PortRule[] }[] | undefined][] = [
        ["ingress", rule.ingress],
        ["egress", rule.egress],
      ];
      for (const [dir, list] of sections) {
        list?.forEach((r, i) =>
          r.toPorts?.forEach((tp, j) =>
            tp.rules?.http?.forEach((h, k) =>
              h.headerMatches?.forEach((hm, m) => {
                if (hm.secret === undefined) return;
                const ns = hm.secret.namespace || p.namespace;
                if (ns === "") {
                  problems.push(
                    `${p.kind} ${p.name}: rules[${ri}].${dir}[${i}].toPorts[${j}].rules.http[${k}].headerMatches[${m}].secret needs a namespace in a cluster-wide policy`,
                  );
                  return;
                }
                refs.add(`${ns}/${hm.secret.name}`);
              }),
            ),
          ),
        );
      }
    });
  }
  return { refs, problems };
}

/** The one value a Secret holds, or why it cannot be used. */
export function secretValue(secret: KubeObject): { value: string } | { error: string } {
  const data = secret.data;
  const entries = typeof data === "object" && data !== null ? Object.entries(data as Record<string, unknown>) : [];
  if (entries.length !== 1) return { error: `must have exactly one item, has ${entries.length}` };
  const [key, encoded] = entries[0]!;
  if (typeof encoded !== "string") return { error: `item ${key} is not a string` };
  return { value: Buffer.from(encoded, "base64").toString("utf8") };
}
