import type { DashboardInstance, DashboardRequest, DashboardService } from '../../src/dashboard/wire.js';
import { clockTime, fixed, NONE, percent, shortId } from './format.js';
import { type Connection, useLiveView } from './use-live-view.js';

const CONNECTION_TEXT: Record<Connection, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'disconnected, retrying…',
};

export function App() {
  const { view, connection } = useLiveView('/dashboard/events');
  return (
    <main>
      <header>
        <h1>meshkit</h1>
        <span class={`connection ${connection}`} data-testid="connection" data-state={connection}>
          {CONNECTION_TEXT[connection]}
        </span>
        {view && <span class="muted">figures over the last {view.window_s} s</span>}
      </header>
      {view === undefined ? (
        <p class="muted">waiting for the gateway…</p>
      ) : (
        <>
          {view.services.length === 0 && <p class="muted">no service registered</p>}
          {view.services.map((s) => (
            <ServiceTable key={s.name} service={s} />
          ))}
          <RecentRequests requests={view.recent} />
        </>
      )}
    </main>
  );
}

function ServiceTable({ service }: { service: DashboardService }) {
  return (
    <section data-testid={`service-${service.name}`}>
      <h2>
        {service.name} <span class="muted">{service.instances.length} instance{service.instances.length === 1 ? '' : 's'}</span>
      </h2>
      <table>
        <thead>
          <tr>
            <th>instance</th>
            <th>address</th>
            <th>status</th>
            <th>breaker</th>
            <th class="num">in-flight</th>
            <th class="num">req/s</th>
            <th class="num">p50 ms</th>
            <th class="num">p99 ms</th>
            <th class="num">error %</th>
          </tr>
        </thead>
        <tbody>
          {service.instances.map((i) => (
            <InstanceRow key={i.id} instance={i} />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function InstanceRow({ instance: i }: { instance: DashboardInstance }) {
  return (
    <tr data-testid={`instance-${i.id}`} data-status={i.status} data-circuit={i.circuit} data-ejected={String(i.ejected)}>
      <td title={i.pid === null ? i.id : `${i.id} (pid ${i.pid})`}>
        <code>{shortId(i.id)}</code>
      </td>
      <td>{i.address}</td>
      <td class={`status ${i.status}${i.ejected ? ' ejected' : ''}`}>
        {i.status}
        {i.ejected ? ' · ejected' : ''}
      </td>
      <td class={`circuit ${i.circuit}`}>{i.circuit.replace('_', '-')}</td>
      <td class="num">{i.in_flight}</td>
      <td class="num" data-testid="req-per-s">
        {fixed(i.req_per_s, 1)}
      </td>
      <td class="num">{fixed(i.p50_ms, 1)}</td>
      <td class="num">{fixed(i.p99_ms, 1)}</td>
      <td class={`num${(i.error_rate ?? 0) > 0 ? ' bad' : ''}`}>{percent(i.error_rate)}</td>
    </tr>
  );
}

function RecentRequests({ requests }: { requests: DashboardRequest[] }) {
  return (
    <section data-testid="recent">
      <h2>recent requests</h2>
      {requests.length === 0 ? (
        <p class="muted">none yet</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>time</th>
              <th>request id</th>
              <th>method</th>
              <th>path</th>
              <th class="num">status</th>
              <th class="num">ms</th>
              <th>instance</th>
            </tr>
          </thead>
          <tbody>
            {requests.map((r) => (
              <tr key={r.request_id} data-testid={`request-${r.request_id}`}>
                <td>{clockTime(r.at)}</td>
                <td>
                  <code>{r.request_id}</code>
                </td>
                <td>{r.method}</td>
                <td class="path">{r.path}</td>
                <td class={`num${r.status >= 500 ? ' bad' : ''}`}>{r.status}</td>
                <td class="num">{r.duration_ms.toFixed(1)}</td>
                <td title={r.instance ?? undefined}>{r.instance === null ? NONE : <code>{shortId(r.instance)}</code>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
