// Real daemons for the API, CLI and daemon tests: `plexusd` spawned with `ip netns exec` inside a
// throw-away namespace, with its own private bpffs, state directory and unix socket; stopped (and
// everything removed) at the end, or killed when the test process exits.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient } from "../../src/api/client.js";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { mountBpffs, type Bpffs } from "../../src/testbed/bpffs.js";
import { run, type ExecResult } from "../../src/testbed/netns.js";
import { onExit } from "../../src/testbed/on-exit.js";

export const PLEXUSD = join(projectRoot, "bin", "plexusd.js");

/** Where one daemon lives: reused across restarts of it. */
export interface DaemonHome {
  ns: string;
  socket: string;
  stateDir: string;
  bpffs: string;
  /** Removes the directories and unmounts the bpffs. */
  cleanup(): void;
}

export function daemonHome(ns: string): DaemonHome {
  const dir = mkdtempSync(join(tmpdir(), "px-daemon-"));
  let fs: Bpffs | undefined;
  try {
    fs = mountBpffs();
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const bpffs = fs;
  const stop = onExit(() => {
    bpffs.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    ns,
    socket: join(dir, "plexus.sock"),
    stateDir: join(dir, "state"),
    bpffs: bpffs.path,
    cleanup: stop,
  };
}

export interface Daemon {
  home: DaemonHome;
  client: ApiClient;
  proc: ChildProcess;
  pid: number;
  /** What the daemon wrote to stderr (its JSON log). */
  log(): string;
  /** SIGTERM (or `signal`) and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

export const daemonArgs = (home: DaemonHome, extra: readonly string[] = []): string[] => [
  "--socket",
  home.socket,
  "--state-dir",
  home.stateDir,
  "--bpffs",
  home.bpffs,
  "--log-level",
  "debug",
  ...extra,
];

/** Starts plexusd in `home.ns` and waits until its API answers. */
export async function startDaemon(home: DaemonHome, extra: readonly string[] = []): Promise<Daemon> {
  const proc = spawn(
    "ip",
    ["netns", "exec", home.ns, process.execPath, PLEXUSD, ...daemonArgs(home, extra)],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const unregister = onExit(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  void exited.then(() => unregister());
  const client = new ApiClient({ socket: home.socket });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null)
      throw new Error(`plexusd exited (${proc.exitCode ?? proc.signalCode}) before it was ready:\n${stderr}`);
    try {
      await client.call("GET", "/v1/status", { timeoutMs: 2000 });
      break;
    } catch {
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`plexusd did not answer within 60 s:\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    home,
    client,
    proc,
    pid: proc.pid ?? 0,
    log: () => stderr,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
  };
}

/** Runs plexusd to its end (for start failures): exit code and output. */
export function runDaemon(ns: string, args: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
  return run("ip", ["netns", "exec", ns, process.execPath, PLEXUSD, ...args], {
    allowFailure: true,
    timeoutMs,
  });
}
