import { fileURLToPath } from 'node:url';

// Compiled to bench/dist/scenarios/support/paths.js: the folders every scenario starts processes from.

/** bench/dist: the compiled bench servers (the harness's and the scenarios' own). */
export const DIST_DIR = fileURLToPath(new URL('../../', import.meta.url));
/** The repository root: `apps/cli/bin/meshkit.js` lives under it. */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const MESHKIT_BIN = `${REPO_ROOT}apps/cli/bin/meshkit.js`;
/** A scenario's own server script, by its name under bench/scenarios/servers/. */
export const scenarioServer = (name: string): string => `${DIST_DIR}scenarios/servers/${name}.js`;
