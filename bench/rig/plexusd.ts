// plexusd for benchmarks: a real daemon started in the rig's DUT namespace with its own bpffs,
// state directory and socket, driven through the API as users drive it; stopped (and everything
// it made removed) on every exit path.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient } from "../../src/api/client.js";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { Hypervisor } from "../../src/core/hypervisor.js";
import { mountBpffs, type Bpffs } from "../../src/testbed/bpffs.js";
import { withNetns } from "../../src/testbed/netns.js";
import { onExit } from "../../src/testbed/on-exit.js";
import type { DutContext } from "./dut.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class BenchDaemon {
  private constructor(
    readonly proc: ChildProcess,
    readonly api: ApiClient,
    readonly socket: string,
    readonly bpffs: Bpffs,
    private readonly cleanup: () => void,
  ) {}

  /** Starts plexusd in namespace `ns` and waits until its API answers. */
  static async start(ns: string): Promise<BenchDaemon> {
    const dir = mkdtempSync(join(tmpdir(), "px-bench-"));
    const bpffs = mountBpffs();
    const socket = join(dir, "plexus.sock");
    const daemonArgs = ["--socket", socket, "--state-dir", join(dir, "state"), "--bpffs", bpffs.path];
    const proc = spawn(
      "ip",
      [
        "netns",
        "exec",
        ns,
        process.execPath,
        join(projectRoot, "bin", "plexusd.js"),
        ...daemonArgs,
        "--log-level",
        "warn",
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    // Runs once: at stop(), or at exit whichever way the process goes.
    const cleanup = onExit(() => {
      proc.kill("SIGKILL");
      bpffs.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });
    const api = new ApiClient({ socket });
    for (let i = 0; ; i++) {
      try {
        await api.get("/v1/status");
        break;
      } catch (e) {
        if (i > 600 || proc.exitCode !== null) {
          cleanup();
          throw e;
        }
        await sleep(50);
      }
    }
    return new BenchDaemon(proc, api, socket, bpffs, cleanup);
  }

  async stop(): Promise<void> {
    this.proc.kill("SIGTERM");
    await new Promise((r) => (this.proc.exitCode !== null ? r(null) : this.proc.once("exit", r)));
    this.cleanup();
  }
}

/**
 * The hypervisor in this process, in the DUT's namespace, with its own bpffs and state directory;
 * all of it destroyed at the arm's teardown. Calls into it that touch interfaces must run inside
 * the namespace (`withNetns(dut.ns, ...)`).
 */
export async function dutHypervisor(dut: DutContext): Promise<Hypervisor> {
  const fs = mountBpffs();
  dut.defer(() => fs.cleanup());
  const stateDir = mkdtempSync(join(tmpdir(), "px-bench-state-"));
  dut.defer(() => rmSync(stateDir, { recursive: true, force: true }));
  const hv = await withNetns(dut.ns, () => Hypervisor.start({ stateDir, bpffs: fs.path }));
  dut.defer(() => withNetns(dut.ns, () => hv.destroy()));
  return hv;
}
