// From the desired state to the framework's tables: which hop each host interface leads to, where
// each port's packets go, what follows each transparent instance, and which entry stubs must sit
// on which interfaces. Pure: no kernel, no I/O; the caller supplies interface indexes.
import { type Hop } from "./dataplane/abi.js";
import { ValidationError } from "./errors.js";
import type { AttachDirection, DesiredState, InstanceState, Peer } from "./state.js";

export type Hook = "xdp" | "tc";
export const hookOf = (mode: InstanceState["mode"]): Hook => (mode === "tc" ? "tc" : "xdp");

/** The link veth pair of an instance-to-instance connection: side a belongs to the lower port key. */
export const linkVethNames = (id: number): { a: string; b: string } => ({ a: `pxl${id}a`, b: `pxl${id}b` });
export const portKey = (instance: string, port: string): string => `${instance}/${port}`;

export interface StubNeed {
  /** XDP entry stub (and its mode), from the first program the interface's packets meet. */
  xdp?: "native" | "generic";
  tcIngress?: boolean;
  tcEgress?: boolean;
}

export interface KernelTables {
  /** `${ifindex}/${dir}` -> hop (px_ifaces). */
  ifaces: Map<string, { ifindex: number; dir: number; hop: Hop }>;
  /** ifindex -> the stubs it needs. */
  stubs: Map<number, StubNeed>;
  /** px_ports index -> hop out of the port. */
  ports: Map<number, Hop>;
  /** slot -> hop after a transparent instance (px_after). */
  after: Map<number, Hop>;
  /** port key -> the interface a multi-destination copy goes to (peer interface or link veth). */
  floodIfindex: Map<string, number>;
}

export interface Environment {
  /** ifindex of a host interface in the daemon's namespace, or undefined when it does not exist. */
  ifindex(name: string): number | undefined;
}

const RX = 0;
const TX = 1;

interface Point {
  key: string;
  describe: string;
}

const pointOf = (target: Peer, direction: AttachDirection): Point =>
  "iface" in target
    ? { key: `iface:${target.iface}:${direction}`, describe: `interface ${target.iface} ${direction}` }
    : {
        key: `port:${target.instance}/${target.port}:${direction}`,
        describe: `${target.instance}:${target.port} ${direction}`,
      };

/** Transparent instances by attachment point, in run order. */
function chains(state: DesiredState): Map<string, string[]> {
  const byPoint = new Map<string, { name: string; position: number }[]>();
  for (const [name, inst] of Object.entries(state.instances)) {
    const a = inst.attachment;
    if (!a) continue;
    const k = pointOf(a.target, a.direction).key;
    const list = byPoint.get(k) ?? [];
    list.push({ name, position: a.position });
    byPoint.set(k, list);
  }
  const out = new Map<string, string[]>();
  for (const [k, list] of byPoint)
    out.set(
      k,
      list.sort((x, y) => x.position - y.position || (x.name < y.name ? -1 : 1)).map((x) => x.name),
    );
  return out;
}

export function computeTables(state: DesiredState, env: Environment): KernelTables {
  const t: KernelTables = {
    ifaces: new Map(),
    stubs: new Map(),
    ports: new Map(),
    after: new Map(),
    floodIfindex: new Map(),
  };
  const chainOf = chains(state);
  const inst = (name: string): InstanceState => {
    const i = state.instances[name];
    if (!i) throw new ValidationError(`no instance '${name}'`);
    return i;
  };
  const ifindexOf = (name: string): number => {
    const i = env.ifindex(name);
    if (i === undefined)
      throw new ValidationError(`interface '${name}' does not exist in the daemon's network namespace`);
    return i;
  };
  const chain = (target: Peer, dir: AttachDirection) => chainOf.get(pointOf(target, dir).key) ?? [];

  /**
   * Programs in `members` then `final` run one after another by tail call: they must share a hook.
   * Fills px_after for each member and returns the hop to the first.
   */
  const compose = (
    members: string[],
    final: Hop,
    where: string,
    /** The instance whose program starts the chain by tail call (a port's egress), if any. */
    from?: string,
  ): { head: Hop; hook?: Hook; xdpMode?: "native" | "generic" } => {
    const runners = [
      ...(from !== undefined && members.length ? [from] : []),
      ...members,
      ...(final.kind === "slot" ? [slotOwner(final.slot)] : []),
    ];
    const hooks = new Set(runners.map((n) => hookOf(inst(n).mode)));
    if (hooks.size > 1) {
      const desc = runners.map((n) => `${n} (${hookOf(inst(n).mode)})`).join(", ");
      throw new ValidationError(
        `at ${where}, ${desc} would run one after another by tail call, which cannot cross the XDP/TC boundary; create them in the same hook mode`,
      );
    }
    let next = final;
    for (let i = members.length - 1; i >= 0; i--) {
      const s = inst(members[i]).slot;
      t.after.set(s, next);
      next = { kind: "slot", slot: s, port: 0, ifindex: 0 };
    }
    const last = runners[runners.length - 1];
    const mode = last !== undefined ? inst(last).mode : undefined;
    return {
      head: next,
      hook: [...hooks][0],
      xdpMode: mode === "xdp-generic" ? "generic" : mode === "xdp" ? "native" : undefined,
    };
  };
  const slotOwners = new Map(Object.entries(state.instances).map(([n, i]) => [i.slot, n]));
  const slotOwner = (slot: number): string => {
    const n = slotOwners.get(slot);
    if (n === undefined) throw new ValidationError(`no instance in slot ${slot}`);
    return n;
  };
  const needStub = (ifindex: number, need: StubNeed) =>
    t.stubs.set(ifindex, { ...t.stubs.get(ifindex), ...need });
  const entry = (ifindex: number, dir: number, composed: ReturnType<typeof compose>, where: string) => {
    if (composed.head.kind === "pass" || composed.head.kind === "drop") return;
    t.ifaces.set(`${ifindex}/${dir}`, { ifindex, dir, hop: composed.head });
    if (dir === TX) {
      if (composed.hook !== "tc")
        throw new ValidationError(
          `at ${where}: only TC-mode instances can act on egress (XDP has no egress hook)`,
        );
      needStub(ifindex, { tcEgress: true });
    } else if (composed.hook === "tc") needStub(ifindex, { tcIngress: true });
    else needStub(ifindex, { xdp: composed.xdpMode });
  };

  const ifacePorts = new Map<string, string>(); // iface -> port key, for attachments on port peers
  for (const [name, i] of Object.entries(state.instances))
    for (const [pname, p] of Object.entries(i.ports))
      if (p.peer && "iface" in p.peer) ifacePorts.set(p.peer.iface, portKey(name, pname));

  // Ports: the hop out of each, and the entries of their peers' interfaces and link veths.
  for (const [name, i] of Object.entries(state.instances)) {
    for (const [pname, p] of Object.entries(i.ports)) {
      const here: Peer = { instance: name, port: pname };
      const where = `${name}:${pname}`;
      const index = i.slot * 128 + p.index;
      if (!p.peer) {
        t.ports.set(index, { kind: "drop" });
        continue;
      }
      if ("iface" in p.peer) {
        const ifindex = ifindexOf(p.peer.iface);
        const out = compose(chain(here, "egress"), { kind: "iface", ifindex }, `${where} egress`, name);
        t.ports.set(index, withFlood(out.head, ifindex));
        t.floodIfindex.set(portKey(name, pname), ifindex);
        const into = compose(
          [...chain({ iface: p.peer.iface }, "ingress"), ...chain(here, "ingress")],
          { kind: "slot", slot: i.slot, port: p.index, ifindex: 0 },
          `interface ${p.peer.iface} ingress`,
        );
        entry(ifindex, RX, into, `interface ${p.peer.iface} ingress`);
        continue;
      }
      const other = inst(p.peer.instance);
      const op = other.ports[p.peer.port];
      if (!op)
        throw new ValidationError(
          `${where} is connected to ${p.peer.instance}:${p.peer.port}, which does not exist`,
        );
      if (p.link === undefined) throw new ValidationError(`${where}: connection has no link id`);
      const veth = linkVethNames(p.link);
      const mine = portKey(name, pname) < portKey(p.peer.instance, p.peer.port) ? veth.a : veth.b;
      const mineIfindex = ifindexOf(mine);
      t.floodIfindex.set(portKey(name, pname), mineIfindex);
      const there: Peer = { instance: p.peer.instance, port: p.peer.port };
      const final: Hop = { kind: "slot", slot: other.slot, port: op.index, ifindex: 0 };
      const out =
        hookOf(i.mode) === hookOf(other.mode)
          ? compose(
              [...chain(here, "egress"), ...chain(there, "ingress")],
              final,
              `${where} -> ${p.peer.instance}:${p.peer.port}`,
              name,
            )
          : compose(chain(here, "egress"), { kind: "iface", ifindex: mineIfindex }, `${where} egress`, name);
      t.ports.set(index, withFlood(out.head, mineIfindex));
      // What the peer sends into its end of the veth comes out of ours: it enters this port.
      const into = compose(
        chain(here, "ingress"),
        { kind: "slot", slot: i.slot, port: p.index, ifindex: 0 },
        `${where} ingress`,
      );
      entry(mineIfindex, RX, into, `${where} ingress`);
    }
  }

  // Attachments on interfaces that no port uses: ingress ends in the host stack, egress on the wire.
  for (const [k, members] of chainOf) {
    const m = /^iface:(.+):(ingress|egress)$/.exec(k);
    if (!m) continue;
    const [, ifname, dir] = m;
    const ifindex = ifindexOf(ifname);
    if (dir === "ingress" && ifacePorts.has(ifname)) continue; // composed with the port above
    const composed = compose(members, { kind: "pass" }, `interface ${ifname} ${dir}`);
    entry(ifindex, dir === "ingress" ? RX : TX, composed, `interface ${ifname} ${dir}`);
  }
  return t;
}

function withFlood(h: Hop, ifindex: number): Hop {
  return h.kind === "slot" ? { ...h, ifindex } : h;
}
