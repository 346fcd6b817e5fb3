// One registry of synchronous cleanup tasks for test helpers that create system state (network
// namespaces, bpffs mounts). Tasks run on explicit request, on normal exit, on uncaught exceptions
// and unhandled rejections (Node emits 'exit' for those too), and on SIGINT/SIGTERM/SIGHUP.
// SIGKILL cannot be caught: nothing can clean up after it.

type Task = () => void;

const tasks = new Map<number, Task>();
let nextId = 1;
let installed = false;

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Runs every pending task (newest first), each at most once; errors are reported, not thrown. */
export function runExitTasks(): void {
  const ids = [...tasks.keys()].reverse();
  for (const id of ids) {
    const task = tasks.get(id);
    tasks.delete(id);
    try {
      task?.();
    } catch (e) {
      process.stderr.write(`plexus test cleanup failed: ${(e as Error).message}\n`);
    }
  }
}

function onSignal(signal: (typeof SIGNALS)[number]): void {
  runExitTasks();
  process.removeListener(signal, signalHandlers[signal]);
  // With no other listener the default action applies again: re-raise so the exit status says
  // which signal ended the process. Another listener (a test runner's) decides on its own.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

const signalHandlers = {
  SIGINT: () => onSignal("SIGINT"),
  SIGTERM: () => onSignal("SIGTERM"),
  SIGHUP: () => onSignal("SIGHUP"),
};

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runExitTasks);
  for (const s of SIGNALS) process.on(s, signalHandlers[s]);
}

/**
 * Registers a synchronous cleanup task. Returns a function that runs it now (once) and removes it
 * from the registry, so explicit cleanup and exit-time cleanup never both run it.
 */
export function onExit(task: Task): () => void {
  install();
  const id = nextId++;
  tasks.set(id, task);
  return () => {
    if (!tasks.delete(id)) return;
    task();
  };
}
