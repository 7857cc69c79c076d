/** One sample of the Prometheus text format: `name{label="value",...} value`. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition (comments and malformed lines skipped). */
export function parseMetricSamples(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    const value = m ? sampleValue(m[3] ?? '') : undefined;
    if (!m || value === undefined) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) {
      labels[l[1] ?? ''] = (l[2] ?? '').replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1] ?? '', labels, value });
  }
  return samples;
}

/** The value of the first sample named `name` whose labels include `labels`, or undefined. */
export function metricValue(
  samples: readonly MetricSample[] | string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const list = typeof samples === 'string' ? parseMetricSamples(samples) : samples;
  const wanted = Object.entries(labels);
  return list.find((s) => s.name === name && wanted.every(([k, v]) => s.labels[k] === v))?.value;
}

function sampleValue(text: string): number | undefined {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  const n = Number(text);
  return Number.isNaN(n) ? undefined : n;
}
