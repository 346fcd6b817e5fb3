// The daemon's statistics as Prometheus metrics. Names and labels are stable (dashboards and
// alerts depend on them); series exist only for instances, ports, tables and programs that exist
// now, so cardinality follows the topology and series go when instances go.
import { Exposition } from "./exposition.js";
import type { StatsSnapshot } from "./snapshot.js";

export interface DaemonInfo {
  version: string;
  /** Unix time (ms) the daemon started. */
  startedAt: number;
}

export function metricsText(s: StatsSnapshot, daemon: DaemonInfo): string {
  const x = new Exposition();
  x.family(
    "plexus_info",
    "gauge",
    "The plexus daemon (always 1; its version as a label).",
  )({ version: daemon.version }, 1);
  x.family(
    "plexus_start_time_seconds",
    "gauge",
    "Unix time the daemon started.",
  )({}, daemon.startedAt / 1000);
  x.family("plexus_instances", "gauge", "Network-function instances.")({}, s.instances.length);
  const info = x.family(
    "plexus_instance_info",
    "gauge",
    "An instance (always 1) with its type, version and hook mode.",
  );
  const packets = x.family(
    "plexus_port_packets_total",
    "counter",
    'Packets through an instance port: rx = into the instance, tx = out of it (transparent instances: port "-").',
  );
  const bytes = x.family(
    "plexus_port_bytes_total",
    "counter",
    "Bytes (from the L2 header) through an instance port.",
  );
  const portDrops = x.family(
    "plexus_port_drops_total",
    "counter",
    "Packets dropped at an instance port: rx = dropped on the way in, tx = sent out of a port with no peer.",
  );
  const drops = x.family(
    "plexus_drops_total",
    "counter",
    "Packets an instance dropped, by reason (names from the network function's manifest or the framework's).",
  );
  const entries = x.family("plexus_table_entries", "gauge", "Entries in an instance's table.");
  const capacity = x.family("plexus_table_capacity", "gauge", "Entries an instance's table can hold.");
  for (const i of s.instances) {
    info({ instance: i.name, type: i.type, version: i.version, mode: i.mode, kind: i.kind }, 1);
    const ports =
      i.kind === "transparent"
        ? [{ name: "-", rx: i.rx, tx: i.tx }]
        : i.ports.map((p) => ({ name: p.name, rx: p.rx, tx: p.tx }));
    for (const p of ports)
      for (const direction of ["rx", "tx"] as const) {
        const l = { instance: i.name, type: i.type, port: p.name, direction };
        packets(l, p[direction].packets);
        bytes(l, p[direction].bytes);
        portDrops(l, p[direction].drops);
      }
    for (const [reason, n] of Object.entries(i.drops)) drops({ instance: i.name, type: i.type, reason }, n);
    for (const t of i.tables) {
      entries({ instance: i.name, type: i.type, table: t.table }, t.entries);
      capacity({ instance: i.name, type: i.type, table: t.table }, t.capacity);
    }
  }
  x.family(
    "plexus_program_stats_enabled",
    "gauge",
    "1 while the kernel counts program run time (switched on while someone looks, such as this scrape).",
  )({}, s.programStats ? 1 : 0);
  const runs = x.family(
    "plexus_program_runs_total",
    "counter",
    'Runs of an eBPF program counted by the kernel while statistics are on; instance programs reached by tail call are counted in the entry stub (instance "").',
  );
  const seconds = x.family(
    "plexus_program_run_seconds_total",
    "counter",
    "Time spent in an eBPF program counted by the kernel while statistics are on (a stub's includes the instances it tail-calls).",
  );
  for (const p of s.programs) {
    const l = { instance: p.instance ?? "", program: p.program, hook: p.hook };
    runs(l, p.runs);
    seconds(l, p.runTimeNs / 1e9);
  }
  return x.text();
}
