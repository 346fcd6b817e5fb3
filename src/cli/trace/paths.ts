// Per-packet trace records (as GET /v1/traces/stream sends them) assembled into one path per
// packet and printed hop by hop. Records of one packet come from one CPU, in order, under one
// trace id, beginning with `start`; a path is whole at the step that ends the packet's journey in
// the framework (dropped, passed on, out of an interface, to the control plane, broadcast).
import { timeOfDay } from "../../../nf/capture/cp/summary.js";
import type { TraceHopJson } from "../../api/routes/traces.js";

export const TERMINAL = new Set(["drop", "pass", "iface", "to_cp", "broadcast"]);

export interface TracedPacket {
  /** The capture instance that started the trace, and where it sits ("dut0 ingress"). */
  tracer: string;
  at: string;
  hops: TraceHopJson[];
}

/** Collects records; calls `done` with each path when it is whole. */
export class PathAssembler {
  private readonly open = new Map<string, TraceHopJson[]>();

  constructor(private readonly done: (p: TracedPacket) => void) {}

  add(h: TraceHopJson): void {
    const key = `${h.cpu}/${h.traceId}`;
    let path = this.open.get(key);
    if (h.point === "start") {
      path = [];
      this.open.set(key, path);
    }
    if (!path) return; // the rest of a packet whose start we did not see
    path.push(h);
    if (TERMINAL.has(h.point)) {
      this.open.delete(key);
      const start = path[0];
      this.done({ tracer: start.instance ?? "?", at: start.attachedTo ?? "?", hops: path });
    }
  }
}

function verdict(h: TraceHopJson): string {
  switch (h.point) {
    case "enter":
      return "enter";
    case "tx":
      return "sent out";
    case "next":
      return "passed on";
    case "drop":
      return `DROP (${h.reason ?? "?"})`;
    case "pass":
      return "pass (host stack or wire)";
    case "iface":
      return `out of ${h.iface ?? "?"}`;
    case "to_cp":
      return `to control plane (${h.reason ?? "?"})`;
    case "clone":
      return `copy out of ${h.iface ?? "?"}`;
    case "broadcast":
      return "broadcast";
    default:
      return h.point;
  }
}

/**
 * Lines for one packet: a header (number, length, where it entered, wall-clock time) and one line
 * per hop: time since the first hop, instance, port, verdict, program. The tracer's own steps
 * (start, passed on) are left out: they are the header.
 */
export function describePacket(p: TracedPacket, n: number, realtimeOffsetNs: bigint): string[] {
  const t0 = BigInt(p.hops[0].timeNs);
  const wall = t0 + realtimeOffsetNs;
  const clock = timeOfDay(Number(wall / 1_000_000_000n), Number((wall % 1_000_000_000n) / 1000n), false);
  const entered = p.at.replace(/ ingress$/, "").replace(/ egress$/, " (egress)");
  const lines = [`packet ${n}: ${p.hops[0].length} bytes at ${entered}, ${clock}`];
  const rows = p.hops
    .filter((h) => h.instance !== p.tracer || !["start", "next"].includes(h.point))
    .map((h) => [
      `+${(Number(BigInt(h.timeNs) - t0) / 1000).toFixed(1)} us`,
      h.instance ?? "-",
      h.port ?? "-",
      verdict(h),
      h.instance === p.tracer ? "-" : (h.type ?? "-"),
    ]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows)
    lines.push(
      `  ${r[0].padStart(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2].padEnd(widths[2])}  ${r[3].padEnd(widths[3])}  ${r[4]}`,
    );
  return lines;
}
