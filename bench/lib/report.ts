import type { Machine } from './machine.js';
import { fmtUs } from './proxy-bench.js';
import type { ScenarioResult, ScenarioTarget } from './scenario.js';
import type { Summary, SummaryRow } from './summary.js';

export interface ScenarioSection {
  name: string;
  /** The scenario's table, or why there is none. */
  result?: ScenarioResult;
  error?: string;
}

export interface ReportInput {
  date: string;
  quick: boolean;
  command: string;
  machine: Machine;
  /** Which code was measured (`codeVersion`). */
  code: string;
  loadAtEnd: string;
  pinning: string;
  tool: string;
  toolNote?: string;
  nginx?: string;
  params: { rounds: number; durationS: number; warmupS: number; latencyS: number; primeS: number; connections: number };
  balancer: string;
  /** NODE_OPTIONS given to every meshkit gateway (`--gateway-node-options`); undefined: none. */
  gatewayNodeOptions?: string;
  summary?: Summary;
  chartFile?: string;
  scenarios: ScenarioSection[];
  scenariosNote?: string;
  notes: string[];
  elapsedS: number;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '—');

export function table(columns: string[], rows: (string | number)[][]): string {
  const esc = (v: string | number) => String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    `| ${columns.map(esc).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function targetsTable(targets: ScenarioTarget[]): string {
  return table(
    ['target', 'measured', 'limit', 'met'],
    targets.map((t) => [t.name, t.value, t.limit, t.met ? 'met' : '**not met**']),
  );
}

export function summaryColumns(withBroker: boolean): string[] {
  return [
    'contender',
    'behind it',
    'req/s',
    '× direct',
    'p50',
    'p99',
    'proxy CPU µs/req',
    'backend CPU µs/req',
    ...(withBroker ? ['NATS CPU µs/req'] : []),
    'added p50 at 1 conn',
    'proxy CPU µs/req at 1 conn',
  ];
}

export function summaryRows(rows: SummaryRow[], withBroker: boolean): (string | number)[][] {
  return rows.map((r) => {
    const c = r.outcome.contender;
    const label = c.informational ? `${c.label} (informational)` : c.label;
    if (r.rounds === 0) {
      const why = r.outcome.status === 'unavailable' ? `not available: ${r.outcome.reason}` : `failed: ${r.outcome.reason}`;
      return [label, c.backendLabel, why, '', '', '', '', '', ...(withBroker ? [''] : []), '', ''];
    }
    const isDirect = c.id === 'direct';
    return [
      label + (r.failures > 0 ? ` (${r.failures} failed requests)` : ''),
      c.backendLabel,
      Math.round(r.rps).toLocaleString('en-US'),
      isDirect ? '1.00' : fmt(r.rpsRatio, 2),
      fmtUs(r.p50Us),
      fmtUs(r.p99Us),
      isDirect ? '—' : fmt(r.proxyUs),
      fmt(r.backendUs),
      ...(withBroker ? [Number.isFinite(r.brokerUs) ? fmt(r.brokerUs) : '—'] : []),
      isDirect ? `(${fmtUs(r.singleP50Us)})` : `${fmt(r.addedLatencyUs, 0)} µs`,
      fmt(r.singleProxyUs),
    ];
  });
}

export function renderReport(input: ReportInput): string {
  const out: string[] = [];
  const { machine, params } = input;
  out.push(`# meshkit benchmark, ${input.date}${input.quick ? ' (quick)' : ''}`, '');
  out.push(
    `\`${input.command}\` — ${input.quick ? 'quick mode: one short round, a smoke test of the harness, **not** a measurement to quote' : `${params.rounds} interleaved rounds, medians`}; took ${Math.round(input.elapsedS)} s.`,
    '',
    `- Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.kernel}, Node ${machine.node}` +
      (input.nginx ? `, ${input.nginx}` : ''),
    `- Code: ${input.code}`,
    `- Pinning: ${input.pinning}`,
    `- Load: ${input.tool}, ${params.connections} connections, 1 thread; each contender warmed up once before the first round (≥ ${params.primeS} s, until two 1 s steps agree within 10 %, ≤ ${3 * params.primeS} s), ` +
      `then per round ${params.warmupS} s of warm-up and ${params.durationS} s measured; ` +
      `then, for the added latency at 1 connection, ${params.latencyS === 1 ? '1 pair' : `${params.latencyS} pairs`} of 1 s runs back to back with direct's (which goes first alternating), the median of the pairs' p50 differences (direct alone: ${params.latencyS} s). ${input.toolNote ?? ''}`.trimEnd(),
    `- Request: \`GET /products/<uuid>\`, a ~190-byte JSON product; the meshkit gateway's balancer: ${input.balancer}` +
      (input.gatewayNodeOptions ? `; every meshkit gateway ran with NODE_OPTIONS="${input.gatewayNodeOptions}".` : '.'),
    `- CPU: utime + stime from \`/proc/<pid>/stat\` of each process (and its children) before and after the measured run, divided by the requests it completed.`,
    `- Load average (1, 5, 15 min): ${machine.loadAverage} at the start, ${input.loadAtEnd} at the end. Other work on the machine shows up as noise.`,
    '',
  );

  if (input.summary) {
    const s = input.summary;
    const withBroker = s.rows.some((r) => Number.isFinite(r.brokerUs));
    out.push('## One tiny JSON through each contender', '');
    out.push(table(summaryColumns(withBroker), summaryRows(s.rows, withBroker)), '');
    out.push(
      '× direct is computed per round against direct in the same round, the added latency from runs paired with direct\'s; then the median over the rounds is taken. ' +
        "Direct's own 1-connection p50 is shown in parentheses. At 1 connection the backend shares the proxy's core, so the proxy's CPU per request there (its own runs of the pairs) is on every request's path.",
      '',
    );
    if (input.chartFile) out.push(`![req/s and CPU per request](${input.chartFile})`, '');
    out.push('### Targets (issue 5)', '');
    if (s.targets.length > 0) out.push(targetsTable(s.targets), '');
    for (const u of s.unjudged) out.push(`- not judged: ${u}`);
    if (s.unjudged.length > 0) out.push('');
    if (input.quick) out.push('Quick mode: one ~1 s round; the targets are printed to keep the code path alive, not to be judged.', '');

    out.push('### Contenders', '');
    for (const r of s.rows) out.push(`- **${r.outcome.contender.label}**: ${r.outcome.contender.description}`);
    out.push('');

    out.push('### Every round', '');
    const perRound: (string | number)[][] = [];
    for (const r of s.rows) {
      for (const m of [...r.outcome.measurements].sort((a, b) => a.round - b.round)) {
        perRound.push([
          m.round + 1,
          m.slot + 1,
          r.outcome.contender.id,
          Math.round(m.load.rps),
          fmtUs(m.load.p50Us),
          fmtUs(m.load.p99Us),
          r.outcome.contender.id === 'direct' ? '—' : fmt(m.proxyUs),
          fmt(m.backendUs),
          m.brokerUs === undefined ? '—' : fmt(m.brokerUs),
          fmtUs(m.single.p50Us),
          m.singleProxyUs === undefined ? '—' : fmt(m.singleProxyUs),
          m.load.requests,
          m.load.failures + m.single.failures,
          m.otherLoadPercent === undefined ? '—' : `${m.otherLoadPercent.toFixed(0)} %`,
        ]);
      }
    }
    out.push(
      table(
        ['round', 'slot', 'contender', 'req/s', 'p50', 'p99', 'proxy µs/req', 'backend µs/req', 'NATS µs/req', '1-conn p50', 'proxy µs/req at 1 conn', 'requests', 'failed', 'other load on core 1'],
        perRound,
      ),
      '',
      '"other load on core 1": the share of the server core busy with anything but the contender\'s own processes during its ' +
        'measured run (other sessions on this machine, NATS, kernel work not charged to a process). High values mark a noisy round.',
      '',
    );
  }

  for (const section of input.scenarios) {
    if (section.error !== undefined) {
      out.push(`## Scenario ${section.name}`, '', `**The scenario failed:** ${section.error}`, '');
      continue;
    }
    const r = section.result as ScenarioResult;
    out.push(`## ${r.title}`, '', `Scenario \`${section.name}\`.`, '');
    if (r.rows.length > 0) out.push(table(r.columns, r.rows), '');
    if (r.targets.length > 0) out.push(targetsTable(r.targets), '');
    for (const n of r.notes) out.push(`- ${n}`);
    if (r.notes.length > 0) out.push('');
  }
  if (input.scenariosNote) out.push(`_${input.scenariosNote}_`, '');

  if (input.notes.length > 0) {
    out.push('## Notes', '');
    for (const n of input.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}
