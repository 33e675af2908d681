// One list+watch loop over one Kubernetes collection, built on @kubernetes/client-node's
// ListWatch (which keeps the cache, diffs relists into add/update/delete callbacks and drops
// its resourceVersion on 410 Gone). What it adds:
// - restart with exponential backoff after any list or watch error: ListWatch stops for good
//   on a non-410 error, and a proxy must never silently stop following the cluster;
// - watch bookmarks and a server-side watch timeout, so a resumed watch starts from a recent
//   resourceVersion and a silently dead connection is noticed within minutes;
// - plain JSON lists (see kube-http.ts) with kind/apiVersion filled in, so list items and
//   watch objects look the same;
// - `listed`: true once the first full list has reached the cache.

import { ListWatch, Watch, type KubeConfig, type KubernetesListObject } from "@kubernetes/client-node";
import { KubeApiError, requestJson } from "./kube-http.js";
import type { KubeObject, SourceLogger } from "./types.js";

export interface ResourceInformerOptions {
  kubeConfig: KubeConfig;
  /** Collection path, e.g. "/api/v1/pods" or "/apis/cilium.io/v2/ciliumnetworkpolicies". */
  path: string;
  apiVersion: string;
  kind: string;
  fieldSelector?: string;
  /**
   * List answers (HTTP statuses) that count as an empty list rather than an error, so they
   * do not hold back the first sync. 404 for a CRD that is not installed (cilium.io on a
   * cluster without Cilium and without deploy/components/cilium-crds): no such object can
   * exist while the CRD does not. 403 for a Secret the ServiceAccount may not read: the
   * header match that needs it fails closed either way. The informer keeps retrying with
   * backoff and picks the objects up once the answer changes.
   */
  emptyOnStatus?: readonly number[];
  /** Called for every object added, changed or deleted (including those found by a relist). */
  onEvent(type: "add" | "update" | "delete", obj: KubeObject): void;
  /** Called when `listed` turns true. */
  onListed(): void;
  logger: SourceLogger;
  backoff?: { initialMs: number; maxMs: number };
  /** Server-side watch timeout range in seconds; a random value in it is used per watch (as client-go does). */
  watchTimeoutSeconds?: [number, number];
}

const DEFAULT_BACKOFF = { initialMs: 200, maxMs: 30_000 };
const DEFAULT_WATCH_TIMEOUT: [number, number] = [300, 600];

/** A Watch that asks for bookmarks and a bounded watch lifetime, and fills kind/apiVersion in. */
class BookmarkingWatch extends Watch {
  constructor(
    kc: KubeConfig,
    private readonly fill: (o: unknown) => void,
    private readonly timeoutRange: [number, number],
    private readonly onActivity: () => void,
  ) {
    super(kc);
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: any, watchObj?: any) => void,
    done: (err: any) => void,
  ): Promise<AbortController> {
    const [lo, hi] = this.timeoutRange;
    const params = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: Math.floor(lo + Math.random() * (hi - lo + 1)) };
    return super.watch(
      path,
      params,
      (phase, obj, raw) => {
        this.onActivity();
        if (phase !== "ERROR" && phase !== "BOOKMARK") this.fill(obj);
        callback(phase, obj, raw);
      },
      done,
    );
  }
}

export class ResourceInformer {
  private readonly lw: ListWatch<KubeObject>;
  private stopped = true;
  private restartTimer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private listedOnce = false;
  private absentLogged = false;

  constructor(private readonly opts: ResourceInformerOptions) {
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.delayMs = this.backoff.initialMs;
    const fill = (o: unknown): void => {
      if (typeof o !== "object" || o === null) return;
      const obj = o as KubeObject;
      obj.apiVersion ??= opts.apiVersion;
      obj.kind ??= opts.kind;
    };
    const watch = new BookmarkingWatch(opts.kubeConfig, fill, opts.watchTimeoutSeconds ?? DEFAULT_WATCH_TIMEOUT, () => this.resetBackoff());
    const listPath = opts.fieldSelector === undefined ? opts.path : `${opts.path}?fieldSelector=${encodeURIComponent(opts.fieldSelector)}`;
    const listFn = async (): Promise<KubernetesListObject<KubeObject>> => {
      let list: KubernetesListObject<KubeObject>;
      try {
        list = (await requestJson(opts.kubeConfig, "GET", listPath)) as KubernetesListObject<KubeObject>;
      } catch (err) {
        if (!(err instanceof KubeApiError && opts.emptyOnStatus?.includes(err.statusCode))) throw err;
        if (!this.absentLogged) {
          opts.logger.warn(
            { resource: opts.path, fieldSelector: opts.fieldSelector, status: err.statusCode },
            err.statusCode === 404 ? "resource type not installed (404); treating it as empty until it appears" : `cannot read (${err.statusCode}); treating it as empty and retrying`,
          );
        }
        this.absentLogged = true;
        this.markListed();
        // No backoff reset: the watch that follows fails the same way, and retries must slow down.
        return { items: [], metadata: { resourceVersion: "" } };
      }
      this.absentLogged = false;
      if (!Array.isArray(list.items)) throw new Error(`GET ${listPath}: the answer has no items array`);
      for (const item of list.items) fill(item);
      this.resetBackoff();
      this.markListed();
      return list;
    };
    this.lw = new ListWatch<KubeObject>(opts.path, watch, listFn, false, undefined, opts.fieldSelector);
    this.lw.on("add", (o) => opts.onEvent("add", o));
    this.lw.on("update", (o) => opts.onEvent("update", o));
    this.lw.on("delete", (o) => opts.onEvent("delete", o));
    this.lw.on("error", (err) => this.onError(err));
  }

  /** True once the first full list has been received; stays true across relists. */
  get listed(): boolean {
    return this.listedOnce;
  }

  list(): readonly KubeObject[] {
    return this.lw.list();
  }

  start(): void {
    this.stopped = false;
    void this.lw.start().catch((err: unknown) => this.onError(err));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.lw.stop();
  }

  private markListed(): void {
    // ListWatch adds the items to its cache right after the list promise settles, before any
    // timer can run, so a listener that reads the cache from a timer sees the full list.
    if (this.listedOnce) return;
    this.listedOnce = true;
    queueMicrotask(() => this.opts.onListed());
  }

  private resetBackoff(): void {
    this.delayMs = this.backoff.initialMs;
  }

  private onError(err: unknown): void {
    if (this.stopped || this.restartTimer !== undefined) return;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.backoff.maxMs);
    this.opts.logger.warn(
      { resource: this.opts.path, fieldSelector: this.opts.fieldSelector, retryInMs: delay, err: err instanceof Error ? err.message : String(err) },
      "kubernetes list/watch failed; retrying",
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped) this.start();
    }, delay);
  }
}
