import { useEffect, useState } from 'preact/hooks';
import type { DashboardView } from '../../src/dashboard/wire.js';

export type Connection = 'connecting' | 'live' | 'reconnecting';

/** After this long without a message the stream counts as down, whatever the browser thinks. */
const STALE_MS = 3000;

/**
 * The gateway's `/dashboard/events` stream: the latest view and the state of the connection. The
 * browser reconnects by itself (the server asks for 1 s between tries); the last view stays shown.
 */
export function useLiveView(url: string): { view: DashboardView | undefined; connection: Connection } {
  const [view, setView] = useState<DashboardView | undefined>(undefined);
  const [connection, setConnection] = useState<Connection>('connecting');

  useEffect(() => {
    const source = new EventSource(url);
    let lastMessage = 0;
    source.onopen = () => setConnection('live');
    source.onerror = () => setConnection('reconnecting');
    source.onmessage = (event: MessageEvent<string>) => {
      lastMessage = Date.now();
      setConnection('live');
      try {
        setView(JSON.parse(event.data) as DashboardView);
      } catch {
        // A garbled message: keep the last good view.
      }
    };
    const watchdog = setInterval(() => {
      if (lastMessage !== 0 && Date.now() - lastMessage > STALE_MS) setConnection('reconnecting');
    }, 1000);
    return () => {
      clearInterval(watchdog);
      source.close();
    };
  }, [url]);

  return { view, connection };
}
