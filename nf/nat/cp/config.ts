// The instance configuration (validated against nf.yaml's schema by the hypervisor) with its
// defaults filled in.
import type { CtTimeouts } from "./abi.js";

export interface NatConfig {
  enabled: boolean;
  zone: string;
  maxConnections: number;
  timeouts: CtTimeouts;
}

/** The kernel conntrack's default timeouts, in seconds (as the firewall's connection tracking uses). */
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
type TimeoutName = keyof typeof DEFAULT_TIMEOUTS;

/** The timeout of each TCP state, in px_ct_tcp order. */
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

export function natConfig(raw: Readonly<Record<string, unknown>>): NatConfig {
  const t = (raw.timeouts ?? {}) as Record<string, unknown>;
  const secs = (k: TimeoutName): number => {
    const v = t[k];
    return typeof v === "number" && Number.isFinite(v) && v >= 1 ? Math.round(v) : DEFAULT_TIMEOUTS[k];
  };
  const max = raw.maxConnections;
  return {
    enabled: raw.enabled !== false,
    zone: typeof raw.zone === "string" && raw.zone ? raw.zone : "default",
    maxConnections: typeof max === "number" && Number.isInteger(max) && max >= 16 ? max : 65536,
    timeouts: {
      tcp: TCP_TIMEOUTS.map(secs),
      udp: secs("udp"),
      udpStream: secs("udpStream"),
      icmp: secs("icmp"),
      generic: secs("generic"),
    },
  };
}
