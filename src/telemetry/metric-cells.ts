// Metrics whose hot-path cost is one addition. prom-client's own `inc`/`observe` hash and
// validate the label set on every call (a string built per call); here the data path binds
// a label set once, keeps the returned cell, and later only does `cell.value += n`. The
// registry sees ordinary prom-client metrics: each family overrides `get()`, the method the
// registry calls at scrape time, and turns the cells into prom-client's value shape then.
//
// Every family is bounded: past `maxSeries` label sets, new ones share one overflow cell
// whose label values are all OVERFLOW_LABEL_VALUE, so a churning cluster cannot grow memory
// without limit and the overflow is visible in the scrape.

import { Counter, Gauge, Histogram, type MetricType, type Registry } from "prom-client";

export const OVERFLOW_LABEL_VALUE = "__overflow__";
export const DEFAULT_MAX_SERIES = 10_000;

export class CounterCell {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
  inc(n = 1): void {
    this.value += n;
  }
}

export class GaugeCell {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class HistogramCell {
  /** Non-cumulative count per bucket; index i counts values in (bounds[i-1], bounds[i]]. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    if (!Number.isFinite(v)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]! += 1;
    this.sum += v;
    this.count += 1;
  }
}

/** Label values to cell, with a bound on the number of distinct label sets. */
class CellTable<C> {
  private readonly cells = new Map<string, C>();
  private overflowCell: C | null = null;

  constructor(
    readonly labelNames: readonly string[],
    private readonly make: (labels: Record<string, string>) => C,
    private readonly maxSeries: number,
  ) {}

  bind(values: readonly string[]): C {
    if (values.length !== this.labelNames.length) {
      throw new Error(`expected ${this.labelNames.length} label values (${this.labelNames.join(", ")}), got ${values.length}`);
    }
    const key = values.join("\u0000");
    let cell = this.cells.get(key);
    if (cell !== undefined) return cell;
    if (this.cells.size >= this.maxSeries) return this.overflow();
    const labels: Record<string, string> = {};
    this.labelNames.forEach((name, i) => (labels[name] = values[i]!));
    cell = this.make(labels);
    this.cells.set(key, cell);
    return cell;
  }

  private overflow(): C {
    if (this.overflowCell === null) {
      const labels: Record<string, string> = {};
      for (const name of this.labelNames) labels[name] = OVERFLOW_LABEL_VALUE;
      this.overflowCell = this.make(labels);
    }
    return this.overflowCell;
  }

  *all(): IterableIterator<C> {
    yield* this.cells.values();
    if (this.overflowCell !== null) yield this.overflowCell;
  }
}

export interface FamilyConfig {
  name: string;
  help: string;
  labelNames: readonly string[];
  registry: Registry;
  maxSeries?: number;
}

// What the registry needs besides the values; prom-client's typings do not expose these
// fields on the metric classes, so each family keeps its own copy. (The typings also ask
// get() for a `collect` field that prom-client's own get() does not return; the casts on
// the get() results below are for that alone.)
interface FamilyMeta {
  name: string;
  help: string;
  type: MetricType;
  aggregator: "sum";
}

function familyMeta(cfg: FamilyConfig, type: "counter" | "gauge" | "histogram"): FamilyMeta {
  // prom-client's typings declare `type` as a numeric enum, but the registry prints the
  // string ("# TYPE name counter"), which is what its own metrics carry at run time.
  return { name: cfg.name, help: cfg.help, type: type as unknown as MetricType, aggregator: "sum" };
}

export class CounterFamily extends Counter {
  private readonly table: CellTable<CounterCell>;
  private readonly meta: FamilyMeta;

  constructor(cfg: FamilyConfig) {
    super({ name: cfg.name, help: cfg.help, labelNames: [...cfg.labelNames], registers: [cfg.registry] });
    this.meta = familyMeta(cfg, "counter");
    this.table = new CellTable(cfg.labelNames, (l) => new CounterCell(l), cfg.maxSeries ?? DEFAULT_MAX_SERIES);
    // An unlabelled counter exists (at 0) from the start, as prom-client's own would.
    if (cfg.labelNames.length === 0) this.table.bind([]);
  }

  /** Label values in `labelNames` order. Call once per label set and keep the cell. */
  bind(...values: string[]): CounterCell {
    return this.table.bind(values);
  }

  override async get(): ReturnType<Counter["get"]> {
    const values = [];
    for (const c of this.table.all()) values.push({ value: c.value, labels: { ...c.labels } });
    return { ...this.meta, values } as Awaited<ReturnType<Counter["get"]>>;
  }
}

export class GaugeFamily extends Gauge {
  private readonly table: CellTable<GaugeCell>;
  private readonly meta: FamilyMeta;

  constructor(cfg: FamilyConfig) {
    super({ name: cfg.name, help: cfg.help, labelNames: [...cfg.labelNames], registers: [cfg.registry] });
    this.meta = familyMeta(cfg, "gauge");
    this.table = new CellTable(cfg.labelNames, (l) => new GaugeCell(l), cfg.maxSeries ?? DEFAULT_MAX_SERIES);
    if (cfg.labelNames.length === 0) this.table.bind([]);
  }

  bind(...values: string[]): GaugeCell {
    return this.table.bind(values);
  }

  override async get(): ReturnType<Gauge["get"]> {
    const values = [];
    for (const c of this.table.all()) values.push({ value: c.value, labels: { ...c.labels } });
    return { ...this.meta, values } as Awaited<ReturnType<Gauge["get"]>>;
  }
}

export class HistogramFamily extends Histogram {
  private readonly table: CellTable<HistogramCell>;
  private readonly meta: FamilyMeta;
  private readonly bounds: readonly number[];

  constructor(cfg: FamilyConfig & { buckets: readonly number[] }) {
    super({
      name: cfg.name,
      help: cfg.help,
      labelNames: [...cfg.labelNames],
      buckets: [...cfg.buckets],
      registers: [cfg.registry],
    });
    const bounds = [...cfg.buckets].sort((a, b) => a - b);
    this.bounds = bounds;
    this.meta = familyMeta(cfg, "histogram");
    this.table = new CellTable(cfg.labelNames, (l) => new HistogramCell(l, bounds), cfg.maxSeries ?? DEFAULT_MAX_SERIES);
    if (cfg.labelNames.length === 0) this.table.bind([]);
  }

  bind(...values: string[]): HistogramCell {
    return this.table.bind(values);
  }

  /**
   * The registry prefers this over get() when printing text: bucket values carry `le` as
   * their own label and the cell's labels as shared ones, which prints `le` first, as
   * prom-client's Histogram does.
   */
  async getForPromString(): Promise<{
    name: string;
    help: string;
    type: MetricType;
    aggregator: "sum";
    values: { metricName: string; value: number; labels: Record<string, string | number>; sharedLabels: Record<string, string> }[];
  }> {
    const name = this.meta.name;
    const bucket = `${name}_bucket`;
    const values = [];
    for (const c of this.table.all()) {
      const shared = c.labels as Record<string, string>;
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.counts[i]!;
        values.push({ metricName: bucket, value: acc, labels: { le: this.bounds[i]! }, sharedLabels: shared });
      }
      values.push({ metricName: bucket, value: c.count, labels: { le: "+Inf" }, sharedLabels: shared });
      values.push({ metricName: `${name}_sum`, value: c.sum, labels: {}, sharedLabels: shared });
      values.push({ metricName: `${name}_count`, value: c.count, labels: {}, sharedLabels: shared });
    }
    return { name, help: this.meta.help, type: this.meta.type, aggregator: "sum", values };
  }

  override async get(): ReturnType<Histogram["get"]> {
    const data = await this.getForPromString();
    const values = data.values.map(({ metricName, value, labels, sharedLabels }) => ({
      metricName,
      value,
      labels: { ...labels, ...sharedLabels },
    }));
    return { ...this.meta, values } as Awaited<ReturnType<Histogram["get"]>>;
  }
}
