// The device under test: what an arm configures between the generator and the sink. An arm is a
// DutConfig whose setup() gets a DutContext (the DUT namespace, its two interfaces, the peers'
// addresses and MACs, and helpers that undo themselves); teardown runs what setup deferred, newest
// first, and the rig then checks the DUT is back to its pristine state, so arms that alternate
// in one run never see each other's leftovers.
import { readFileSync, writeFileSync } from "node:fs";
import { queryTcx } from "../../src/bpf/link/tcx.js";
import {
  exec,
  ipBatch,
  withNetns,
  type Endpoint,
  type ExecOptions,
  type ExecResult,
} from "../../src/testbed/netns.js";

export interface DutContext {
  /** The DUT's namespace. */
  readonly ns: string;
  /** The DUT's interface facing the generator (198.18.1.254/24, fd00:1::fe/64). */
  readonly left: Endpoint;
  /** The DUT's interface facing the sink (198.18.2.254/24, fd00:2::fe/64). */
  readonly right: Endpoint;
  /** The generator's end of the left link (for MACs and addresses; never configure it). */
  readonly gen: Endpoint;
  /** The sink's end of the right link. */
  readonly sink: Endpoint;
  /** `ip` commands (one per line, without the leading `ip`) in the DUT namespace, in one process. */
  ip(lines: readonly string[]): Promise<void>;
  /** Sets sysctls in the DUT namespace; their old values are restored at teardown. */
  sysctl(settings: Record<string, string | number>): Promise<void>;
  /** Runs a command in the DUT namespace. */
  exec(cmd: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Runs `fn` with this thread in the DUT namespace (attachXdp, attachTcx, netlink...). */
  within<T>(fn: () => T): T;
  /** Registers an undo step for teardown (run newest first, also when setup fails half-way). */
  defer(undo: () => void | Promise<void>): void;
  /**
   * Registers a check run after every measurement: a returned message marks the run as not adding
   * up (e.g. "the forwarder left 12 frames to the kernel"), and it is reported, never used.
   */
  check(fn: DutCheck): void;
}

/** What a DUT check learns about the run it checks. */
export interface RunTotals {
  /** Frames the generator sent. */
  sent: number;
  /** Frames of the run the sink counted. */
  received: number;
}

export type DutCheck = (run: RunTotals) => string | undefined | Promise<string | undefined>;

export interface DutConfig {
  /** The arm's name in reports. */
  name: string;
  /**
   * 2: the DUT switches (the generator addresses frames to the sink's MAC); 3: it routes (frames
   * go to the DUT's left MAC, IP destinations are FAR_V4/FAR_V6 addresses routed via the sink).
   */
  layer: 2 | 3;
  setup(dut: DutContext): void | Promise<void>;
}

/** A configured DUT: its checks and its teardown. */
export interface DutSession {
  readonly config: DutConfig;
  /** Problems the arm's checks report after a run (empty when all is well). */
  checks(run: RunTotals): Promise<string[]>;
  /** Undoes the setup (idempotent), then verifies the DUT is as the rig built it. */
  teardown(): Promise<void>;
}

export interface DutPeers {
  ns: string;
  left: Endpoint;
  right: Endpoint;
  gen: Endpoint;
  sink: Endpoint;
}

/** Applies `config` to the DUT; on failure, undoes what was done and rethrows. */
export async function startDut(peers: DutPeers, config: DutConfig, pristine: string): Promise<DutSession> {
  const undo: (() => void | Promise<void>)[] = [];
  const checks: DutCheck[] = [];
  const ctx: DutContext = {
    ...peers,
    ip: (lines) => ipBatch(peers.ns, lines),
    async sysctl(settings) {
      // /proc/sys/net shows the namespace of the thread that opens it: no helper process needed.
      for (const [k, v] of Object.entries(settings)) {
        const path = `/proc/sys/${k.replace(/\./g, "/")}`;
        const old = withNetns(peers.ns, () => readFileSync(path, "utf8").trim());
        withNetns(peers.ns, () => writeFileSync(path, String(v)));
        undo.push(() => withNetns(peers.ns, () => writeFileSync(path, old)));
      }
    },
    exec: (cmd, args, opts) => exec(peers.ns, cmd, args, opts),
    within: (fn) => withNetns(peers.ns, fn),
    defer: (fn) => void undo.push(fn),
    check: (fn) => void checks.push(fn),
  };
  let torn = false;
  const session: DutSession = {
    config,
    async checks(run) {
      const out: string[] = [];
      for (const c of checks) {
        const msg = await c(run);
        if (msg) out.push(msg);
      }
      return out;
    },
    async teardown() {
      if (torn) return;
      torn = true;
      const errors: string[] = [];
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch (e) {
          errors.push((e as Error).message);
        }
      }
      if (errors.length) throw new Error(`DUT '${config.name}': teardown failed: ${errors.join("; ")}`);
      const left = diffState(pristine, await dutState(peers));
      if (left.length)
        throw new Error(
          `DUT '${config.name}' left the DUT changed after teardown (undo it with dut.defer()):\n  ${left.join("\n  ")}`,
        );
    },
  };
  try {
    await config.setup(ctx);
  } catch (e) {
    await session.teardown().catch(() => undefined);
    throw e;
  }
  return session;
}

interface IpLink {
  ifname: string;
  flags?: string[];
  master?: string;
  xdp?: unknown;
  mtu?: number;
  address?: string;
}
interface IpRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  table?: string;
  type?: string;
  protocol?: string;
}
interface IpNeigh {
  dst?: string;
  dev?: string;
  lladdr?: string;
  state?: string[];
}

/** Commands whose JSON outputs dutState() reads, run in one helper process. */
const STATE_COMMANDS = [
  "ip -j link show",
  "ip -j -4 route show table all",
  "ip -j -6 route show table all",
  "ip -j neigh show nud permanent",
];

/**
 * What teardown must restore, one line per fact: interfaces (up, master, MTU, MAC, XDP), TCX
 * programs, routes of every table, permanent neighbours and the forwarding sysctls.
 */
export async function dutState(p: Pick<DutPeers, "ns" | "left" | "right">): Promise<string> {
  const { stdout } = await exec(p.ns, "sh", ["-c", STATE_COMMANDS.map((c) => `${c}; echo @@`).join("; ")]);
  const parts = stdout.split("@@\n");
  if (parts.length !== STATE_COMMANDS.length + 1)
    throw new Error(`reading the DUT's state: unexpected output ${stdout}`);
  const parse = <T>(i: number) => JSON.parse(parts[i].trim() || "[]") as T[];
  const [links, r4, r6, neigh] = [parse<IpLink>(0), parse<IpRoute>(1), parse<IpRoute>(2), parse<IpNeigh>(3)];
  const fwd = ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"].map((k) =>
    withNetns(p.ns, () => readFileSync(`/proc/sys/${k}`, "utf8").trim()),
  );
  const lines = [
    ...links.map(
      (l) =>
        `link ${l.ifname} ${l.flags?.includes("UP") ? "up" : "down"} mtu ${l.mtu} ${l.address} master ${l.master ?? "-"} xdp ${l.xdp ? "yes" : "no"}`,
    ),
    ...withNetns(p.ns, () =>
      [p.left, p.right].flatMap((e) =>
        (["ingress", "egress"] as const).map(
          (d) => `tcx ${e.ifname} ${d} ${queryTcx(e.ifname, d).entries.length} programs`,
        ),
      ),
    ),
    ...[...r4, ...r6].map(
      (r) =>
        `route ${r.type ?? "unicast"} ${r.dst} via ${r.gateway ?? "-"} dev ${r.dev ?? "-"} table ${r.table ?? "main"}`,
    ),
    ...neigh.map((n) => `neigh ${n.dst} ${n.lladdr} dev ${n.dev}`),
    `forwarding ${fwd.join(" ")}`,
  ];
  return lines.sort().join("\n");
}

/** Lines of `now` missing from `before` (+) and lines of `before` missing from `now` (-). */
export function diffState(before: string, now: string): string[] {
  const a = new Set(before.split("\n"));
  const b = new Set(now.split("\n"));
  return [
    ...[...b].filter((l) => !a.has(l)).map((l) => `+ ${l}`),
    ...[...a].filter((l) => !b.has(l)).map((l) => `- ${l}`),
  ];
}
