// Throw-away network namespaces for tests, benchmarks and the demo: unique `px…` names, veth pairs created directly
// inside them (the root namespace is never touched), addresses from 198.18.0.0/15 and fd00::/8,
// commands and pings run inside them, and the JS main thread moved into one with setns(2).
// Everything created here is removed by cleanup() or, failing that, when the process exits
// (see on-exit.ts); `ip netns del` takes the veths with it.
//
//   const net = await twoHosts();               // a <-veth-> b, 198.18.0.1/.2, fd00::1/::2
//   try {
//     const link = withNetns(net.b.ns, () => attachXdp(prog, net.b.ifname));
//     const r = await ping(net.a.ns, net.b.ipv4, { count: 5, interval: 0.01 });
//   } finally {
//     net.cleanup();
//   }
import { type ChildProcess, execFile, execFileSync, spawn as spawnChild } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { native } from "../bpf/sys/native.js";
import { onExit } from "./on-exit.js";

const CLONE_NEWNET = 0x40000000;
const IFNAMSIZ = 16;

/** Sysctls set in every new namespace (never in the root one): IPv6 usable at once, no DAD. */
const NS_SYSCTLS = [
  "net.ipv6.conf.all.accept_dad=0",
  "net.ipv6.conf.default.accept_dad=0",
  "net.ipv6.conf.all.disable_ipv6=0",
  "net.ipv6.conf.default.disable_ipv6=0",
];

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code (0 unless `allowFailure` was set). */
  code: number;
}

export interface ExecOptions {
  /** Kill the command after this long (default 30 s). */
  timeoutMs?: number;
  /** Resolve with the exit code instead of rejecting when the command fails. */
  allowFailure?: boolean;
  /** Text written to the command's stdin. */
  input?: string;
}

/** Kills `child` at cleanup time if it still runs, so no helper outlives the test process. */
function killAtExit(child: ChildProcess): void {
  const stop = onExit(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });
  child.once("exit", () => stop());
}

/** Runs a command and collects its output; rejects with its stderr when it fails. */
export function run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 << 20, killSignal: "SIGKILL" },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        if (err && !opts.allowFailure) {
          const why = err.killed ? `killed after ${opts.timeoutMs ?? 30_000} ms` : `exit ${String(err.code)}`;
          reject(new Error(`${cmd} ${args.join(" ")}: ${why}: ${stderr.trim() || stdout.trim()}`));
        } else resolve({ stdout, stderr, code });
      },
    );
    killAtExit(child);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs `cmd args` inside namespace `ns` (ip netns exec). */
export function exec(
  ns: string,
  cmd: string,
  args: readonly string[],
  opts?: ExecOptions,
): Promise<ExecResult> {
  return run("ip", ["netns", "exec", ns, cmd, ...args], opts);
}

/**
 * Starts `cmd args` inside namespace `ns` and returns the child. It is killed at cleanup time if
 * still running, so a long-running helper never outlives the test process.
 */
export function spawn(ns: string, cmd: string, args: readonly string[]): ChildProcess {
  const child = spawnChild("ip", ["netns", "exec", ns, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  killAtExit(child);
  return child;
}

/** Runs `ip` commands (one per line, without the leading `ip`) inside `ns` in a single process. */
export async function ipBatch(ns: string, lines: readonly string[]): Promise<void> {
  if (lines.length > 0) await run("ip", ["-n", ns, "-batch", "-"], { input: lines.join("\n") + "\n" });
}

export interface PingOptions {
  /** Echo requests to send (default 3). */
  count?: number;
  /** Seconds between requests (default 0.2; below 0.2 needs root, which these tests have). */
  interval?: number;
  /** Seconds to wait for the last reply (default 1). */
  wait?: number;
  /** Payload bytes (ping -s). */
  size?: number;
}

export interface PingResult {
  transmitted: number;
  received: number;
  /** The full output, for assertion messages. */
  output: string;
}

/** Pings `addr` from namespace `ns` and reports what was sent and answered (never rejects on loss). */
export async function ping(ns: string, addr: string, opts: PingOptions = {}): Promise<PingResult> {
  const count = opts.count ?? 3;
  const interval = opts.interval ?? 0.2;
  const wait = opts.wait ?? 1;
  const args = ["-n", "-q", "-c", String(count), "-i", String(interval), "-W", String(wait)];
  if (opts.size !== undefined) args.push("-s", String(opts.size));
  const timeoutMs = Math.ceil((count * interval + wait) * 1000) + 10_000;
  const r = await exec(ns, "ping", [...args, addr], { allowFailure: true, timeoutMs });
  const output = r.stdout + r.stderr;
  const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(output);
  if (!m) throw new Error(`ping ${addr} in ${ns} gave no summary (exit ${r.code}): ${output.trim()}`);
  return { transmitted: Number(m[1]), received: Number(m[2]), output };
}

/** A short random suffix for names of one test's namespaces and interfaces. */
export const uniqueId = (): string => randomBytes(3).readUIntBE(0, 3).toString(36).padStart(4, "0").slice(-4);

const created = new Map<string, () => void>();

/** Owner records (namespace name -> pid), so a later run can remove what a SIGKILLed one left. */
const OWNERS = join(tmpdir(), "plexus-netns-owners");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Deletes `px…` namespaces whose creating process is dead (killed with SIGKILL, which no handler
 * sees). Namespaces without an owner record, or whose owner runs, are left alone. Returns the
 * names removed. createNetns runs it once per process.
 */
export function reapStaleNamespaces(): string[] {
  let names: string[];
  try {
    names = readdirSync(OWNERS);
  } catch {
    return [];
  }
  const reaped: string[] = [];
  for (const name of names) {
    const record = join(OWNERS, name);
    const pid = Number(readFileSync(record, "utf8"));
    if (!/^px[a-z0-9]+$/.test(name) || (pid > 0 && alive(pid))) continue;
    if (existsSync(`/run/netns/${name}`)) {
      execFileSync("ip", ["netns", "del", name], { stdio: "pipe" });
      reaped.push(name);
    }
    rmSync(record, { force: true });
  }
  return reaped;
}

let reapedOnce = false;

/**
 * Creates namespace `px<id><role>` with loopback up and IPv6 DAD off, registered for cleanup.
 * Keep `role` short: interface names derived from it must fit in 15 characters.
 */
export async function createNetns(role: string, id: string = uniqueId()): Promise<string> {
  const name = `px${id}${role}`;
  if (!/^px[a-z0-9]+$/.test(name) || name.length >= IFNAMSIZ)
    throw new Error(`bad namespace name ${name}: px + [a-z0-9], at most 15 characters`);
  if (!reapedOnce) {
    reapedOnce = true;
    reapStaleNamespaces();
  }
  await run("ip", ["netns", "add", name]);
  mkdirSync(OWNERS, { recursive: true });
  writeFileSync(join(OWNERS, name), String(process.pid));
  created.set(
    name,
    onExit(() => {
      created.delete(name);
      try {
        execFileSync("ip", ["netns", "del", name], { stdio: "pipe" });
      } catch (e) {
        if (existsSync(`/run/netns/${name}`)) throw e; // already gone is fine
      }
      rmSync(join(OWNERS, name), { force: true });
    }),
  );
  try {
    await exec(name, "sysctl", ["-q", "-w", ...NS_SYSCTLS]);
    await ipBatch(name, ["link set lo up"]);
  } catch (e) {
    deleteNetns(name);
    throw e;
  }
  return name;
}

/** Deletes a namespace created by createNetns (and the interfaces inside it). Idempotent. */
export function deleteNetns(name: string): void {
  created.get(name)?.();
}

/** Deletes every namespace this process created and still holds. Idempotent. */
export function cleanup(): void {
  for (const name of [...created.keys()].reverse()) deleteNetns(name);
}

/** Names of the namespaces this process currently holds. */
export const liveNamespaces = (): string[] => [...created.keys()];

/** Names of all `px…` namespaces on the machine (including other processes'). */
export function listPxNamespaces(): string[] {
  const out = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  return out
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith("px"));
}

/** Creates a veth pair with one end in each namespace (created inside them, never in the root one). */
export async function createVeth(
  a: { ns: string; ifname: string },
  b: { ns: string; ifname: string },
): Promise<void> {
  for (const n of [a.ifname, b.ifname])
    if (n.length >= IFNAMSIZ) throw new Error(`interface name ${n} is longer than 15 characters`);
  await run("ip", [
    "-n",
    a.ns,
    "link",
    "add",
    a.ifname,
    "type",
    "veth",
    "peer",
    "name",
    b.ifname,
    "netns",
    b.ns,
  ]);
}

export interface Endpoint {
  ns: string;
  ifname: string;
  /** ifindex inside `ns`. */
  ifindex: number;
  mac: string;
  ipv4: string;
  ipv6: string;
  prefix4: number;
  prefix6: number;
}

interface EndpointSpec {
  ns: string;
  ifname: string;
  ipv4: string;
  ipv6: string;
  prefix4?: number;
  prefix6?: number;
}

/** Addresses an interface (IPv6 without DAD), brings it up and reads back its ifindex and MAC. */
async function configure(spec: EndpointSpec, extra: readonly string[] = []): Promise<Endpoint> {
  const prefix4 = spec.prefix4 ?? 24;
  const prefix6 = spec.prefix6 ?? 64;
  await ipBatch(spec.ns, [
    `addr add ${spec.ipv4}/${prefix4} dev ${spec.ifname}`,
    `addr add ${spec.ipv6}/${prefix6} dev ${spec.ifname} nodad`,
    `link set ${spec.ifname} up`,
    ...extra,
  ]);
  const { stdout } = await run("ip", ["-n", spec.ns, "-j", "link", "show", "dev", spec.ifname]);
  const [info] = JSON.parse(stdout) as { ifindex: number; address: string }[];
  return { ...spec, prefix4, prefix6, ifindex: info.ifindex, mac: info.address };
}

/** Runs `fn` and, if it throws, deletes the given namespaces before rethrowing. */
async function buildOrUndo<T>(namespaces: string[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    for (const n of namespaces) deleteNetns(n);
    throw e;
  }
}

export interface TwoHosts {
  id: string;
  a: Endpoint;
  b: Endpoint;
  namespaces: string[];
  /** Removes both namespaces (idempotent; also done at process exit). */
  cleanup(): void;
}

/** Two namespaces joined by one veth pair: a = 198.18.0.1/24 fd00::1/64, b = .2 / ::2. */
export async function twoHosts(): Promise<TwoHosts> {
  const id = uniqueId();
  const nsA = await createNetns("a", id);
  const namespaces = [nsA];
  return buildOrUndo(namespaces, async () => {
    namespaces.push(await createNetns("b", id));
    const nsB = namespaces[1];
    const ifA = `${nsA}0`;
    const ifB = `${nsB}0`;
    await createVeth({ ns: nsA, ifname: ifA }, { ns: nsB, ifname: ifB });
    const a = await configure({ ns: nsA, ifname: ifA, ipv4: "198.18.0.1", ipv6: "fd00::1" });
    const b = await configure({ ns: nsB, ifname: ifB, ipv4: "198.18.0.2", ipv6: "fd00::2" });
    return { id, a, b, namespaces, cleanup: () => namespaces.forEach(deleteNetns) };
  });
}

export interface ThreeNs {
  id: string;
  /** Sender: 198.18.1.1/24, fd00:1::1/64, default routes via the DUT. */
  sender: Endpoint;
  /** Device under test: left faces the sender (198.18.1.254), right faces the sink (198.18.2.254). */
  dut: { ns: string; left: Endpoint; right: Endpoint };
  /** Sink: 198.18.2.1/24, fd00:2::1/64, default routes via the DUT. */
  sink: Endpoint;
  namespaces: string[];
  cleanup(): void;
}

/**
 * sender — DUT — sink, for forwarding tests. With `forwarding` (default true) the DUT's kernel
 * routes between its two interfaces, so pings from sender to sink work before any program loads.
 */
export async function threeNs(opts: { forwarding?: boolean } = {}): Promise<ThreeNs> {
  const id = uniqueId();
  const nsS = await createNetns("snd", id);
  const namespaces = [nsS];
  return buildOrUndo(namespaces, async () => {
    const nsD = await createNetns("dut", id);
    namespaces.push(nsD);
    const nsK = await createNetns("snk", id);
    namespaces.push(nsK);
    const fwd = (opts.forwarding ?? true) ? "1" : "0";
    await exec(nsD, "sysctl", [
      "-q",
      "-w",
      `net.ipv4.ip_forward=${fwd}`,
      `net.ipv6.conf.all.forwarding=${fwd}`,
    ]);
    await createVeth({ ns: nsS, ifname: `${nsS}0` }, { ns: nsD, ifname: `${nsD}0` });
    await createVeth({ ns: nsD, ifname: `${nsD}1` }, { ns: nsK, ifname: `${nsK}0` });
    const left = await configure({ ns: nsD, ifname: `${nsD}0`, ipv4: "198.18.1.254", ipv6: "fd00:1::fe" });
    const right = await configure({ ns: nsD, ifname: `${nsD}1`, ipv4: "198.18.2.254", ipv6: "fd00:2::fe" });
    const sender = await configure({ ns: nsS, ifname: `${nsS}0`, ipv4: "198.18.1.1", ipv6: "fd00:1::1" }, [
      "route add default via 198.18.1.254",
      "route add default via fd00:1::fe",
    ]);
    const sink = await configure({ ns: nsK, ifname: `${nsK}0`, ipv4: "198.18.2.1", ipv6: "fd00:2::1" }, [
      "route add default via 198.18.2.254",
      "route add default via fd00:2::fe",
    ]);
    return {
      id,
      sender,
      dut: { ns: nsD, left, right },
      sink,
      namespaces,
      cleanup: () => namespaces.forEach(deleteNetns),
    };
  });
}

export interface HostSpec {
  ipv4: string;
  ipv6: string;
  prefix4?: number;
  prefix6?: number;
  /** Extra `ip` lines run in the host (routes, neighbours). */
  extra?: string[];
}

export interface DutTopology {
  id: string;
  /** The device-under-test namespace (where a daemon or data plane runs). */
  dut: string;
  /** Each host, with `dutIfname`: its peer interface inside the DUT (up, unaddressed). */
  hosts: (Endpoint & { dutIfname: string })[];
  namespaces: string[];
  cleanup(): void;
}

/**
 * A DUT namespace with hosts around it, one veth each. The DUT ends are up and unaddressed, for a
 * data plane to take; the host ends are addressed, have GRO on, so that XDP redirects into the
 * veth from the DUT side are delivered (see NOTES.md), and compute their own checksums (TCP
 * through native XDP on veth breaks otherwise).
 */
export async function dutWithHosts(specs: readonly HostSpec[]): Promise<DutTopology> {
  const id = uniqueId();
  const dut = await createNetns("dut", id);
  const namespaces = [dut];
  return buildOrUndo(namespaces, async () => {
    const hosts: DutTopology["hosts"] = [];
    for (const [i, spec] of specs.entries()) {
      const ns = await createNetns(`h${i}`, id);
      namespaces.push(ns);
      const ifname = `${ns}0`;
      const dutIfname = `${dut}${i}`;
      await createVeth({ ns, ifname }, { ns: dut, ifname: dutIfname });
      await ipBatch(dut, [`link set ${dutIfname} up`]);
      const host = await configure({ ns, ifname, ...spec }, spec.extra ?? []);
      // GRO only takes effect on an interface that is up. Checksums are computed by the host: a
      // frame an XDP program redirects loses the skb's "checksum left to the device" state.
      await exec(ns, "ethtool", ["-K", ifname, "gro", "on", "tx", "off"]);
      hosts.push({ ...host, dutIfname });
    }
    return { id, dut, hosts, namespaces, cleanup: () => namespaces.forEach(deleteNetns) };
  });
}

/** The main thread's way back out of a namespace entered with enterNetns. */
export interface NetnsGuard {
  /** Returns the main thread to the namespace it was in before (idempotent). */
  restore(): void;
}

function setnsFromPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    const r = native().setns(fd, CLONE_NEWNET);
    if (r.ret < 0) throw new Error(`setns(${path}) failed: errno ${r.errno}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Moves the JS main thread into namespace `name`, so in-process bpf(2) and netlink calls (which
 * resolve interfaces in the caller's namespace) act there. Worker threads (libuv's pool, used by
 * async fs and bpfAsync) stay where they were; child processes spawned meanwhile start inside.
 */
export function enterNetns(name: string): NetnsGuard {
  const back = openSync("/proc/thread-self/ns/net", "r");
  try {
    setnsFromPath(`/run/netns/${name}`);
  } catch (e) {
    closeSync(back);
    throw e;
  }
  let restored = false;
  return {
    restore() {
      if (restored) return;
      restored = true;
      try {
        const r = native().setns(back, CLONE_NEWNET);
        if (r.ret < 0) throw new Error(`setns back failed: errno ${r.errno}`);
      } finally {
        closeSync(back);
      }
    },
  };
}

/**
 * Runs `fn` with the main thread inside namespace `name` and moves it back afterwards, also when
 * `fn` throws. For an async `fn` the thread stays inside until its promise settles, so anything
 * else the event loop runs meanwhile also runs inside: keep such sections short.
 */
export function withNetns<T>(name: string, fn: () => Promise<T>): Promise<T>;
export function withNetns<T>(name: string, fn: () => T): T;
export function withNetns<T>(name: string, fn: () => T | Promise<T>): T | Promise<T> {
  const guard = enterNetns(name);
  let result: T | Promise<T>;
  try {
    result = fn();
  } catch (e) {
    guard.restore();
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => guard.restore());
  guard.restore();
  return result;
}
