// How the hypervisor commands print: -o table (aligned columns for people), json, yaml.
import type { InstanceJson, TopologyJson } from "../api/schemas.js";
import { UsageError } from "./errors.js";
import { json, table } from "./output.js";

export type OutputFormat = "table" | "json" | "yaml";

export function outputFormat(
  o: string | undefined,
  allowed: readonly string[] = ["table", "json", "yaml"],
): string {
  const f = o ?? "table";
  if (!allowed.includes(f)) throw new UsageError(`-o wants ${allowed.join(", ")}, got '${f}'`);
  return f;
}

/** Prints `data` as json or yaml; false when the format is "table" (the caller prints). */
export async function printStructured(format: string, data: unknown): Promise<boolean> {
  if (format === "json") process.stdout.write(`${json(data)}\n`);
  else if (format === "yaml") process.stdout.write((await import("yaml")).stringify(data));
  else return false;
  return true;
}

const num = (n: number) => String(n);

/** "key=value key2=[a,b]" for configs in tables. */
export function configText(c: Record<string, unknown>): string {
  const parts = Object.entries(c).map(
    ([k, v]) => `${k}=${typeof v === "string" ? v : Array.isArray(v) ? v.join(",") : JSON.stringify(v)}`,
  );
  return parts.join(" ") || "-";
}

export function instancesTable(list: readonly InstanceJson[]): string {
  if (!list.length) return "no instances (create one with: plexus create TYPE NAME)";
  return table(
    ["NAME", "TYPE", "VERSION", "MODE", "PORTS", "ATTACHED", "RX PKTS", "TX PKTS", "DROPS"],
    list.map((i) => {
      const rx = i.through?.rx.packets ?? i.ports.reduce((s, p) => s + p.rx.packets, 0);
      const tx = i.through?.tx.packets ?? i.ports.reduce((s, p) => s + p.tx.packets, 0);
      const drops = Object.values(i.drops).reduce((s, n) => s + n, 0);
      return [
        i.name,
        i.type,
        i.version,
        i.mode,
        i.kind === "transparent" ? "-" : num(i.ports.length),
        i.attachment ? `${i.attachment.target} ${i.attachment.direction}` : "-",
        num(rx),
        num(tx),
        num(drops),
      ];
    }),
  );
}

export function instanceDetail(i: InstanceJson): string {
  const lines = [
    `${i.name}: ${i.type} ${i.version} (${i.kind}, ${i.mode} mode, slot ${i.slot})`,
    `config: ${configText(i.config)}`,
  ];
  if (i.attachment)
    lines.push(`attached: ${i.attachment.target} ${i.attachment.direction} (order ${i.attachment.position})`);
  if (i.through)
    lines.push(
      `through: rx ${i.through.rx.packets} packets ${i.through.rx.bytes} bytes, tx ${i.through.tx.packets} packets ${i.through.tx.bytes} bytes`,
    );
  if (i.kind === "standard") {
    if (i.ports.length) {
      lines.push(
        "",
        table(
          ["PORT", "PEER", "RX PKTS", "RX BYTES", "RX DROPS", "TX PKTS", "TX BYTES", "TX DROPS", "CONFIG"],
          i.ports.map((p) => [
            p.name,
            p.peer ?? "-",
            num(p.rx.packets),
            num(p.rx.bytes),
            num(p.rx.drops),
            num(p.tx.packets),
            num(p.tx.bytes),
            num(p.tx.drops),
            configText(p.config),
          ]),
        ),
      );
    } else lines.push(`no ports (add one with: plexus port add ${i.name} PORT --peer IFNAME)`);
  }
  if (i.tables.length) lines.push("", `tables: ${i.tables.join(", ")} (plexus ${i.name} TABLE show)`);
  const drops = Object.entries(i.drops);
  if (drops.length) lines.push(`drops: ${drops.map(([k, n]) => `${k}=${n}`).join(" ")}`);
  return lines.join("\n");
}

/** The topology as an indented text tree. */
export function topologyText(t: TopologyJson): string {
  const nodes = new Map(t.nodes.map((n) => [n.id, n]));
  const label = (id: string) => {
    const n = nodes.get(id);
    if (!n) return id;
    if (n.kind === "port") return `${n.instance}:${n.name}`;
    if (n.kind === "interface") return `${n.name}${n.exists === false ? " (missing)" : ""}`;
    return n.name;
  };
  const peerOf = new Map<string, string>();
  for (const e of t.edges)
    if (e.kind === "link") {
      peerOf.set(e.from, e.to);
      peerOf.set(e.to, e.from);
    }
  const lines: string[] = [];
  const used = new Set<string>();
  for (const n of t.nodes.filter((x) => x.kind === "instance")) {
    lines.push(`${n.name} (${n.type}, ${n.mode}${n.nfKind === "transparent" ? ", transparent" : ""})`);
    for (const e of t.edges.filter((x) => x.from === n.id)) {
      if (e.kind === "port") {
        const peer = peerOf.get(e.to);
        if (peer) used.add(peer);
        lines.push(`  ${nodes.get(e.to)?.name} -- ${peer ? label(peer) : "(not connected)"}`);
      } else if (e.kind === "attachment") {
        used.add(e.to);
        lines.push(`  attached to ${label(e.to)} ${e.direction} (order ${e.position})`);
      }
    }
  }
  if (!lines.length) lines.push("no instances");
  const free = t.nodes.filter((n) => n.kind === "interface" && !used.has(n.id)).map((n) => n.name);
  if (free.length) lines.push("", `interfaces not in the topology: ${free.join(", ")}`);
  return lines.join("\n");
}

/** Graphviz, for `plexus topology -o dot | dot -Tsvg`. */
export function topologyDot(t: TopologyJson): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = ["graph plexus {", "  rankdir=LR;"];
  for (const n of t.nodes) {
    if (n.kind === "instance")
      lines.push(`  ${q(n.id)} [shape=box, label=${q(`${n.name}\n${n.type} (${n.mode})`)}];`);
    else if (n.kind === "port") lines.push(`  ${q(n.id)} [shape=point, xlabel=${q(n.name)}];`);
    else lines.push(`  ${q(n.id)} [shape=ellipse, label=${q(n.name)}];`);
  }
  for (const e of t.edges) {
    const style = e.kind === "attachment" ? " [style=dashed]" : e.kind === "port" ? " [len=0.3]" : "";
    lines.push(`  ${q(e.from)} -- ${q(e.to)}${style};`);
  }
  lines.push("}");
  return lines.join("\n");
}
