// What the API returns for core objects: JSON-safe (64-bit counters as numbers), and the topology
// as a graph of instances, ports and host interfaces.
import { execFileSync } from "node:child_process";
import type { Counter } from "../core/dataplane/abi.js";
import { peerText, type Hypervisor, type InstanceView, type PortView } from "../core/hypervisor.js";
import type { NfPackage } from "../core/nf/package.js";
import type { DesiredState } from "../core/state.js";
import type { InstanceJson, LinkJson, NfTypeJson, PortJson, TopologyJson } from "./schemas.js";

// Counters stay far below 2^53 in practice; numbers are what every JSON client reads.
const counter = (c: Counter) => ({
  packets: Number(c.packets),
  bytes: Number(c.bytes),
  drops: Number(c.drops),
});

export const portJson = (p: PortView): PortJson => ({
  name: p.name,
  index: p.index,
  ...(p.peer !== undefined ? { peer: p.peer } : {}),
  config: p.config,
  rx: counter(p.rx),
  tx: counter(p.tx),
});

export const instanceJson = (v: InstanceView, through?: { rx: Counter; tx: Counter }): InstanceJson => ({
  name: v.name,
  type: v.type,
  version: v.version,
  kind: v.kind,
  mode: v.mode,
  slot: v.slot,
  config: v.config,
  ports: v.ports.map(portJson),
  ...(v.attachment ? { attachment: v.attachment } : {}),
  tables: v.tables,
  drops: Object.fromEntries(Object.entries(v.drops).map(([k, n]) => [k, Number(n)])),
  ...(through ? { through: { rx: counter(through.rx), tx: counter(through.tx) } } : {}),
});

/** An instance with, for a transparent one, the counters of what went through it. */
export const instanceWithCounters = (hv: Hypervisor, v: InstanceView): InstanceJson =>
  instanceJson(v, v.kind === "transparent" ? hv.instanceCounters(v.name) : undefined);

export function nfTypeJson(pkg: NfPackage, state: DesiredState): NfTypeJson {
  const m = pkg.manifest;
  return {
    name: pkg.name,
    version: pkg.version,
    description: m.description,
    kind: m.kind,
    hooks: pkg.hooks,
    builtin: pkg.builtin,
    maxPorts: m.kind === "transparent" ? 0 : (m.maxPorts ?? 128),
    ...(m.config ? { config: m.config } : {}),
    ...(m.portConfig ? { portConfig: m.portConfig } : {}),
    tables: Object.fromEntries(
      Object.entries(m.tables ?? {}).map(([t, s]) => [
        t,
        { ...(s.description ? { description: s.description } : {}), writable: s.writable ?? false },
      ]),
    ),
    instances: Object.entries(state.instances)
      .filter(([, i]) => i.type === pkg.name && i.version === pkg.version)
      .map(([n]) => n)
      .sort(),
  };
}

/** Instance-to-instance links once each, and port-to-interface connections. */
export function links(state: DesiredState): LinkJson[] {
  const out: LinkJson[] = [];
  for (const name of Object.keys(state.instances).sort())
    for (const [pn, p] of Object.entries(state.instances[name].ports)) {
      if (!p.peer) continue;
      const a = `${name}:${pn}`;
      const b = peerText(p.peer);
      if ("iface" in p.peer) out.push({ a, b, kind: "interface" });
      else if (a < b) out.push({ a, b, kind: "port" });
    }
  return out;
}

interface HostInterface {
  ifname: string;
  ifindex: number;
}

/** Interfaces of the daemon's namespace, without loopback and plexus's own link veths. */
function hostInterfaces(): HostInterface[] {
  try {
    const out = execFileSync("ip", ["-j", "link", "show"], { encoding: "utf8" });
    return (JSON.parse(out) as HostInterface[]).filter(
      (l) => l.ifname !== "lo" && !/^pxl\d+[ab]$/.test(l.ifname),
    );
  } catch {
    return [];
  }
}

/** The topology as a graph: instances own ports; ports link to ports or interfaces; attachments. */
export function topologyGraph(state: DesiredState, kinds: Map<string, string>): TopologyJson {
  const nodes: TopologyJson["nodes"] = [];
  const edges: TopologyJson["edges"] = [];
  const ifaces = new Map(hostInterfaces().map((i) => [i.ifname, i.ifindex]));
  const referenced = new Set<string>();
  const ifaceNode = (n: string) => `interface:${n}`;
  for (const name of Object.keys(state.instances).sort()) {
    const st = state.instances[name];
    nodes.push({
      id: `instance:${name}`,
      kind: "instance",
      name,
      type: st.type,
      mode: st.mode,
      nfKind: kinds.get(name) ?? "standard",
    });
    for (const [pn, p] of Object.entries(st.ports).sort((a, b) => a[1].index - b[1].index)) {
      const id = `port:${name}:${pn}`;
      nodes.push({ id, kind: "port", name: pn, instance: name });
      edges.push({ from: `instance:${name}`, to: id, kind: "port" });
      if (!p.peer) continue;
      if ("iface" in p.peer) {
        referenced.add(p.peer.iface);
        edges.push({ from: id, to: ifaceNode(p.peer.iface), kind: "link" });
      } else if (`${name}:${pn}` < `${p.peer.instance}:${p.peer.port}`)
        edges.push({ from: id, to: `port:${p.peer.instance}:${p.peer.port}`, kind: "link" });
    }
    const a = st.attachment;
    if (a) {
      const to =
        "iface" in a.target ? ifaceNode(a.target.iface) : `port:${a.target.instance}:${a.target.port}`;
      if ("iface" in a.target) referenced.add(a.target.iface);
      edges.push({
        from: `instance:${name}`,
        to,
        kind: "attachment",
        direction: a.direction,
        position: a.position,
      });
    }
  }
  for (const n of [...new Set([...ifaces.keys(), ...referenced])].sort()) {
    const ifindex = ifaces.get(n);
    nodes.push({
      id: ifaceNode(n),
      kind: "interface",
      name: n,
      ...(ifindex !== undefined ? { ifindex } : {}),
      exists: ifindex !== undefined,
    });
  }
  return { nodes, edges };
}
