import type { SummaryRow } from './summary.js';

/**
 * A hand-written SVG of the run: req/s per contender, and CPU µs per request stacked as proxy +
 * backend (+ broker). No chart library: bars are rectangles.
 */
export function renderChart(rows: SummaryRow[], title: string): string {
  const measured = rows.filter((r) => r.rounds > 0);
  const labelW = 270;
  const barW = 420;
  const rowH = 26;
  const panelGap = 50;
  const top = 56;
  const panelH = measured.length * rowH;
  const width = labelW + barW + 130;
  const height = top + 2 * panelH + panelGap + 16;
  const colors = { rps: '#4c78a8', proxy: '#e45756', backend: '#72b7b2', broker: '#eeca3b' };
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
  );

  const maxRps = Math.max(1, ...measured.map((r) => r.rps));
  let y = top;
  out.push(`<text x="10" y="${y - 8}" font-weight="bold">req/s (median of rounds, 50 connections)</text>`);
  for (const r of measured) {
    const w = (r.rps / maxRps) * barW;
    out.push(
      `<text x="${labelW - 8}" y="${y + 17}" text-anchor="end">${esc(r.outcome.contender.label)}</text>`,
      `<rect x="${labelW}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${colors.rps}"/>`,
      `<text x="${labelW + w + 6}" y="${y + 17}">${Math.round(r.rps).toLocaleString('en-US')}</text>`,
    );
    y += rowH;
  }

  y += panelGap;
  const total = (r: SummaryRow) => r.proxyUs + r.backendUs + (Number.isFinite(r.brokerUs) ? r.brokerUs : 0);
  const maxUs = Math.max(1, ...measured.map(total));
  out.push(
    `<text x="10" y="${y - 8}" font-weight="bold">CPU µs per request: </text>`,
    `<rect x="190" y="${y - 19}" width="12" height="12" fill="${colors.proxy}"/><text x="206" y="${y - 8}">proxy</text>`,
    `<rect x="256" y="${y - 19}" width="12" height="12" fill="${colors.backend}"/><text x="272" y="${y - 8}">backend</text>`,
    `<rect x="340" y="${y - 19}" width="12" height="12" fill="${colors.broker}"/><text x="356" y="${y - 8}">NATS</text>`,
  );
  for (const r of measured) {
    let x = labelW;
    out.push(`<text x="${labelW - 8}" y="${y + 17}" text-anchor="end">${esc(r.outcome.contender.label)}</text>`);
    const parts: [number, string][] = [
      [r.proxyUs, colors.proxy],
      [r.backendUs, colors.backend],
      [Number.isFinite(r.brokerUs) ? r.brokerUs : 0, colors.broker],
    ];
    for (const [us, color] of parts) {
      const w = (us / maxUs) * barW;
      if (w > 0) out.push(`<rect x="${x.toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${color}"/>`);
      x += w;
    }
    const label = r.proxyUs > 0 ? `${r.proxyUs.toFixed(1)} + ${r.backendUs.toFixed(1)}` : `${r.backendUs.toFixed(1)}`;
    out.push(`<text x="${x + 6}" y="${y + 17}">${label}${Number.isFinite(r.brokerUs) ? ` + ${r.brokerUs.toFixed(1)}` : ''}</text>`);
    y += rowH;
  }
  out.push('</svg>', '');
  return out.join('\n');
}
