// What the stats service reports: counters read from the data plane, summed over CPUs, and rates
// over the last sampling interval. JSON-safe (numbers), shared by GET /v1/stats, /metrics and
// `plexus top`.
import type { Counter } from "../dataplane/abi.js";

/** Totals since the instance was created. */
export interface Traffic {
  packets: number;
  bytes: number;
  drops: number;
}

/** Per second, over the last sampling interval. */
export interface Rate {
  packets: number;
  bytes: number;
  drops: number;
}

export interface PortStats {
  name: string;
  index: number;
  /** "eth0" (a host interface) or "r1:west" (another instance's port). */
  peer?: string;
  rx: Traffic;
  tx: Traffic;
  rxRate: Rate;
  txRate: Rate;
}

export interface ProgramStats {
  /** The instance the program belongs to; absent for the framework's own programs. */
  instance?: string;
  program: string;
  hook: "xdp" | "tc";
  /** Runs and run time the kernel counted (only while program statistics are on). */
  runs: number;
  runTimeNs: number;
  runsPerSecond: number;
}

export interface TableStats {
  table: string;
  entries: number;
  capacity: number;
}

export interface InstanceStats {
  name: string;
  type: string;
  version: string;
  mode: string;
  kind: "standard" | "transparent";
  /** Sums over the ports (a transparent instance: what went through it). */
  rx: Traffic;
  tx: Traffic;
  rxRate: Rate;
  txRate: Rate;
  /** Drops by reason name (the manifest's, or the framework's), zero reasons left out. */
  drops: Record<string, number>;
  ports: PortStats[];
  tables: TableStats[];
}

export interface LinkStats {
  /** "br0:p0" */
  a: string;
  /** "eth0" or "r1:west" */
  b: string;
  kind: "iface" | "port";
  aToB: Rate;
  bToA: Rate;
}

export interface StatsSnapshot {
  time: string;
  /** Length of the interval the rates are over (ms); 0 before the second sample. */
  intervalMs: number;
  /** Whether the kernel counts program run time now (it does while someone looks). */
  programStats: boolean;
  instances: InstanceStats[];
  links: LinkStats[];
  programs: ProgramStats[];
}

export const traffic = (c: Counter): Traffic => ({
  packets: Number(c.packets),
  bytes: Number(c.bytes),
  drops: Number(c.drops),
});

export const ZERO_RATE: Rate = { packets: 0, bytes: 0, drops: 0 };

export const addTraffic = (a: Traffic, b: Traffic): Traffic => ({
  packets: a.packets + b.packets,
  bytes: a.bytes + b.bytes,
  drops: a.drops + b.drops,
});

export const addRate = addTraffic as (a: Rate, b: Rate) => Rate;

/** Per second from two readings `seconds` apart; a counter that went back (reset) counts from 0. */
export function rateOf(now: Traffic, before: Traffic | undefined, seconds: number): Rate {
  if (!before || seconds <= 0) return { ...ZERO_RATE };
  const d = (a: number, b: number) => (a >= b ? a - b : a) / seconds;
  return {
    packets: d(now.packets, before.packets),
    bytes: d(now.bytes, before.bytes),
    drops: d(now.drops, before.drops),
  };
}
