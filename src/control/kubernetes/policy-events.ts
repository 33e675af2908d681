// Kubernetes Events on policy objects, so `kubectl describe cnp <name>` and `kubectl get
// events` show why a policy was not loaded.
//
// Written through the core/v1 events API (POST /api/v1/namespaces/{ns}/events), the one every
// cluster serves and `kubectl describe` reads. Events of cluster-scoped objects go to the
// "default" namespace, as kubectl and client-go's recorder do.
//
// Every node's proxy loads every policy, so each node reports a bad policy once. The name is
// derived from (policy uid, resourceVersion, node), so a restarted proxy re-reporting the same
// version gets 409 AlreadyExists instead of a duplicate.

import { createHash } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeApiError, requestJson } from "./kube-http.js";
import type { KubeObject } from "./types.js";

const EVENT_REASON_INVALID = "InvalidPolicy";
const EVENT_COMPONENT = "l7proxy";
/** core/v1 Event.message is capped at 1024 bytes by validation. */
const MAX_MESSAGE = 1024;

export function invalidPolicyEvent(policy: KubeObject, messages: string[], nodeName: string, now: Date): KubeObject {
  const meta = policy.metadata ?? {};
  const name = meta.name ?? "";
  const namespace = meta.namespace || "default";
  const digest = createHash("sha256")
    .update(`${meta.uid ?? ""}\0${meta.resourceVersion ?? ""}\0${nodeName}`)
    .digest("hex")
    .slice(0, 16);
  let message = messages.join("; ");
  if (Buffer.byteLength(message) > MAX_MESSAGE) message = `${truncateUtf8(message, MAX_MESSAGE - 3)}...`;
  const ts = now.toISOString().replace(/\.\d+Z$/, "Z");
  return {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: `${name.slice(0, 200)}.${digest}`, namespace },
    involvedObject: {
      apiVersion: policy.apiVersion,
      kind: policy.kind,
      name,
      ...(meta.namespace ? { namespace: meta.namespace } : {}),
      uid: meta.uid,
      resourceVersion: meta.resourceVersion,
    },
    reason: EVENT_REASON_INVALID,
    message,
    type: "Warning",
    action: "LoadPolicy",
    source: { component: EVENT_COMPONENT, host: nodeName },
    reportingComponent: EVENT_COMPONENT,
    reportingInstance: `${EVENT_COMPONENT}-${nodeName}`.slice(0, 128),
    firstTimestamp: ts,
    lastTimestamp: ts,
    count: 1,
  };
}

/** Posts an Event; an already recorded one (409) counts as success. */
export async function postEvent(kc: KubeConfig, event: KubeObject): Promise<void> {
  const ns = event.metadata?.namespace ?? "default";
  try {
    await requestJson(kc, "POST", `/api/v1/namespaces/${encodeURIComponent(ns)}/events`, event);
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 409) return;
    throw err;
  }
}

/** The longest prefix of `s` that fits in `maxBytes` of UTF-8 without splitting a character. */
function truncateUtf8(s: string, maxBytes: number): string {
  let bytes = 0;
  let out = "";
  for (const ch of s) {
    bytes += Buffer.byteLength(ch);
    if (bytes > maxBytes) break;
    out += ch;
  }
  return out;
}
