// The router's instance settings and, from the ports' configuration, what each port is: its MAC,
// its addresses (which make the connected routes), its link-local address and MTU.
import type { PortInfo } from "../../../src/core/nf-api.js";
import {
  AddressError,
  derivedMac,
  formatIfAddr,
  isLinkLocal6,
  linkLocalFromMac,
  parseIfAddr,
  parseMac,
  prefixContains,
  type IfAddr,
} from "./addr.js";

export interface RouterConfig {
  icmpErrors: boolean;
  /** ICMP errors per second (0: unlimited). */
  icmpRate: number;
  icmpBurst: number;
  neighReachableMs: number;
  neighRetries: number;
  neighRetransmitMs: number;
  neighQueueLength: number;
  /** The data plane's per-destination route cache: on, off, or on for large tables. */
  routeCache: "auto" | "on" | "off";
}

const int = (v: unknown, dflt: number, min: number): number =>
  typeof v === "number" && Number.isInteger(v) && v >= min ? v : dflt;

/** The instance configuration with defaults (the hypervisor validated it against nf.yaml). */
export function routerConfig(raw: Readonly<Record<string, unknown>>): RouterConfig {
  return {
    icmpErrors: raw.icmpErrors !== false,
    icmpRate: int(raw.icmpRate, 1000, 0),
    icmpBurst: int(raw.icmpBurst, 50, 1),
    neighReachableMs: int(raw.neighReachableSeconds, 30, 1) * 1000,
    neighRetries: int(raw.neighRetries, 3, 1),
    neighRetransmitMs: int(raw.neighRetransmitMs, 1000, 1),
    neighQueueLength: int(raw.neighQueueLength, 64, 1),
    routeCache: raw.routeCache === "on" || raw.routeCache === "off" ? raw.routeCache : "auto",
  };
}

export interface PortPlan {
  name: string;
  index: number;
  mac: Buffer;
  v4: IfAddr[];
  /** Configured IPv6 addresses (the link-local one is `ll6`). */
  v6: IfAddr[];
  ll6: Buffer;
  mtu: number;
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];

/**
 * Plans every port from its configuration. What cannot be applied (a malformed address, an
 * address or subnet another port already has) is left out and reported in `problems`: the
 * hypervisor has already accepted the configuration, so the rest must still work.
 */
export function planPorts(
  instance: string,
  ports: readonly PortInfo[],
): { plans: PortPlan[]; problems: string[] } {
  const problems: string[] = [];
  const plans: PortPlan[] = [];
  const taken: { port: string; a: IfAddr }[] = [];
  for (const p of [...ports].sort((a, b) => a.index - b.index)) {
    const c = p.config;
    let mac = typeof c.mac === "string" ? parseMac(c.mac) : undefined;
    if (typeof c.mac === "string" && !mac) problems.push(`${p.name}: mac '${c.mac}' is not a MAC address`);
    if (mac && mac[0] & 1) {
      problems.push(`${p.name}: mac ${c.mac} is a multicast address`);
      mac = undefined;
    }
    mac ??= derivedMac(instance, p.name);
    const plan: PortPlan = {
      name: p.name,
      index: p.index,
      mac,
      v4: [],
      v6: [],
      ll6: linkLocalFromMac(mac),
      mtu: typeof c.mtu === "number" ? c.mtu : 0,
    };
    for (const [family, list] of [
      [4, strings(c.ipv4)],
      [6, strings(c.ipv6)],
    ] as const) {
      for (const text of list) {
        let a: IfAddr;
        try {
          a = parseIfAddr(text);
        } catch (e) {
          problems.push(`${p.name}: ${(e as AddressError).message}`);
          continue;
        }
        if (a.family !== family) {
          problems.push(`${p.name}: '${text}' is not an IPv${family} address (it is in ipv${family})`);
          continue;
        }
        if (a.family === 6 && isLinkLocal6(a.addr)) {
          problems.push(
            `${p.name}: ${text}: the link-local address is derived from the MAC; configure global addresses`,
          );
          continue;
        }
        const clash = taken.find(
          (t) =>
            t.a.family === a.family &&
            (t.a.addr.equals(a.addr) ||
              (t.port !== p.name && t.a.plen === a.plen && prefixContains(t.a, a.family, a.addr))),
        );
        if (clash) {
          const what = clash.a.addr.equals(a.addr) ? "the same address" : "an address in the same subnet";
          problems.push(
            `${p.name}: ${formatIfAddr(a)} left out: port ${clash.port} has ${what} (${formatIfAddr(clash.a)})`,
          );
          continue;
        }
        taken.push({ port: p.name, a });
        (family === 4 ? plan.v4 : plan.v6).push(a);
      }
    }
    plans.push(plan);
  }
  return { plans, problems };
}
