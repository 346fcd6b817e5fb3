// Where the console's live numbers come from: the one place that knows. The daemon samples the
// data plane's counters and computes rates (GET /v1/stats); `fromInstances` is the fallback that
// reads GET /v1/instances and divides the differences between two reads by the time between them
// (for a daemon without /v1/stats). Switching is the line `readCounters = ...` at the end.
import { getJson } from "../api.js";
import type { Counter, InstanceJson } from "../types.js";

/** Per second, for one port, or what went through a transparent instance. */
export interface Rates {
  rxPps: number;
  txPps: number;
  rxBps: number;
  txBps: number;
  /** Drops per second counted on the port (both directions). */
  dropsPs: number;
}

export interface TableUsage {
  table: string;
  entries: number;
  capacity: number;
}

export interface InstanceCounters {
  name: string;
  type: string;
  kind: "standard" | "transparent";
  ports: { name: string; rx: Counter; tx: Counter }[];
  /** Sums over the ports (a transparent instance: what went through it). */
  rx: Counter;
  tx: Counter;
  /** Dropped packets by reason, totals. */
  drops: Record<string, number>;
  tables: TableUsage[];
}

/** The kernel's statistics of one program (counted while someone looks). */
export interface ProgramCounters {
  instance?: string;
  program: string;
  hook: string;
  runs: number;
  runTimeNs: number;
  runsPerSecond: number;
}

export interface CounterSnapshot {
  /** Date.now() of the read. */
  at: number;
  instances: InstanceCounters[];
  programs: ProgramCounters[];
  /** "INSTANCE:PORT" (ports) or "INSTANCE" (the instance's sums). */
  rates: Map<string, Rates>;
  /** Drops per second of each instance, all reasons. */
  instanceDropsPs: Map<string, number>;
}

const ZERO: Counter = { packets: 0, bytes: 0, drops: 0 };
const NO_RATES: Rates = { rxPps: 0, txPps: 0, rxBps: 0, txBps: 0, dropsPs: 0 };
// A counter that went down belongs to a new instance of the same name: no rate for that step.
const delta = (now: number, before: number) => Math.max(0, now - before);
const dropTotal = (i: { drops: Record<string, number> }) => Object.values(i.drops).reduce((a, n) => a + n, 0);

/** Drops by reason have no daemon rate: both sources take them from two reads. */
let lastDrops: { at: number; totals: Map<string, number> } | undefined;

function dropRates(instances: readonly InstanceCounters[], at: number): Map<string, number> {
  const dt = lastDrops ? (at - lastDrops.at) / 1000 : 0;
  const out = new Map<string, number>();
  for (const i of instances) {
    const before = lastDrops?.totals.get(i.name);
    out.set(i.name, before !== undefined && dt > 0 ? delta(dropTotal(i), before) / dt : 0);
  }
  lastDrops = { at, totals: new Map(instances.map((i) => [i.name, dropTotal(i)])) };
  return out;
}

// ---- GET /v1/stats: counters and the daemon's rates ----

interface StatsRate {
  packets: number;
  bytes: number;
  drops: number;
}
interface StatsPort {
  name: string;
  rx: Counter;
  tx: Counter;
  rxRate: StatsRate;
  txRate: StatsRate;
}
interface StatsInstance {
  name: string;
  type: string;
  kind: "standard" | "transparent";
  rx: Counter;
  tx: Counter;
  rxRate: StatsRate;
  txRate: StatsRate;
  drops: Record<string, number>;
  ports: StatsPort[];
  tables: TableUsage[];
}

const statsRates = (x: { rxRate: StatsRate; txRate: StatsRate }): Rates => ({
  rxPps: x.rxRate.packets,
  txPps: x.txRate.packets,
  rxBps: x.rxRate.bytes,
  txBps: x.txRate.bytes,
  dropsPs: x.rxRate.drops + x.txRate.drops,
});

export async function fromStats(signal?: AbortSignal): Promise<CounterSnapshot> {
  const stats = await getJson<{ instances: StatsInstance[]; programs?: ProgramCounters[] }>(
    "/v1/stats",
    signal,
  );
  const at = Date.now();
  const rates = new Map<string, Rates>();
  const instances: InstanceCounters[] = stats.instances.map((i) => {
    rates.set(i.name, statsRates(i));
    for (const p of i.ports) rates.set(`${i.name}:${p.name}`, statsRates(p));
    return {
      name: i.name,
      type: i.type,
      kind: i.kind,
      ports: i.ports.map((p) => ({ name: p.name, rx: p.rx, tx: p.tx })),
      rx: i.rx,
      tx: i.tx,
      drops: i.drops,
      tables: i.tables,
    };
  });
  return { at, instances, programs: stats.programs ?? [], rates, instanceDropsPs: dropRates(instances, at) };
}

// ---- GET /v1/instances: counters only, rates computed here ----

let previous: { at: number; instances: Map<string, InstanceCounters> } | undefined;

function ratesBetween(now: { rx: Counter; tx: Counter }, before: typeof now | undefined, dt: number): Rates {
  if (!before || dt <= 0) return NO_RATES;
  return {
    rxPps: delta(now.rx.packets, before.rx.packets) / dt,
    txPps: delta(now.tx.packets, before.tx.packets) / dt,
    rxBps: delta(now.rx.bytes, before.rx.bytes) / dt,
    txBps: delta(now.tx.bytes, before.tx.bytes) / dt,
    dropsPs: (delta(now.rx.drops, before.rx.drops) + delta(now.tx.drops, before.tx.drops)) / dt,
  };
}

const sum = (cs: Counter[]): Counter =>
  cs.reduce(
    (a, c) => ({ packets: a.packets + c.packets, bytes: a.bytes + c.bytes, drops: a.drops + c.drops }),
    ZERO,
  );

export async function fromInstances(signal?: AbortSignal): Promise<CounterSnapshot> {
  const list = await getJson<InstanceJson[]>("/v1/instances", signal);
  const at = Date.now();
  const dt = previous ? (at - previous.at) / 1000 : 0;
  const rates = new Map<string, Rates>();
  const instances: InstanceCounters[] = list.map((i) => ({
    name: i.name,
    type: i.type,
    kind: i.kind,
    ports: i.ports.map((p) => ({ name: p.name, rx: p.rx, tx: p.tx })),
    rx: i.through?.rx ?? sum(i.ports.map((p) => p.rx)),
    tx: i.through?.tx ?? sum(i.ports.map((p) => p.tx)),
    drops: i.drops,
    tables: [],
  }));
  for (const i of instances) {
    const before = previous?.instances.get(i.name);
    rates.set(i.name, ratesBetween(i, before, dt));
    for (const p of i.ports)
      rates.set(
        `${i.name}:${p.name}`,
        ratesBetween(
          p,
          before?.ports.find((x) => x.name === p.name),
          dt,
        ),
      );
  }
  previous = { at, instances: new Map(instances.map((i) => [i.name, i])) };
  return { at, instances, programs: [], rates, instanceDropsPs: dropRates(instances, at) };
}

/** The source of every live number in the console. */
export const readCounters: (signal?: AbortSignal) => Promise<CounterSnapshot> = fromStats;
