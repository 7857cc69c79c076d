import type { Metric, Registry } from 'prom-client';

export type LabelValue = string | number;

/** One label set's observations: how many, their sum, and how many fell in each bucket (not cumulative). */
export interface Series {
  readonly labels: Readonly<Record<string, LabelValue>>;
  count: number;
  sum: number;
  readonly buckets: number[];
}

/**
 * Series found by their label values through one `Map` per label: no key string built and
 * hashed, no label object checked, per observation (prom-client's `inc`/`observe` do both, which
 * cost the gateway's request path about 5,000 instructions per call). Kept in the order first seen,
 * as prom-client exposes them. Two or three labels.
 */
export class SeriesIndex {
  readonly #root = new Map<LabelValue, unknown>();
  readonly #all = new Set<Series>();

  constructor(
    readonly labelNames: readonly string[],
    /** Upper bounds of the buckets, ascending (none: counts only). */
    readonly upperBounds: readonly number[] = [],
  ) {
    if (labelNames.length < 2 || labelNames.length > 3) throw new Error('a SeriesIndex has two or three labels');
  }

  /** Counts one observation of `value` in the series of these label values (in `labelNames` order). */
  observe(value: number, a: LabelValue, b: LabelValue, c?: LabelValue): void {
    const series = this.series(a, b, c);
    series.count += 1;
    series.sum += value;
    const bounds = this.upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        (series.buckets[i] as number) += 1;
        break;
      }
    }
  }

  /** The series of these label values, made (with zero counts) the first time. */
  series(a: LabelValue, b: LabelValue, c?: LabelValue): Series {
    const level = this.#root.get(a) as Map<LabelValue, unknown> | undefined;
    if (this.labelNames.length === 2) return (level?.get(b) as Series | undefined) ?? this.#add([a, b]);
    const last = level?.get(b) as Map<LabelValue, unknown> | undefined;
    return (last?.get(c as LabelValue) as Series | undefined) ?? this.#add([a, b, c as LabelValue]);
  }

  /** Every series, in the order first seen. */
  all(): Iterable<Series> {
    return this.#all;
  }

  /** Drops the series whose labels `drop` says so of (instances that left). */
  removeWhere(drop: (labels: Readonly<Record<string, LabelValue>>) => boolean): void {
    const kept = [...this.#all].filter((series) => !drop(series.labels));
    if (kept.length === this.#all.size) return;
    // Rebuilt from what is kept (rare: at a scrape, when instances left): no empty branches stay.
    this.clear();
    for (const series of kept) this.#place(series);
  }

  clear(): void {
    this.#root.clear();
    this.#all.clear();
  }

  #add(values: readonly LabelValue[]): Series {
    const labels: Record<string, LabelValue> = {};
    this.labelNames.forEach((name, i) => {
      labels[name] = values[i] as LabelValue;
    });
    return this.#place({ labels, count: 0, sum: 0, buckets: this.upperBounds.map(() => 0) });
  }

  /** Files `series` under its label values, one Map per label but the last. */
  #place(series: Series): Series {
    const values = this.labelNames.map((name) => series.labels[name] as LabelValue);
    let map = this.#root;
    for (const value of values.slice(0, -1)) {
      let next = map.get(value) as Map<LabelValue, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        map.set(value, next);
      }
      map = next;
    }
    map.set(values[values.length - 1] as LabelValue, series);
    this.#all.add(series);
    return series;
  }
}

/** What prom-client's registry reads of a metric at scrape time (its `MetricObjectWithValues`). */
interface Exposed {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: { value: number; labels: Record<string, LabelValue>; metricName?: string; exemplar?: null }[];
}

/**
 * A metric in a prom-client `Registry` whose values come from a `SeriesIndex`: a counter of its
 * observations, or a histogram of them, exposed exactly as prom-client's Counter and Histogram
 * expose the same observations (a test compares the text).
 */
export class SeriesMetric {
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    private readonly index: SeriesIndex,
  ) {}

  /** Adds this metric to `registry`. */
  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  get(): Promise<Exposed> {
    const values: Exposed['values'] = [];
    for (const series of this.index.all()) {
      if (this.type === 'counter') {
        values.push({ value: series.count, labels: series.labels });
        continue;
      }
      let cumulative = 0;
      this.index.upperBounds.forEach((le, i) => {
        cumulative += series.buckets[i] as number;
        values.push({ value: cumulative, labels: { le, ...series.labels }, metricName: `${this.name}_bucket`, exemplar: null });
      });
      values.push(
        { value: series.count, labels: { le: '+Inf', ...series.labels }, metricName: `${this.name}_bucket`, exemplar: null },
        { value: series.sum, labels: { ...series.labels }, metricName: `${this.name}_sum` },
        { value: series.count, labels: { ...series.labels }, metricName: `${this.name}_count` },
      );
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** prom-client's `Registry.resetMetrics`. */
  reset(): void {
    this.index.clear();
  }
}
