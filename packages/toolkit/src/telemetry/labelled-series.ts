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
    let level = this.#root.get(a) as Map<LabelValue, unknown> | undefined;
    if (level === undefined) {
      level = new Map();
      this.#root.set(a, level);
    }
    if (this.labelNames.length === 2) return (level.get(b) as Series | undefined) ?? this.#add(level, b, [a, b]);
    let last = level.get(b) as Map<LabelValue, unknown> | undefined;
    if (last === undefined) {
      last = new Map();
      level.set(b, last);
    }
    return (last.get(c as LabelValue) as Series | undefined) ?? this.#add(last, c as LabelValue, [a, b, c as LabelValue]);
  }

  /** Every series, in the order first seen. */
  all(): Iterable<Series> {
    return this.#all;
  }

  /** Drops the series whose labels `drop` says so of (instances that left). */
  removeWhere(drop: (labels: Readonly<Record<string, LabelValue>>) => boolean): void {
    for (const series of this.#all) {
      if (!drop(series.labels)) continue;
      this.#all.delete(series);
      const values = this.labelNames.map((name) => series.labels[name] as LabelValue);
      const parents: Map<LabelValue, unknown>[] = [this.#root];
      for (const value of values.slice(0, -1)) parents.push((parents[parents.length - 1] as Map<LabelValue, unknown>).get(value) as Map<LabelValue, unknown>);
      // Delete the leaf, then every level left empty.
      for (let i = values.length - 1; i >= 0; i--) {
        const map = parents[i] as Map<LabelValue, unknown>;
        const child = map.get(values[i] as LabelValue);
        if (i === values.length - 1 || (child as Map<LabelValue, unknown>).size === 0) map.delete(values[i] as LabelValue);
        else break;
      }
    }
  }

  clear(): void {
    this.#root.clear();
    this.#all.clear();
  }

  #add(parent: Map<LabelValue, unknown>, key: LabelValue, values: readonly LabelValue[]): Series {
    const labels: Record<string, LabelValue> = {};
    this.labelNames.forEach((name, i) => {
      labels[name] = values[i] as LabelValue;
    });
    const series: Series = { labels, count: 0, sum: 0, buckets: this.upperBounds.map(() => 0) };
    parent.set(key, series);
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
