import { parseMetricSamples } from '@meshkit/toolkit';
import { request } from 'undici';

/** How many answers of one status a server gave, and how many of them within a bound. */
export interface AnswerTimes {
  all: number;
  within: number;
}

/**
 * From a server's `/metrics`: its `http_request_duration_seconds` answers with `status`, all and
 * those within `bound` (a bucket's `le`, e.g. `0.01`). The server's own handling time: the load
 * generator's event loop and the loopback are not in it.
 */
export async function answerTimes(baseUrl: string, status: number, bound: string): Promise<AnswerTimes> {
  const res = await request(new URL('/metrics', baseUrl), { headersTimeout: 2000, bodyTimeout: 2000 });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`GET /metrics answered ${res.statusCode}`);
  }
  const times: AnswerTimes = { all: 0, within: 0 };
  for (const s of parseMetricSamples(await res.body.text())) {
    if (s.name !== 'http_request_duration_seconds_bucket' || s.labels.status_code !== String(status)) continue;
    if (s.labels.le === '+Inf') times.all += s.value;
    if (s.labels.le === bound) times.within += s.value;
  }
  return times;
}

/** What happened between two readings. */
export function timesBetween(before: AnswerTimes, after: AnswerTimes): AnswerTimes {
  return { all: after.all - before.all, within: after.within - before.within };
}
