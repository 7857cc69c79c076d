/**
 * A bench server outlives nothing: when the harness that started it is gone (even killed with
 * SIGKILL, which runs no cleanup), the process is re-parented and stops itself within a second.
 */
export function exitWithParent(): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000);
  timer.unref();
}
