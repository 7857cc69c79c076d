#!/usr/bin/env node
// Committed launcher: npm links a bin only if the file exists at install time, and dist/ is built later.
import '../dist/main.js';
