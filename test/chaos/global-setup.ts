import { knownDefects } from './known-defects.js';
import { clearResults, readResults, REPORT_FILE, renderReport, writeReport } from './report.js';
import { LOAD_RATE, TIMINGS } from './timings.js';

/** Before the chaos files: forget an earlier run's rows. After them: the report, printed and written. */
export default function setup(): () => void {
  clearResults();
  return () => {
    const rows = readResults();
    if (rows.length === 0) return;
    const timings = Object.entries(TIMINGS)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const skipped = Object.entries(knownDefects)
      .filter(([id]) => !rows.some((r) => r.id === id))
      .map(([id, defect]) => `- ${id}: ${defect}`);
    const context = [
      `${new Date().toISOString()}: \`meshkit cluster --replicas products=3\` (users and orders once each) on PostgreSQL,`,
      `its own redis-server, ${timings}; a steady load of ${LOAD_RATE} req/s`,
      '(2/3 `GET /products/:id`, 1/3 `POST /orders` of 1 unit with an `Idempotency-Key`).',
      ...(skipped.length === 0
        ? []
        : ['', 'Skipped, known product defects (`CHAOS_KNOWN_DEFECTS=1` runs them):', ...skipped]),
    ].join('\n');
    const text = renderReport(rows, context);
    writeReport(text);
    console.log(`\n${text}\nwritten to ${REPORT_FILE}`);
  };
}
