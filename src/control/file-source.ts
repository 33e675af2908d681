// Policies and endpoints from files: load, compile, swap, and reload when a file changes.
// A load that has any error keeps the last good snapshot in force and says why, with
// file:line:col for every problem.

import type { Logger } from "pino";
import { loadEndpointsFile } from "../policy/endpoints/load-endpoints.js";
import { compilePolicies } from "../policy/compile/index.js";
import { formatDiagnostic, loadPolicyPaths } from "../policy/load/index.js";
import { policyRef } from "../policy/api/types.js";
import { fingerprint } from "./file-fingerprint.js";
import type { SnapshotHolder } from "./snapshot-holder.js";

export interface FileSourceOptions {
  policies: readonly string[];
  endpoints: string | null;
  holder: SnapshotHolder;
  logger: Logger;
  /** Called after every load attempt, for metrics. */
  onLoad?: (ok: boolean, revision: number, error?: string) => void;
  pollMs?: number;
  /** This node: endpoints on other nodes are identities only (see CompileOptions.nodeName). */
  nodeName?: string | null;
}

export interface LoadOutcome {
  ok: boolean;
  errors: string[];
}

export class FileSource {
  #revision = 0;
  #lastPrint = "";
  #timer: NodeJS.Timeout | null = null;
  #loading: Promise<LoadOutcome> | null = null;

  constructor(readonly opts: FileSourceOptions) {}

  get watchedPaths(): string[] {
    return [...this.opts.policies, ...(this.opts.endpoints === null ? [] : [this.opts.endpoints])];
  }

  /** Loads everything once; on success the holder has a new snapshot. */
  async load(): Promise<LoadOutcome> {
    const { logger, holder } = this.opts;
    const errors: string[] = [];
    const result = await loadPolicyPaths([...this.opts.policies]);
    for (const d of result.diagnostics) {
      if (d.severity === "error") {
        errors.push(formatDiagnostic(d));
        logger.error({ code: d.code, file: d.file, line: d.line }, formatDiagnostic(d));
      } else if (d.severity === "warning") logger.warn({ code: d.code, file: d.file, line: d.line }, formatDiagnostic(d));
      else logger.debug({ code: d.code }, formatDiagnostic(d));
    }
    let inventory = { namespaces: [], endpoints: [] } as Awaited<ReturnType<typeof loadEndpointsFile>>;
    if (this.opts.endpoints !== null) {
      try {
        inventory = await loadEndpointsFile(this.opts.endpoints);
      } catch (err) {
        errors.push((err as Error).message);
        logger.error({ code: (err as { code?: string }).code ?? "L7P_ERR_ENDPOINTS" }, (err as Error).message);
      }
    }
    if (errors.length > 0) {
      const summary = errors.join("\n");
      holder.rejected(summary);
      if (holder.current !== null) logger.warn({ revision: holder.current.revision }, "invalid change ignored; the last good policy stays in force");
      this.opts.onLoad?.(false, holder.current?.revision ?? 0, summary);
      return { ok: false, errors };
    }
    this.#revision += 1;
    const { snapshot, warnings } = compilePolicies(result.policies, inventory, {
      revision: this.#revision,
      ...(this.opts.nodeName != null ? { nodeName: this.opts.nodeName } : {}),
    });
    for (const w of warnings) logger.warn(w);
    holder.swap(
      snapshot,
      result.policies.map((p) => ({ ref: policyRef(p), kind: p.kind, source: `${p.source.file}:${p.source.line}` })),
    );
    logger.info(
      { revision: snapshot.revision, policies: result.policies.length, endpoints: inventory.endpoints.length },
      "policy snapshot loaded",
    );
    this.opts.onLoad?.(true, snapshot.revision);
    return { ok: true, errors: [] };
  }

  /** Starts polling; the first fingerprint is taken now so only later changes reload. */
  async watch(): Promise<void> {
    this.#lastPrint = await fingerprint(this.watchedPaths);
    const tick = async (): Promise<void> => {
      try {
        const print = await fingerprint(this.watchedPaths);
        if (print !== this.#lastPrint && this.#loading === null) {
          this.#lastPrint = print;
          this.#loading = this.load();
          await this.#loading;
        }
      } catch (err) {
        this.opts.logger.error({ err }, "policy reload failed");
      } finally {
        this.#loading = null;
        if (this.#timer !== null) this.#timer = setTimeout(() => void tick(), this.opts.pollMs ?? 250);
      }
    };
    this.#timer = setTimeout(() => void tick(), this.opts.pollMs ?? 250);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
