// bpf_fib_lookup() against a routing table the host supplies (routes, neighbours, interfaces),
// with the kernel's result codes: SUCCESS with the egress ifindex and MAC addresses filled in,
// NOT_FWDED without a route, NO_NEIGH without a neighbour entry, FRAG_NEEDED over the MTU.
import { isIPv4 } from "node:net";
import { HelperId } from "../../bpf/constants.js";
import { parseIpv4, parseIpv6, parseMac } from "../../bpf/map/codec.js";
import { EINVAL } from "../../bpf/sys/errno.js";
import type { HelperEnv } from "./env.js";
import type { HelperDef } from "./types.js";

export interface FibRoute {
  /** Destination prefix: "198.18.0.0/15", "fd00::/8", "0.0.0.0/0". */
  prefix: string;
  ifindex: number;
  /** Next hop, when the destination is not on the link. */
  gateway?: string;
}

export interface FibNeighbor {
  ip: string;
  mac: string;
}

export interface FibInterface {
  ifindex: number;
  mac: string;
  mtu?: number;
}

/** The routing state bpf_fib_lookup() consults. */
export interface FibTable {
  routes: FibRoute[];
  neighbors: FibNeighbor[];
  interfaces: FibInterface[];
}

export const FibResult = {
  SUCCESS: 0,
  BLACKHOLE: 1,
  UNREACHABLE: 2,
  PROHIBIT: 3,
  NOT_FWDED: 4,
  FWD_DISABLED: 5,
  UNSUPP_LWT: 6,
  NO_NEIGH: 7,
  FRAG_NEEDED: 8,
  NO_SRC_ADDR: 9,
} as const;

const AF_INET = 2;
const AF_INET6 = 10;
const EAFNOSUPPORT = 97;
const PARAMS_SIZE = 64;

function addrBytes(text: string): Buffer {
  return isIPv4(text) ? parseIpv4(text) : parseIpv6(text);
}

function prefixMatch(addr: Uint8Array, net: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i & 7);
    if ((addr[i >> 3] & mask) !== (net[i >> 3] & mask)) return false;
  }
  return true;
}

/** Longest-prefix route for `dst` (4 or 16 bytes). */
export function fibRoute(table: FibTable, dst: Uint8Array): FibRoute | undefined {
  let best: FibRoute | undefined;
  let bestLen = -1;
  for (const r of table.routes) {
    const [net, len] = r.prefix.split("/");
    const nb = addrBytes(net);
    if (nb.length !== dst.length) continue;
    const bits = Number(len ?? nb.length * 8);
    if (bits > bestLen && prefixMatch(dst, nb, bits)) [best, bestLen] = [r, bits];
  }
  return best;
}

const fibLookup = (env: HelperEnv): number => {
  const plen = env.u32(3);
  if (plen < PARAMS_SIZE) return -EINVAL;
  const p = env.ptr(2, PARAMS_SIZE, true, "params");
  const u8 = env.mem.u8;
  const dv = env.mem.dv;
  const family = u8[p];
  if (family !== AF_INET && family !== AF_INET6) return -EAFNOSUPPORT;
  const table = env.vm.fib;
  const alen = family === AF_INET ? 4 : 16;
  const dst = u8.slice(p + 32, p + 32 + alen);
  const route = table && fibRoute(table, dst);
  if (!table || !route) return FibResult.NOT_FWDED;
  const dev = table.interfaces.find((i) => i.ifindex === route.ifindex);
  if (!dev) return FibResult.NOT_FWDED;
  dv.setUint32(p + 8, route.ifindex, true);
  const mtu = dev.mtu ?? 1500;
  const totLen = dv.getUint16(p + 6, true);
  if (totLen && totLen > mtu) {
    dv.setUint16(p + 6, mtu, true);
    return FibResult.FRAG_NEEDED;
  }
  let hop: Uint8Array = dst;
  if (route.gateway) {
    hop = addrBytes(route.gateway);
    u8.set(hop, p + 32);
  }
  dv.setUint16(p + 48, 0, true);
  dv.setUint16(p + 50, 0, true);
  const neigh = table.neighbors.find((n) => Buffer.compare(addrBytes(n.ip), Buffer.from(hop)) === 0);
  if (!neigh) return FibResult.NO_NEIGH;
  u8.set(parseMac(dev.mac), p + 52);
  u8.set(parseMac(neigh.mac), p + 58);
  return FibResult.SUCCESS;
};

export const fibHelpers: HelperDef[] = [
  { id: HelperId.fib_lookup, name: "fib_lookup", fn: fibLookup, contexts: ["xdp", "tc"] },
];
