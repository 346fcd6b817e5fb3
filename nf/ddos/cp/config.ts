// The instance configuration (already checked against nf.yaml's schema) as the data plane's
// struct ddos_cfg: rates as GCRA intervals and tolerances, the protected ports as a bitmap.
import { CfgFlag, SynMode, type CfgRecord } from "./abi.js";

export interface DdosConfig {
  /** Packets per second per source (0: no limit). */
  rate: number;
  burst: number;
  ipv4RatePrefix: number;
  ipv6RatePrefix: number;
  synCookies: "off" | "auto" | "always";
  synThreshold: number;
  /** Protected port ranges, inclusive; empty: every port. */
  synPorts: [number, number][];
  tcpFlags: boolean;
  fragments: "pass" | "drop";
  nonIp: "pass" | "drop";
}

/** A destination gets one SYN through to its server at least this often (see ddos_syn.h). */
export const PRIME_SECONDS = 30;

const NS = 1_000_000_000n;

const int = (v: unknown, dflt: number): number => (typeof v === "number" && Number.isInteger(v) ? v : dflt);

/** Port items: numbers or "lo-hi" (either order). */
export function portRanges(items: readonly unknown[]): [number, number][] {
  return items.map((it): [number, number] => {
    if (typeof it === "number") return [it, it];
    const [a, b] = String(it)
      .split("-")
      .map((x) => Number(x.trim()));
    return a <= b ? [a, b] : [b, a];
  });
}

export function ddosConfig(raw: Readonly<Record<string, unknown>>): DdosConfig {
  const pick = <T extends string>(v: unknown, options: readonly T[], dflt: T): T =>
    options.includes(v as T) ? (v as T) : dflt;
  return {
    rate: int(raw.rate, 0),
    burst: Math.max(1, int(raw.burst, 100)),
    ipv4RatePrefix: int(raw.ipv4RatePrefix, 32),
    ipv6RatePrefix: int(raw.ipv6RatePrefix, 64),
    synCookies: pick(raw.synCookies, ["off", "auto", "always"] as const, "off"),
    synThreshold: Math.max(1, int(raw.synThreshold, 1000)),
    synPorts: portRanges(Array.isArray(raw.synPorts) ? raw.synPorts : []),
    tcpFlags: raw.tcpFlags !== false,
    fragments: pick(raw.fragments, ["pass", "drop"] as const, "pass"),
    nonIp: pick(raw.nonIp, ["pass", "drop"] as const, "pass"),
  };
}

/** A GCRA's emission interval and tolerance for `rate` per second and bursts of `burst`. */
export function gcra(rate: number, burst: number): { interval: bigint; tolerance: bigint } {
  const interval = rate > 0 ? (NS + BigInt(rate) / 2n) / BigInt(rate) || 1n : 0n;
  return { interval, tolerance: interval * BigInt(Math.max(0, burst - 1)) };
}

export function cfgRecord(c: DdosConfig): CfgRecord {
  let flags = 0;
  if (c.tcpFlags) flags |= CfgFlag.TCP_FLAGS;
  if (c.fragments === "drop") flags |= CfgFlag.DROP_FRAGMENTS;
  if (c.nonIp === "drop") flags |= CfgFlag.DROP_NON_IP;
  if (c.rate > 0) flags |= CfgFlag.RATE;
  if (!c.synPorts.length) flags |= CfgFlag.SYN_ALL_PORTS;
  const ports = new Uint8Array(8192);
  for (const [lo, hi] of c.synPorts) for (let p = lo; p <= hi; p++) ports[p >> 3] |= 1 << (p & 7);
  const rate = gcra(c.rate, c.burst);
  const syn = gcra(c.synThreshold, c.synThreshold);
  return {
    flags,
    synMode:
      c.synCookies === "always" ? SynMode.ALWAYS : c.synCookies === "auto" ? SynMode.AUTO : SynMode.OFF,
    ratePrefix4: c.ipv4RatePrefix,
    ratePrefix6: c.ipv6RatePrefix,
    rateIntervalNs: rate.interval,
    rateToleranceNs: rate.tolerance,
    synIntervalNs: syn.interval,
    synToleranceNs: syn.tolerance,
    primeNs: BigInt(PRIME_SECONDS) * NS,
    synPorts: ports,
  };
}
