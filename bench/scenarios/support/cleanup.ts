import { ProcessSet } from '../../lib/processes.js';

/**
 * Runs `body` with a ProcessSet of its own and stops every process it started afterwards, on
 * success and on error; should the bench exit meanwhile, they are killed on the way out.
 */
export async function withProcesses<T>(body: (processes: ProcessSet) => Promise<T>): Promise<T> {
  const processes = new ProcessSet();
  const onExit = () => processes.killAllNow();
  process.once('exit', onExit);
  try {
    return await body(processes);
  } finally {
    await processes.stopAll();
    process.off('exit', onExit);
  }
}
