// Where the console's live numbers come from: the one place to change when the daemon computes
// rates itself (GET /v1/stats). Until then the counters of GET /v1/instances are read and rates
// are the differences between two reads divided by the time between them.
import { getJson } from "../api.js";
import type { Counter, InstanceJson } from "../types.js";

/** Per second, for one port, one direction pair, or what went through a transparent instance. */
export interface Rates {
  rxPps: number;
  txPps: number;
  rxBps: number;
  txBps: number;
  /** Drops per second counted on the port (both directions). */
  dropsPs: number;
}

export interface CounterSnapshot {
  /** performance.now() when the answer arrived. */
  at: number;
  instances: InstanceJson[];
  /** "INSTANCE:PORT" (ports) or "INSTANCE" (what went through a transparent instance). */
  rates: Map<string, Rates>;
  /** Drops per second of each instance, all reasons. */
  instanceDropsPs: Map<string, number>;
}

const ZERO: Counter = { packets: 0, bytes: 0, drops: 0 };
// A counter that went down belongs to a new instance of the same name: no rate for that step.
const delta = (now: number, before: number) => Math.max(0, now - before);

function ratesOf(
  now: { rx: Counter; tx: Counter },
  before: { rx: Counter; tx: Counter } | undefined,
  dt: number,
): Rates {
  const b = before ?? { rx: ZERO, tx: ZERO };
  if (!before || dt <= 0) return { rxPps: 0, txPps: 0, rxBps: 0, txBps: 0, dropsPs: 0 };
  return {
    rxPps: delta(now.rx.packets, b.rx.packets) / dt,
    txPps: delta(now.tx.packets, b.tx.packets) / dt,
    rxBps: delta(now.rx.bytes, b.rx.bytes) / dt,
    txBps: delta(now.tx.bytes, b.tx.bytes) / dt,
    dropsPs: (delta(now.rx.drops, b.rx.drops) + delta(now.tx.drops, b.tx.drops)) / dt,
  };
}

const dropTotal = (i: InstanceJson) => Object.values(i.drops).reduce((a, n) => a + n, 0);

let previous: { at: number; instances: Map<string, InstanceJson> } | undefined;

/** Reads the counters once and the rates since the previous read. */
export async function readCounters(signal?: AbortSignal): Promise<CounterSnapshot> {
  const instances = await getJson<InstanceJson[]>("/v1/instances", signal);
  const at = performance.now();
  const dt = previous ? (at - previous.at) / 1000 : 0;
  const rates = new Map<string, Rates>();
  const instanceDropsPs = new Map<string, number>();
  for (const i of instances) {
    const before = previous?.instances.get(i.name);
    for (const p of i.ports) {
      const bp = before?.ports.find((x) => x.name === p.name);
      rates.set(`${i.name}:${p.name}`, ratesOf(p, bp, dt));
    }
    if (i.through) rates.set(i.name, ratesOf(i.through, before?.through, dt));
    instanceDropsPs.set(i.name, before && dt > 0 ? delta(dropTotal(i), dropTotal(before)) / dt : 0);
  }
  previous = { at, instances: new Map(instances.map((i) => [i.name, i])) };
  return { at, instances, rates, instanceDropsPs };
}
