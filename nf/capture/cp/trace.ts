// The framework's per-packet trace records (struct px_trace in nf/include/plexus.h), which the
// data plane writes to px_events while a packet carries PX_MD_TRACE. The capture NF switches the
// trace on for the packets its filter selects; whoever reads px_events (the hypervisor's
// slow-path reader, and `plexus trace` once it exists) tells these records from slow-path packets
// by their type, decodes them here and groups them by CPU and trace id into each packet's path.
// (This belongs with the framework's ABI in src/core/dataplane/abi.ts; it lives here until the
// core reads trace records.)

export const EV_TRACE = 2;
export const TRACE_RECORD = 32;

export const TracePoint = {
  START: 1,
  ENTER: 2,
  TX: 3,
  NEXT: 4,
  DROP: 5,
  PASS: 6,
  IFACE: 7,
  TO_CP: 8,
  CLONE: 9,
  BROADCAST: 10,
} as const;

export type TracePointName = Lowercase<keyof typeof TracePoint>;
const NAMES = Object.fromEntries(Object.entries(TracePoint).map(([k, v]) => [v, k.toLowerCase()])) as Record<
  number,
  TracePointName
>;

export interface TraceRecord {
  point: TracePointName;
  slot: number;
  port: number;
  /** DROP, TO_CP: the reason; IFACE, CLONE: the interface index. */
  arg: number;
  length: number;
  /** CLOCK_MONOTONIC ns. */
  tstamp: bigint;
  traceId: number;
  cpu: number;
  /** Instances the packet had entered when the record was written. */
  hops: number;
}

/** Decodes a px_events record, or undefined when it is not a trace record. */
export function decodeTrace(rec: Uint8Array): TraceRecord | undefined {
  if (rec.length < TRACE_RECORD) return undefined;
  const b = Buffer.from(rec.buffer, rec.byteOffset, rec.byteLength);
  if (b.readUInt16LE(0) !== EV_TRACE) return undefined;
  return {
    point: NAMES[b.readUInt16LE(6)] ?? "drop",
    slot: b.readUInt16LE(2),
    port: b.readUInt16LE(4),
    length: b.readUInt32LE(8),
    arg: b.readUInt32LE(12),
    tstamp: b.readBigUInt64LE(16),
    traceId: b.readUInt16LE(24),
    cpu: b.readUInt16LE(26),
    hops: b.readUInt16LE(28),
  };
}

/** Records of one packet: in order, from one CPU, with one trace id, starting at its START. */
export function groupTraces(records: readonly TraceRecord[]): TraceRecord[][] {
  const open = new Map<string, TraceRecord[]>();
  const out: TraceRecord[][] = [];
  for (const r of records) {
    const key = `${r.cpu}/${r.traceId}`;
    if (r.point === "start" || !open.has(key)) {
      const path = [r];
      open.set(key, path);
      out.push(path);
    } else open.get(key)?.push(r);
  }
  return out;
}

/**
 * One line for a packet's path, with instance and port names when `names` knows them:
 * "cap0 start -> cap0 next -> br0:p0 enter -> br0:p1 tx -> iface 7".
 */
export function describeTrace(
  path: readonly TraceRecord[],
  names: {
    instance(slot: number): string | undefined;
    port(slot: number, port: number): string | undefined;
  } = {
    instance: () => undefined,
    port: () => undefined,
  },
): string {
  const inst = (s: number) => names.instance(s) ?? `slot ${s}`;
  const port = (s: number, p: number) => `${inst(s)}:${names.port(s, p) ?? p}`;
  return path
    .map((r) => {
      switch (r.point) {
        case "start":
        case "next":
        case "broadcast":
          return `${inst(r.slot)} ${r.point}`;
        case "enter":
        case "tx":
          return `${port(r.slot, r.port)} ${r.point}`;
        case "drop":
          return `${port(r.slot, r.port)} drop (reason ${r.arg})`;
        case "to_cp":
          return `${inst(r.slot)} to control plane (reason ${r.arg})`;
        case "iface":
          return `out of ifindex ${r.arg}`;
        case "clone":
          return `${port(r.slot, r.port)} copy to ifindex ${r.arg}`;
        case "pass":
          return "pass";
      }
      return r.point;
    })
    .join(" -> ");
}
