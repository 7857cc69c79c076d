#!/usr/bin/env node
// Committed launcher: npm links a bin only if the file exists at install time, and dist/ is built later.
import { youngGeneration } from '../dist/young-generation.js';
import { warmUpNextTick } from '../dist/next-tick-warm-up.js';

// First of all: loading grows V8's young generation with garbage; a gateway caps it once serving (young-generation.ts).
youngGeneration.hold();

// Before anything else loads, and beside it (see next-tick-warm-up.ts); a part awaits it before serving.
void warmUpNextTick();
await import('../dist/main.js');
