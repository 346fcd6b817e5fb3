// The instance configuration (validated against nf.yaml's schema by the hypervisor) with its
// defaults filled in.
import type { Timeouts } from "./abi.js";

export interface LbConfig {
  enabled: boolean;
  timeouts: Timeouts;
}

/** Idle timeouts in seconds, IPVS's defaults where it has them (tcp 900, tcp_fin 120, udp 300). */
export const DEFAULT_TIMEOUTS: Timeouts = { tcpSyn: 60, tcp: 900, tcpFin: 30, udp: 300 };

export function lbConfig(raw: Readonly<Record<string, unknown>>): LbConfig {
  const t = (raw.timeouts ?? {}) as Record<string, unknown>;
  const secs = (k: keyof Timeouts): number => {
    const v = t[k];
    return typeof v === "number" && Number.isInteger(v) && v >= 1 ? v : DEFAULT_TIMEOUTS[k];
  };
  return {
    enabled: raw.enabled !== false,
    timeouts: { tcpSyn: secs("tcpSyn"), tcp: secs("tcp"), tcpFin: secs("tcpFin"), udp: secs("udp") },
  };
}
