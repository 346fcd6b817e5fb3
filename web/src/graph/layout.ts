// Places the topology on a plane: standard instances in columns by their distance along
// instance-to-instance links (so a chain reads left to right), ports on the box side that faces
// their peer (host interfaces hang below), transparent instances stacked in their order on the
// port or interface they are attached to, and every other host interface in a row at the bottom.
import type { TopologyJson, TopologyNode } from "../types.js";

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface PlacedInstance extends Box {
  name: string;
  type: string;
  mode: string;
}

export type Side = "left" | "right" | "bottom";

export interface PlacedPort {
  instance: string;
  name: string;
  /** "INSTANCE:PORT" */
  key: string;
  x: number;
  y: number;
  side: Side;
}

export interface PlacedInterface extends Box {
  name: string;
  exists: boolean;
}

export interface PlacedLink {
  /** The port whose counters the link shows ("INSTANCE:PORT"). */
  port: string;
  /** "INSTANCE:PORT" or an interface name. */
  peer: string;
  kind: "interface" | "port";
  points: { x: number; y: number }[];
}

export interface PlacedStacked extends Box {
  name: string;
  type: string;
  /** "INSTANCE:PORT" or an interface name; "" when not attached. */
  target: string;
  direction: string;
  /** 0 for the first one at its target. */
  order: number;
}

export interface Layout {
  width: number;
  height: number;
  instances: PlacedInstance[];
  ports: PlacedPort[];
  interfaces: PlacedInterface[];
  links: PlacedLink[];
  stacked: PlacedStacked[];
}

const COL_GAP = 230;
const ROW_GAP = 50;
const MARGIN = 30;
const PORT_STEP = 200;
const SIDE_PORT_STEP = 44;
/** Below the instance's name and type lines. */
const SIDE_PORT_TOP = 60;
const IFACE_W = 120;
const IFACE_H = 34;
const STACK_W = 130;
const STACK_H = 28;
const STACK_STEP = 36;
const DROP_BASE = 90;

interface Draft {
  name: string;
  type: string;
  mode: string;
  col: number;
  left: string[];
  right: string[];
  bottom: string[];
}

export function layoutTopology(topo: TopologyJson): Layout {
  const instNodes = topo.nodes.filter((n) => n.kind === "instance");
  const standard = instNodes.filter((n) => n.nfKind !== "transparent");
  const transparent = instNodes.filter((n) => n.nfKind === "transparent");
  const portOwner = new Map<string, string>();
  const portsOf = new Map<string, string[]>();
  for (const n of topo.nodes)
    if (n.kind === "port" && n.instance) {
      const key = `${n.instance}:${n.name}`;
      portOwner.set(n.id, key);
      if (!portsOf.has(n.instance)) portsOf.set(n.instance, []);
      portsOf.get(n.instance)!.push(key);
    }
  // Peers of each port from the link edges (both ways).
  const peerOf = new Map<string, { kind: "interface" | "port"; name: string }>();
  for (const e of topo.edges) {
    if (e.kind !== "link") continue;
    const a = portOwner.get(e.from);
    if (!a) continue;
    if (e.to.startsWith("interface:")) peerOf.set(a, { kind: "interface", name: e.to.slice(10) });
    else {
      const b = portOwner.get(e.to);
      if (!b) continue;
      peerOf.set(a, { kind: "port", name: b });
      peerOf.set(b, { kind: "port", name: a });
    }
  }
  const instOf = (portKey: string) => portKey.slice(0, portKey.indexOf(":"));

  // Columns: breadth-first over instance-to-instance links, one component after another.
  const neighbours = new Map<string, Set<string>>();
  for (const [a, p] of peerOf)
    if (p.kind === "port") {
      const x = instOf(a);
      const y = instOf(p.name);
      if (!neighbours.has(x)) neighbours.set(x, new Set());
      neighbours.get(x)!.add(y);
    }
  const col = new Map<string, number>();
  const component = new Map<string, number>();
  let components = 0;
  const hasIface = (n: string) => (portsOf.get(n) ?? []).some((p) => peerOf.get(p)?.kind === "interface");
  const seeds = [...standard].sort((a, b) => Number(hasIface(b.name)) - Number(hasIface(a.name)));
  for (const seed of seeds) {
    if (col.has(seed.name)) continue;
    const c = components++;
    col.set(seed.name, 0);
    component.set(seed.name, c);
    const queue = [seed.name];
    while (queue.length) {
      const n = queue.shift()!;
      for (const m of [...(neighbours.get(n) ?? [])].sort()) {
        if (col.has(m)) continue;
        col.set(m, col.get(n)! + 1);
        component.set(m, c);
        queue.push(m);
      }
    }
  }

  const drafts: Draft[] = standard.map((n) => {
    const d: Draft = {
      name: n.name,
      type: n.type ?? "",
      mode: n.mode ?? "",
      col: col.get(n.name) ?? 0,
      left: [],
      right: [],
      bottom: [],
    };
    for (const p of portsOf.get(n.name) ?? []) {
      const peer = peerOf.get(p);
      if (peer?.kind === "port") {
        const pc = col.get(instOf(peer.name)) ?? 0;
        (pc < d.col ? d.left : d.right).push(p);
      } else d.bottom.push(p);
    }
    return d;
  });

  // Transparent instances grouped by target ("INSTANCE:PORT" or an interface), in their order.
  interface Attached {
    node: TopologyNode;
    direction: string;
    position: number;
  }
  const stacks = new Map<string, Attached[]>();
  const detached: TopologyNode[] = [];
  for (const n of transparent) {
    const e = topo.edges.find((x) => x.kind === "attachment" && x.from === n.id);
    if (!e) {
      detached.push(n);
      continue;
    }
    const target = e.to.startsWith("interface:") ? e.to.slice(10) : e.to.slice(5);
    if (!stacks.has(target)) stacks.set(target, []);
    stacks.get(target)!.push({ node: n, direction: e.direction ?? "ingress", position: e.position ?? 0 });
  }
  for (const list of stacks.values()) list.sort((a, b) => a.position - b.position);
  const stackDepth = (target: string) => stacks.get(target)?.length ?? 0;

  // Sizes, then positions column by column, components below one another.
  const size = (d: Draft) => {
    const w = Math.max(190, d.bottom.length * PORT_STEP);
    const h = Math.max(64, Math.max(d.left.length, d.right.length) * SIDE_PORT_STEP + SIDE_PORT_TOP - 10);
    let drop = 0;
    if (d.bottom.length) {
      const depth = Math.max(
        0,
        ...d.bottom.map((p) => {
          const peer = peerOf.get(p);
          return stackDepth(p) + (peer?.kind === "interface" ? stackDepth(peer.name) : 0);
        }),
      );
      drop = DROP_BASE + depth * STACK_STEP + IFACE_H;
    }
    const sideDepth = Math.max(0, ...[...d.left, ...d.right].map(stackDepth));
    return { w, h, below: Math.max(drop, sideDepth ? sideDepth * STACK_STEP + 40 : 0) };
  };
  const sizes = new Map(drafts.map((d) => [d.name, size(d)]));
  const cols = Math.max(0, ...drafts.map((d) => d.col)) + 1;
  const colW = Array.from({ length: cols }, (_, c) =>
    Math.max(0, ...drafts.filter((d) => d.col === c).map((d) => sizes.get(d.name)!.w)),
  );
  const colX: number[] = [];
  let x = MARGIN;
  for (let c = 0; c < cols; c++) {
    colX.push(x);
    x += colW[c] + COL_GAP;
  }

  const out: Layout = {
    width: 0,
    height: 0,
    instances: [],
    ports: [],
    interfaces: [],
    links: [],
    stacked: [],
  };
  const portPos = new Map<string, PlacedPort>();
  const ifacePlaced = new Map<string, PlacedInterface>();
  let top = MARGIN;
  for (let c = 0; c < components; c++) {
    const members = drafts.filter((d) => component.get(d.name) === c);
    let bottom = top;
    for (let k = 0; k < cols; k++) {
      let y = top;
      for (const d of members.filter((m) => m.col === k).sort((a, b) => a.name.localeCompare(b.name))) {
        const sz = sizes.get(d.name)!;
        const bx = colX[k] + (colW[k] - sz.w) / 2;
        out.instances.push({ name: d.name, type: d.type, mode: d.mode, x: bx, y, w: sz.w, h: sz.h });
        const place = (key: string, px: number, py: number, side: Side) => {
          const p: PlacedPort = {
            instance: d.name,
            name: key.slice(d.name.length + 1),
            key,
            x: px,
            y: py,
            side,
          };
          portPos.set(key, p);
          out.ports.push(p);
        };
        d.left.forEach((p, i) => place(p, bx, y + SIDE_PORT_TOP + i * SIDE_PORT_STEP, "left"));
        d.right.forEach((p, i) => place(p, bx + sz.w, y + SIDE_PORT_TOP + i * SIDE_PORT_STEP, "right"));
        const step = sz.w / d.bottom.length;
        d.bottom.forEach((p, i) => {
          const px = bx + step * (i + 0.5);
          place(p, px, y + sz.h, "bottom");
          const peer = peerOf.get(p);
          if (peer?.kind === "interface" && !ifacePlaced.has(peer.name)) {
            const iy = y + sz.h + sz.below - IFACE_H;
            ifacePlaced.set(peer.name, {
              name: peer.name,
              exists: topo.nodes.find((n) => n.id === `interface:${peer.name}`)?.exists !== false,
              x: px - IFACE_W / 2,
              y: iy,
              w: IFACE_W,
              h: IFACE_H,
            });
          }
        });
        y += sz.h + sz.below + ROW_GAP;
      }
      bottom = Math.max(bottom, y);
    }
    top = bottom;
  }

  // Host interfaces no port links to, in a row at the bottom.
  const rest = topo.nodes.filter((n) => n.kind === "interface" && !ifacePlaced.has(n.name));
  const restTop =
    top + Math.max(0, ...rest.map((n) => stackDepth(n.name))) * STACK_STEP + (rest.length ? 10 : 0);
  rest.forEach((n, i) => {
    ifacePlaced.set(n.name, {
      name: n.name,
      exists: n.exists !== false,
      x: MARGIN + i * (IFACE_W + 30),
      y: restTop,
      w: IFACE_W,
      h: IFACE_H,
    });
  });
  out.interfaces = [...ifacePlaced.values()];
  if (rest.length) top = restTop + IFACE_H + ROW_GAP;

  // Links: port to interface straight down; port to port with an elbow between the columns.
  for (const [a, peer] of peerOf) {
    const pa = portPos.get(a);
    if (!pa) continue;
    if (peer.kind === "interface") {
      const i = ifacePlaced.get(peer.name);
      if (!i) continue;
      out.links.push({
        port: a,
        peer: peer.name,
        kind: "interface",
        points: [
          { x: pa.x, y: pa.y },
          { x: i.x + i.w / 2, y: i.y },
        ],
      });
    } else if (a < peer.name) {
      const pb = portPos.get(peer.name);
      if (!pb) continue;
      const [l, r] = pa.x <= pb.x ? [pa, pb] : [pb, pa];
      const mx = (l.x + r.x) / 2;
      out.links.push({
        port: a,
        peer: peer.name,
        kind: "port",
        points: [
          { x: l.x, y: l.y },
          { x: mx, y: l.y },
          { x: mx, y: r.y },
          { x: r.x, y: r.y },
        ],
      });
    }
  }

  // Stacks: on a bottom port they hang below it, on an interface they sit above it, on a side port
  // they hang below the port just outside the box; first in order nearest the target.
  for (const [target, list] of stacks) {
    const port = portPos.get(target);
    const iface = ifacePlaced.get(target);
    list.forEach((a, order) => {
      let cx: number;
      let cy: number;
      if (port && port.side === "bottom") {
        cx = port.x;
        cy = port.y + 30 + order * STACK_STEP;
      } else if (port) {
        cx = port.x + (port.side === "right" ? 1 : -1) * (STACK_W / 2 + 16);
        cy = port.y + 22 + order * STACK_STEP;
      } else if (iface) {
        cx = iface.x + iface.w / 2;
        cy = iface.y - 14 - STACK_H - order * STACK_STEP;
      } else return;
      out.stacked.push({
        name: a.node.name,
        type: a.node.type ?? "",
        target,
        direction: a.direction,
        order,
        x: cx - STACK_W / 2,
        y: cy,
        w: STACK_W,
        h: STACK_H,
      });
    });
  }
  detached.forEach((n, i) => {
    out.stacked.push({
      name: n.name,
      type: n.type ?? "",
      target: "",
      direction: "",
      order: 0,
      x: MARGIN + i * (STACK_W + 20),
      y: top,
      w: STACK_W,
      h: STACK_H,
    });
  });
  if (detached.length) top += STACK_H + ROW_GAP;

  const all: Box[] = [...out.instances, ...out.interfaces, ...out.stacked];
  // Room on the right for the rate labels beside the last links.
  out.width =
    Math.max(400, ...all.map((b) => b.x + b.w + (b.w === IFACE_W || b.w === STACK_W ? 120 : 0))) + MARGIN;
  out.height = Math.max(200, top, ...all.map((b) => b.y + b.h + MARGIN));
  return out;
}
