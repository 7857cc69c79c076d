import { toMeshError } from '@meshkit/toolkit';
import { isOrderError } from './domain/errors.js';

/** The edge's one translation: a domain error becomes its HTTP problem; anything else (an upstream MeshError) passes. */
export function toHttpError(e: unknown): unknown {
  return isOrderError(e) ? toMeshError(e) : e;
}
