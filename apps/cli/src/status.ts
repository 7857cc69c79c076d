import { request } from 'undici';

interface RegistryView {
  services: {
    name: string;
    instances: {
      id: string;
      host: string;
      port: number;
      version: string;
      weight: number;
      status: string;
      circuit: string;
      in_flight: number;
      ejected?: boolean;
      meta: Record<string, string>;
    }[];
  }[];
}

/** The gateway's `/registry` as a table. */
export async function fetchStatus(baseUrl: string): Promise<string> {
  const res = await request(new URL('/registry', baseUrl));
  if (res.statusCode !== 200) throw new Error(`GET /registry answered ${res.statusCode}`);
  const view = (await res.body.json()) as RegistryView;
  return formatStatus(view);
}

export function formatStatus(view: RegistryView): string {
  const header = ['SERVICE', 'INSTANCE', 'ADDRESS', 'VERSION', 'WEIGHT', 'STATUS', 'CIRCUIT', 'IN-FLIGHT', 'PID'];
  const rows = view.services.flatMap((s) =>
    s.instances.map((i) => [
      s.name,
      i.id.slice(0, 8),
      `${i.host}:${i.port}`,
      i.version,
      String(i.weight),
      i.status,
      i.ejected ? `${i.circuit}, ejected` : i.circuit,
      String(i.in_flight),
      i.meta.pid ?? '',
    ]),
  );
  if (rows.length === 0) return 'no instances registered';
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  return [header, ...rows].map((r) => r.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  ').trimEnd()).join('\n');
}
