// Policies by object uid: the current valid version of each, or, when an update is invalid,
// the last version that was valid. A bad edit to one policy must neither drop that policy's
// protection nor touch any other policy.

import type { LoadedPolicy } from "../../policy/api/types.js";
import type { InvalidPolicy, KubeObject, PolicyConverter } from "./types.js";

export interface PolicyTrackerOptions<D> {
  convert: PolicyConverter<D>;
  format(d: D): string;
  /** Called once per invalid object version. */
  onInvalid(obj: KubeObject, messages: string[], lastGoodKept: boolean): void;
  /** Called for diagnostics of a valid policy (warnings such as features not enforced). */
  onWarnings(obj: KubeObject, messages: string[]): void;
}

interface Entry {
  good: LoadedPolicy | undefined;
  invalid: InvalidPolicy | undefined;
}

export class PolicyTracker<D> {
  private readonly byUid = new Map<string, Entry>();

  constructor(private readonly opts: PolicyTrackerOptions<D>) {}

  upsert(obj: KubeObject): void {
    const key = trackerKey(obj);
    const meta = obj.metadata ?? {};
    const entry = this.byUid.get(key) ?? { good: undefined, invalid: undefined };
    const origin = `kubernetes:${obj.kind ?? "?"}/${meta.namespace ? `${meta.namespace}/` : ""}${meta.name ?? "?"}`;
    let result: ReturnType<PolicyConverter<D>>;
    try {
      result = this.opts.convert(manifestOf(obj), origin);
    } catch (err) {
      // A converter bug must not take the source down; treat the object as invalid.
      this.record(entry, obj, [`internal error while loading: ${err instanceof Error ? err.message : String(err)}`]);
      this.byUid.set(key, entry);
      return;
    }
    const messages = result.diagnostics.map((d) => this.opts.format(d));
    if (result.policy !== undefined) {
      entry.good = result.policy;
      entry.invalid = undefined;
      if (messages.length > 0) this.opts.onWarnings(obj, messages);
    } else {
      this.record(entry, obj, messages.length > 0 ? messages : ["the policy loader rejected the object without a reason"]);
    }
    this.byUid.set(key, entry);
  }

  remove(obj: KubeObject): void {
    this.byUid.delete(trackerKey(obj));
  }

  effective(): LoadedPolicy[] {
    const out: LoadedPolicy[] = [];
    for (const e of this.byUid.values()) if (e.good !== undefined) out.push(e.good);
    return out;
  }

  invalid(): InvalidPolicy[] {
    const out: InvalidPolicy[] = [];
    for (const e of this.byUid.values()) if (e.invalid !== undefined) out.push(e.invalid);
    return out;
  }

  private record(entry: Entry, obj: KubeObject, messages: string[]): void {
    const meta = obj.metadata ?? {};
    const rv = meta.resourceVersion ?? "";
    if (entry.invalid !== undefined && entry.invalid.resourceVersion === rv) return;
    const lastGoodKept = entry.good !== undefined;
    entry.invalid = {
      ref: meta.namespace ? `${meta.namespace}/${meta.name ?? ""}` : (meta.name ?? ""),
      kind: obj.kind ?? "",
      uid: meta.uid ?? "",
      resourceVersion: rv,
      messages,
      lastGoodKept,
    };
    this.opts.onInvalid(obj, messages, lastGoodKept);
  }
}

/** uid identifies one object's life; a deleted and recreated policy is a new one. */
function trackerKey(obj: KubeObject): string {
  const m = obj.metadata ?? {};
  return m.uid || `${obj.kind ?? ""}/${m.namespace ?? ""}/${m.name ?? ""}`;
}

/**
 * The manifest as a user wrote it: server-managed metadata (uid, managedFields, ...) and status
 * are dropped so the loader validates only what the policy author controls.
 */
function manifestOf(obj: KubeObject): Record<string, unknown> {
  const m = obj.metadata ?? {};
  const metadata: Record<string, unknown> = { name: m.name };
  if (m.namespace) metadata.namespace = m.namespace;
  if (m.labels) metadata.labels = m.labels;
  if (m.annotations) metadata.annotations = m.annotations;
  const out: Record<string, unknown> = { apiVersion: obj.apiVersion, kind: obj.kind, metadata };
  if ("spec" in obj) out.spec = obj.spec;
  if ("specs" in obj) out.specs = obj.specs;
  return out;
}
