// The daemon's statistics: reads the framework's per-CPU counters (summed) for every instance and
// port, the kernel's program statistics and table usage; a sampling timer keeps the last two
// readings so that rates are the daemon's (per second over the last interval), whoever asks. The
// same timer watches for changes worth an event: a table that fills up (table.full, and
// table.recovered when it has room again) and a port whose host interface goes away or comes back
// (port.health).
import { native } from "../../bpf/sys/native.js";
import type { Counter } from "../dataplane/abi.js";
import type { Hypervisor, InstanceView } from "../hypervisor.js";
import { ProgramStatsSwitch } from "./program-stats.js";
import {
  ZERO_RATE,
  addRate,
  addTraffic,
  rateOf,
  traffic,
  type InstanceStats,
  type LinkStats,
  type PortStats,
  type ProgramStats,
  type Rate,
  type StatsSnapshot,
  type TableStats,
  type Traffic,
} from "./snapshot.js";
import { countEntries, hasUsage } from "./table-usage.js";

export interface StatsOptions {
  /** Sampling interval for rates (default 1 s). */
  intervalMs?: number;
  /** How often table usage is counted (default 10 s: big tables take many map reads). */
  tableIntervalMs?: number;
  /** How long program statistics stay on after the last look (default 60 s). */
  programStatsLingerMs?: number;
}

/** One reading of every counter, keyed "instance/port/rx|tx" and "prog:instance/program". */
interface Reading {
  at: number;
  counters: Map<string, Traffic>;
  runs: Map<string, number>;
}

interface ReadInstance {
  view: InstanceView;
  /** Transparent instances: what went through them. */
  through?: { rx: Counter; tx: Counter };
}

/** Table usage at and above which a table counts as full, and below which it has room again. */
const FULL = 1;
const RECOVERED = 0.9;

const ZERO: Traffic = { packets: 0, bytes: 0, drops: 0 };
const portKey = (i: string, p: string, dir: "rx" | "tx") => `${i}/${p}/${dir}`;
const progKey = (p: { instance?: string; hook: string; program: string }) =>
  `${p.instance ?? ""}/${p.hook}/${p.program}`;

export class StatsService {
  readonly programStats: ProgramStatsSwitch;
  readonly intervalMs: number;
  private readonly tableIntervalMs: number;
  private prev: Reading | undefined;
  private last: Reading | undefined;
  private timer: NodeJS.Timeout | undefined;
  private tables = new Map<string, { at: number; usage: TableStats[] }>();
  private full = new Set<string>();
  private missing = new Set<string>();

  constructor(
    private readonly hv: Hypervisor,
    opts: StatsOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.tableIntervalMs = opts.tableIntervalMs ?? 10_000;
    this.programStats = new ProgramStatsSwitch(opts.programStatsLingerMs ?? 60_000);
  }

  /** Starts the sampling timer (the daemon's clock for rates and watched changes). */
  start(): void {
    if (this.timer) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.programStats.close();
  }

  /** One sampling step: a reading for rates, table usage when due, interface health. */
  tick(): void {
    try {
      const instances = this.readInstances();
      this.prev = this.last;
      this.last = this.reading(instances);
      const now = Date.now();
      for (const { view } of instances) {
        const cached = this.tables.get(view.name);
        if (!cached || now - cached.at >= this.tableIntervalMs) this.tableUsage(view.name, true);
      }
      for (const name of this.tables.keys())
        if (!instances.some((i) => i.view.name === name)) this.forget(name);
      this.checkInterfaces(instances);
    } catch (e) {
      this.hv.log.warn({ err: e }, "statistics sampling failed");
    }
  }

  /** Counters read now, rates over the last sampling interval. */
  snapshot(): StatsSnapshot {
    const instances = this.readInstances();
    const { prev, last } = this;
    const seconds = prev && last ? (last.at - prev.at) / 1000 : 0;
    const rate = (key: string): Rate =>
      prev && last
        ? rateOf(last.counters.get(key) ?? ZERO, prev.counters.get(key), seconds)
        : { ...ZERO_RATE };
    const out: InstanceStats[] = [];
    const links: LinkStats[] = [];
    const portRates = new Map<string, { rx: Rate; tx: Rate }>();
    for (const { view, through } of instances) {
      const ports: PortStats[] = view.ports.map((p) => {
        const r = { rx: rate(portKey(view.name, p.name, "rx")), tx: rate(portKey(view.name, p.name, "tx")) };
        portRates.set(`${view.name}:${p.name}`, r);
        return {
          name: p.name,
          index: p.index,
          ...(p.peer !== undefined ? { peer: p.peer } : {}),
          rx: traffic(p.rx),
          tx: traffic(p.tx),
          rxRate: r.rx,
          txRate: r.tx,
        };
      });
      const sum = (dir: "rx" | "tx") =>
        through ? traffic(through[dir]) : ports.reduce((s, p) => addTraffic(s, p[dir]), { ...ZERO });
      const sumRate = (dir: "rx" | "tx") =>
        through
          ? rate(portKey(view.name, "", dir))
          : ports.reduce((s, p) => addRate(s, dir === "rx" ? p.rxRate : p.txRate), { ...ZERO_RATE });
      out.push({
        name: view.name,
        type: view.type,
        version: view.version,
        mode: view.mode,
        kind: view.kind,
        rx: sum("rx"),
        tx: sum("tx"),
        rxRate: sumRate("rx"),
        txRate: sumRate("tx"),
        drops: Object.fromEntries(Object.entries(view.drops).map(([k, v]) => [k, Number(v)])),
        ports,
        tables: this.tableUsage(view.name, false),
      });
    }
    // Each link once: a port and its interface, or two ports (the first in name order is `a`).
    for (const { view } of instances)
      for (const p of view.ports) {
        if (p.peer === undefined) continue;
        const a = `${view.name}:${p.name}`;
        const mine = portRates.get(a) ?? { rx: ZERO_RATE, tx: ZERO_RATE };
        if (!p.peer.includes(":")) {
          links.push({ a, b: p.peer, kind: "iface", aToB: mine.tx, bToA: mine.rx });
          continue;
        }
        if (a > p.peer) continue;
        const theirs = portRates.get(p.peer) ?? { rx: ZERO_RATE, tx: ZERO_RATE };
        links.push({ a, b: p.peer, kind: "port", aToB: mine.tx, bToA: theirs.tx });
      }
    const programs = this.readPrograms(instances.map((i) => i.view.name)).map((p) => {
      const before = prev?.runs.get(progKey(p));
      const after = last?.runs.get(progKey(p));
      const runsPerSecond =
        seconds > 0 && before !== undefined && after !== undefined && after >= before
          ? (after - before) / seconds
          : 0;
      return { ...p, runsPerSecond };
    });
    return {
      time: new Date().toISOString(),
      intervalMs: Math.round(seconds * 1000),
      programStats: this.programStats.enabled,
      instances: out,
      links,
      programs,
    };
  }

  /** Entries against capacity of an instance's keyed tables (counted at most every tableIntervalMs). */
  tableUsage(name: string, refresh: boolean): TableStats[] {
    const cached = this.tables.get(name);
    if (cached && !refresh) return cached.usage;
    const rt = this.hv.instanceRuntime(name);
    if (!rt) return [];
    const usage: TableStats[] = [];
    for (const [table, spec] of Object.entries(rt.pkg.manifest.tables ?? {})) {
      let m;
      try {
        m = rt.map(spec.map);
      } catch {
        continue;
      }
      if (!hasUsage(m)) continue;
      usage.push({ table, entries: countEntries(m), capacity: m.maxEntries });
    }
    this.tables.set(name, { at: Date.now(), usage });
    this.watchTables(name, usage);
    return usage;
  }

  private watchTables(name: string, usage: readonly TableStats[]): void {
    for (const u of usage) {
      const key = `${name}/${u.table}`;
      const fill = u.capacity ? u.entries / u.capacity : 0;
      const data = { table: u.table, entries: u.entries, capacity: u.capacity };
      if (fill >= FULL && !this.full.has(key)) {
        this.full.add(key);
        this.hv.events.emit(
          "table.full",
          `${name} ${u.table} is full (${u.entries} of ${u.capacity} entries): new entries are refused or evict old ones`,
          { instance: name, data },
        );
      } else if (fill < RECOVERED && this.full.has(key)) {
        this.full.delete(key);
        this.hv.events.emit(
          "table.recovered",
          `${name} ${u.table} has room again (${u.entries} of ${u.capacity} entries)`,
          { instance: name, data },
        );
      }
    }
  }

  private forget(name: string): void {
    this.tables.delete(name);
    for (const k of [...this.full]) if (k.startsWith(`${name}/`)) this.full.delete(k);
    for (const k of [...this.missing]) if (k.startsWith(`${name}:`)) this.missing.delete(k);
  }

  /** A port whose host interface disappears (or comes back) is worth an event. */
  private checkInterfaces(instances: readonly ReadInstance[]): void {
    for (const { view } of instances)
      for (const p of view.ports) {
        if (p.peer === undefined || p.peer.includes(":")) continue;
        const key = `${view.name}:${p.name}`;
        const present = native().ifNameToIndex(p.peer) > 0;
        if (!present && !this.missing.has(key)) {
          this.missing.add(key);
          this.hv.events.emit("port.health", `${key}: interface ${p.peer} is gone; the port is down`, {
            instance: view.name,
            data: { port: p.name, iface: p.peer, healthy: false },
          });
        } else if (present && this.missing.has(key)) {
          this.missing.delete(key);
          this.hv.events.emit("port.health", `${key}: interface ${p.peer} is back`, {
            instance: view.name,
            data: { port: p.name, iface: p.peer, healthy: true },
          });
        }
      }
  }

  private readInstances(): ReadInstance[] {
    const out: ReadInstance[] = [];
    for (const view of this.hv.listInstances())
      out.push(
        view.kind === "transparent" ? { view, through: this.hv.instanceCounters(view.name) } : { view },
      );
    return out;
  }

  private reading(instances: readonly ReadInstance[]): Reading {
    const counters = new Map<string, Traffic>();
    for (const { view, through } of instances) {
      if (through) {
        counters.set(portKey(view.name, "", "rx"), traffic(through.rx));
        counters.set(portKey(view.name, "", "tx"), traffic(through.tx));
      }
      for (const p of view.ports) {
        counters.set(portKey(view.name, p.name, "rx"), traffic(p.rx));
        counters.set(portKey(view.name, p.name, "tx"), traffic(p.tx));
      }
    }
    const runs = new Map<string, number>();
    if (this.programStats.enabled)
      for (const p of this.readPrograms(instances.map((i) => i.view.name))) runs.set(progKey(p), p.runs);
    return { at: performance.now(), counters, runs };
  }

  /**
   * Run counts and times of the framework's programs and every instance's. The kernel counts a run
   * where a program is entered from its hook: programs reached by tail call (instances in the
   * patch panel) are counted in the entry stub that called them.
   */
  readPrograms(instances: readonly string[]): Omit<ProgramStats, "runsPerSecond">[] {
    const out: Omit<ProgramStats, "runsPerSecond">[] = [];
    for (const p of this.hv.framework.programs()) {
      const info = p.program.info();
      out.push({
        program: p.name,
        hook: p.hook,
        runs: Number(info.runCnt),
        runTimeNs: Number(info.runTimeNs),
      });
    }
    for (const name of instances) {
      const rt = this.hv.instanceRuntime(name);
      if (!rt) continue;
      for (const [program, prog] of rt.loaded.programs) {
        const info = prog.info();
        out.push({
          instance: name,
          program,
          hook: rt.hook,
          runs: Number(info.runCnt),
          runTimeNs: Number(info.runTimeNs),
        });
      }
    }
    return out;
  }
}
