import type { IncomingHttpHeaders } from 'node:http';
import { type Clock, deadlineFromHeaders, MeshError, REQUEST_TIMEOUT_HEADER } from '@meshkit/toolkit/core';

/**
 * The deadline a client set with `x-request-timeout-ms`, bounding every attempt to `service`
 * together (the upstream is told what remains): undefined when it set none, or nonsense (ignored,
 * as the services ignore it); a 504 MeshError when it left no time at all.
 */
export function clientDeadline(headers: IncomingHttpHeaders, clock: Clock, service: string): number | undefined | MeshError {
  if (headers[REQUEST_TIMEOUT_HEADER] === undefined) return undefined;
  const now = clock.now();
  const deadline = deadlineFromHeaders(headers, now);
  if (deadline === undefined || deadline > now) return deadline;
  return new MeshError('UPSTREAM_TIMEOUT', `The client's ${REQUEST_TIMEOUT_HEADER} left no time to call ${service}`);
}
