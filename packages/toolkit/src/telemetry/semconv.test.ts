import * as published from '@opentelemetry/semantic-conventions';
import { describe, expect, it } from 'vitest';
import * as semconv from './semconv.js';

describe('semconv', () => {
  it('spells each attribute name as the OpenTelemetry package does', () => {
    const names = Object.keys(semconv);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      expect(semconv[name as keyof typeof semconv], name).toBe(published[name as keyof typeof published]);
    }
  });
});
