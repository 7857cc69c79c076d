import { MeshError, type ServiceResponse } from '@meshkit/toolkit';

/**
 * An answer outside the contract of the called API. It is the upstream's fault, never the
 * client's: a 503/504 keeps its meaning, anything else is a 502.
 */
export function unexpectedAnswer(service: string, what: string, res: ServiceResponse): MeshError {
  const detail = `${service} answered ${res.status} to ${what}`;
  if (res.status === 503) {
    const retryAfter = Number(res.headers['retry-after']);
    return new MeshError(
      'NO_HEALTHY_INSTANCE',
      detail,
      Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfter } : {},
    );
  }
  if (res.status === 504) return new MeshError('UPSTREAM_TIMEOUT', detail);
  return new MeshError('UPSTREAM_FAILED', detail);
}
