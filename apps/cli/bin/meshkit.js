#!/usr/bin/env node
// Committed launcher: npm links a bin only if the file exists at install time, and dist/ is built later.
import { warmUpNextTick } from '../dist/next-tick-warm-up.js';

// Before anything else loads, and beside it (see next-tick-warm-up.ts); a part awaits it before serving.
void warmUpNextTick();
await import('../dist/main.js');
