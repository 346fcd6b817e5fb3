// The instance configuration (validated against nf.yaml's schema by the hypervisor) with its
// defaults filled in, and its image in fw_cfg.
import { CfgFlag, CfgOffset, Reject, TCP_STATES, encodeTimeouts, type CtTimeouts } from "./abi.js";
import { REJECT_WITH, type RejectName } from "./rules.js";

export interface FirewallConfig {
  policy: "accept" | "drop" | "reject";
  rejectWith: RejectName | "auto";
  conntrack: boolean;
  zone: string;
  nonIp: "accept" | "drop";
  neighborDiscovery: "accept" | "filter";
  /** Rejects answered per second (0: no limit) and in a burst. */
  rejectRate: number;
  rejectBurst: number;
  timeouts: CtTimeouts;
}

/** The kernel conntrack's default timeouts, in seconds. */
export const DEFAULT_TIMEOUTS = {
  tcpSynSent: 120,
  tcpSynRecv: 60,
  tcpEstablished: 432000,
  tcpFinWait: 120,
  tcpCloseWait: 60,
  tcpLastAck: 30,
  tcpTimeWait: 120,
  tcpClose: 10,
  udp: 30,
  udpStream: 120,
  icmp: 30,
  generic: 600,
} as const;
export type TimeoutName = keyof typeof DEFAULT_TIMEOUTS;

/** TCP states in px_ct_tcp order and the timeout each uses. */
const TCP_TIMEOUTS: TimeoutName[] = [
  "tcpClose", // NONE (never stored)
  "tcpSynSent",
  "tcpSynRecv",
  "tcpEstablished",
  "tcpFinWait",
  "tcpCloseWait",
  "tcpLastAck",
  "tcpTimeWait",
  "tcpClose",
  "tcpSynSent", // SYN_SENT2
];

const pick = <T extends string>(v: unknown, allowed: readonly T[], fallback: T): T =>
  typeof v === "string" && (allowed as readonly string[]).includes(v) ? (v as T) : fallback;

const num = (v: unknown, fallback: number): number =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : fallback;

export function firewallConfig(raw: Readonly<Record<string, unknown>>): FirewallConfig {
  const t = (raw.timeouts ?? {}) as Record<string, unknown>;
  const secs = (k: TimeoutName) => Math.max(1, Math.round(num(t[k], DEFAULT_TIMEOUTS[k])));
  return {
    policy: pick(raw.policy, ["accept", "drop", "reject"] as const, "accept"),
    rejectWith: pick(raw.rejectWith, ["auto", ...(Object.keys(REJECT_WITH) as RejectName[])], "auto"),
    conntrack: raw.conntrack !== false,
    zone: typeof raw.zone === "string" && raw.zone ? raw.zone : "default",
    nonIp: pick(raw.nonIp, ["accept", "drop"] as const, "accept"),
    neighborDiscovery: pick(raw.neighborDiscovery, ["accept", "filter"] as const, "accept"),
    rejectRate: num(raw.rejectRate, 1000),
    rejectBurst: Math.max(1, num(raw.rejectBurst, 50)),
    timeouts: {
      tcp: Array.from({ length: TCP_STATES }, (_, i) => secs(TCP_TIMEOUTS[i])),
      udp: secs("udp"),
      udpStream: secs("udpStream"),
      icmp: secs("icmp"),
      generic: secs("generic"),
    },
  };
}

const POLICY = { accept: 0, drop: 1, reject: 2 } as const;

/** Writes everything but the generation into fw_cfg's memory (each field is read on its own). */
export function writeConfig(mem: Uint8Array, c: FirewallConfig): void {
  const b = Buffer.from(mem.buffer, mem.byteOffset, mem.byteLength);
  const flags =
    (c.conntrack ? CfgFlag.CONNTRACK : 0) |
    (c.nonIp === "drop" ? CfgFlag.DROP_NON_IP : 0) |
    (c.neighborDiscovery === "filter" ? CfgFlag.FILTER_ND : 0);
  const interval = c.rejectRate > 0 ? BigInt(Math.round(1e9 / c.rejectRate)) : 0n;
  encodeTimeouts(c.timeouts, b, CfgOffset.ct);
  b.writeBigUInt64LE(interval * BigInt(c.rejectBurst - 1), CfgOffset.rejectToleranceNs);
  b.writeBigUInt64LE(interval, CfgOffset.rejectIntervalNs);
  b.writeUInt32LE(c.rejectWith === "auto" ? Reject.AUTO : REJECT_WITH[c.rejectWith], CfgOffset.rejectWith);
  b.writeUInt32LE(POLICY[c.policy], CfgOffset.policy);
  b.writeUInt32LE(flags, CfgOffset.flags);
}
