// Interface counters around a run, read in-process over rtnetlink (IFLA_STATS64) so that a run
// costs no helper processes, and frames missing at the sink can be attributed to the hop that lost
// them. veth counts XDP traffic in these too: redirected-out frames in tx_packets, frames an XDP
// program saw in rx_packets.
import { Attrs } from "../../src/bpf/netlink/attributes.js";
import { Rtm } from "../../src/bpf/netlink/constants.js";
import { IFINFOMSG_LEN, ifinfomsg } from "../../src/bpf/netlink/messages.js";
import { NetlinkSocket } from "../../src/bpf/netlink/socket.js";
import { exec, withNetns } from "../../src/testbed/netns.js";

export interface IfaceRef {
  /** What this interface is in the rig ("gen", "dut left", ...). */
  role: string;
  ns: string;
  ifname: string;
  ifindex: number;
}

/** Counter name -> value, for one interface. */
export type IfaceCounters = Record<string, number>;

/** Role -> counters. */
export type RigCounters = Record<string, IfaceCounters>;

const IFLA_STATS64 = 23;
/** The first fields of struct rtnl_link_stats64, in order. */
const STATS64 = [
  "rx_packets",
  "tx_packets",
  "rx_bytes",
  "tx_bytes",
  "rx_errors",
  "tx_errors",
  "rx_dropped",
  "tx_dropped",
] as const;

function read(ref: IfaceRef): IfaceCounters {
  const replies = withNetns(ref.ns, () =>
    NetlinkSocket.with((s) => s.request(`stats of ${ref.ifname}`, Rtm.GETLINK, 0, ifinfomsg(ref.ifindex))),
  );
  const link = replies.find((m) => m.type === Rtm.NEWLINK);
  const stats = link && Attrs.parse(link.payload.subarray(IFINFOMSG_LEN)).bytes(IFLA_STATS64);
  if (!stats || stats.length < STATS64.length * 8)
    throw new Error(`no IFLA_STATS64 for ${ref.ifname} in ${ref.ns}`);
  return Object.fromEntries(STATS64.map((k, i) => [k, Number(stats.readBigUInt64LE(i * 8))]));
}

export function snapshot(ifaces: readonly IfaceRef[]): RigCounters {
  return Object.fromEntries(ifaces.map((f) => [f.role, read(f)]));
}

/** after - before, keeping only the counters that moved. */
export function delta(before: RigCounters, after: RigCounters): RigCounters {
  const out: RigCounters = {};
  for (const [role, counters] of Object.entries(after)) {
    const moved: IfaceCounters = {};
    for (const [k, v] of Object.entries(counters)) {
      const d = v - (before[role]?.[k] ?? 0);
      if (d !== 0) moved[k] = d;
    }
    out[role] = moved;
  }
  return out;
}

/** The counters that say a frame was lost ("dropped", "errors"), as "role: name +n" lines. */
export function lossCounters(d: RigCounters): string[] {
  const lines: string[] = [];
  for (const [role, counters] of Object.entries(d))
    for (const [k, v] of Object.entries(counters)) if (/drop|err/.test(k)) lines.push(`${role}: ${k} +${v}`);
  return lines;
}

/**
 * The veth driver's own drop and error counters (ethtool -S), totals since the rig was built:
 * only read when a run lost frames, since it costs a process per interface.
 */
export async function driverLossCounters(
  ifaces: readonly IfaceRef[],
  expected: ReadonlySet<string>,
): Promise<string[]> {
  const lines: string[] = [];
  for (const f of ifaces) {
    const { stdout } = await exec(f.ns, "ethtool", ["-S", f.ifname], { allowFailure: true });
    for (const m of stdout.matchAll(/^\s+(\w*(?:drop|err)\w*): (\d+)$/gm))
      if (m[2] !== "0" && !expected.has(`${f.role}:${m[1]}`)) lines.push(`${f.role}: ${m[1]} ${m[2]}`);
  }
  return lines;
}
