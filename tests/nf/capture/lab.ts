// Shared by the capture NF's end-to-end tests: a real daemon with two hosts around it (the API
// tests' lab), the real `plexus` command, tcpdump on a host's own interface as the reference for
// what crossed the wire, and small traffic helpers.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { InstanceJson } from "../../../src/api/schemas.js";
import { projectRoot } from "../../../src/build/compile-bpf.js";
import { exec, ipBatch, run, type ExecResult } from "../../../src/testbed/netns.js";
import { onExit } from "../../../src/testbed/on-exit.js";
import { readPcap } from "../../../src/vm/io/pcap.js";
import { startLab, type Lab } from "../../api/lab.js";

export const BIN = join(projectRoot, "bin", "plexus.js");
/** An address nobody has, with a static neighbour entry on host 0: pings to it leave as ICMP. */
export const NOBODY = "198.18.0.77";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts a command whose output is collected; killed at exit if still running. */
export function start(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const stop = onExit(() => child.kill("SIGKILL"));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      stop();
      resolve(code);
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 15_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The frames of a pcap file, as hex, sorted (to compare captures as multisets). */
export const pcapFrames = (file: string): string[] =>
  [...readPcap(readFileSync(file))].map((p) => p.data.toString("hex")).sort();

export class CaptureLab {
  private constructor(
    readonly lab: Lab,
    readonly scratch: string,
  ) {}

  static async start(): Promise<CaptureLab> {
    const lab = await startLab(2);
    const scratch = mkdtempSync(join(tmpdir(), "px-capture-"));
    const h = lab.net.hosts[0];
    await ipBatch(h.ns, [`neigh add ${NOBODY} lladdr 02:00:00:00:00:77 dev ${h.ifname}`]);
    return new CaptureLab(lab, scratch);
  }

  async cleanup(): Promise<void> {
    try {
      await this.lab.cleanup();
    } finally {
      rmSync(this.scratch, { recursive: true, force: true });
    }
  }

  file(name: string): string {
    return join(this.scratch, name);
  }

  private get env(): string {
    return `PLEXUS_SOCKET=${this.lab.home.socket}`;
  }

  /** Runs `plexus ARGS` to its end. */
  px(...args: string[]): Promise<ExecResult> {
    return run("env", [this.env, process.execPath, BIN, ...args], { allowFailure: true, timeoutMs: 60_000 });
  }

  /** Starts `plexus ARGS` in the background. */
  pxStart(...args: string[]): Proc {
    return start("env", [this.env, process.execPath, BIN, ...args]);
  }

  /** Starts a shell pipeline; `plexus` in it is the real command with this lab's socket. */
  shell(pipeline: string): Proc {
    return start("sh", ["-c", pipeline.replace(/\bplexus\b/g, `${this.env} ${process.execPath} ${BIN}`)]);
  }

  async captureInstances(): Promise<string[]> {
    return (await this.lab.api.get<InstanceJson[]>("/v1/instances"))
      .filter((i) => i.type === "capture")
      .map((i) => i.name);
  }

  async captures(): Promise<{ id: string }[]> {
    return this.lab.api.get<{ id: string }[]>("/v1/captures");
  }

  /**
   * Waits until `n` captures run (their instances are attached: packets from now on are seen);
   * fails at once, with its output, if `proc` (the capture command) exits first.
   */
  async captureRunning(proc: Proc, n = 1): Promise<void> {
    let exited: number | null | undefined;
    void proc.exited.then((code) => (exited = code));
    await until("the capture to start", async () => {
      if (exited !== undefined)
        throw new Error(`the capture exited (${exited}): ${proc.stdout()}${proc.stderr()}`);
      return (await this.captures()).length === n;
    });
  }

  /** tcpdump on a host's own interface: the reference for what crossed the wire there. */
  async hostTcpdump(host: number, file: string, filter: string): Promise<Proc> {
    const h = this.lab.net.hosts[host];
    // Immediate mode: every packet is written as it comes (not when a ring block fills or times out).
    const p = start("ip", [
      "netns",
      "exec",
      h.ns,
      "tcpdump",
      "-i",
      h.ifname,
      "--immediate-mode",
      "-U",
      "-w",
      file,
      filter,
    ]);
    await until("tcpdump to listen", () => /listening on/.test(p.stderr()));
    return p;
  }

  /** UDP datagrams from host 0 to a port of host 1. */
  udpTo(port: number, n: number): Promise<ExecResult> {
    const to = this.lab.net.hosts[1].ipv4;
    return exec(this.lab.net.hosts[0].ns, "bash", [
      "-c",
      `for i in $(seq ${n}); do echo "datagram $i to ${port}" > /dev/udp/${to}/${port}; sleep 0.02; done`,
    ]);
  }

  /** A bridge br0 whose ports p0, p1 are the two hosts' DUT interfaces. */
  async bridge(mode: "tc" | "xdp"): Promise<void> {
    await this.lab.api.post("/v1/instances", {
      name: "br0",
      type: "bridge",
      mode,
      ports: [
        { name: "p0", peer: this.lab.iface(0) },
        { name: "p1", peer: this.lab.iface(1) },
      ],
    });
  }
}
