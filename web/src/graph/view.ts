// Draws a Layout as SVG and keeps its numbers live: every link shows the packet and bit rate of
// its port, links and instances that drop packets turn red. Elements carry data- attributes
// (data-node, data-link...) that tests and styles select on.
import type { CounterSnapshot, Rates } from "../live/counters.js";
import { s } from "../ui/dom.js";
import { bps, count, pps } from "../ui/format.js";
import type { Layout, PlacedLink } from "./layout.js";

export interface GraphView {
  svg: SVGSVGElement;
  update(snap: CounterSnapshot): void;
}

const go = (name: string) => (ev: Event) => {
  if (ev instanceof KeyboardEvent && ev.key !== "Enter") return;
  location.hash = `#/instance/${encodeURIComponent(name)}`;
};

function labelAnchor(l: PlacedLink, stacked: boolean): { x: number; y: number; anchor: string } {
  const [a, b] = [l.points[0], l.points[l.points.length - 1]];
  if (l.kind === "interface") return { x: a.x + (stacked ? 73 : 8), y: (a.y + b.y) / 2 - 4, anchor: "start" };
  // Above the middle of the horizontal run (the first one, from the left port).
  const m = l.points[1];
  return { x: (a.x + m.x) / 2, y: a.y - 20, anchor: "middle" };
}

const totalPps = (r: Rates) => r.rxPps + r.txPps;
const totalBps = (r: Rates) => r.rxBps + r.txBps;

export function drawGraph(layout: Layout): GraphView {
  const svg = s("svg", {
    class: "graph",
    viewBox: `0 0 ${layout.width} ${layout.height}`,
    width: layout.width,
    height: layout.height,
    role: "img",
    "aria-label": "topology",
  });
  // Shrinks to fit the panel down to 70 %; a larger topology scrolls instead of getting unreadable.
  svg.style.minWidth = `${Math.round(layout.width * 0.7)}px`;
  const stackedTargets = new Set(layout.stacked.map((x) => x.target));
  const linkViews: {
    port: string;
    /** Transparent instances on this link (on its port or its interface): their drops are the link's. */
    stacked: string[];
    g: SVGGElement;
    rate: SVGTextElement;
    bits: SVGTextElement;
    dropped: SVGTextElement;
  }[] = [];

  for (const l of layout.links) {
    const at = labelAnchor(l, stackedTargets.has(l.port) || stackedTargets.has(l.peer));
    const rate = s("text", { class: "rate", x: at.x, y: at.y, "text-anchor": at.anchor }, "–");
    const bits = s("text", { class: "rate bits", x: at.x, y: at.y + 14, "text-anchor": at.anchor }, "");
    const dropped = s("text", { class: "rate dropped", x: at.x, y: at.y + 28, "text-anchor": at.anchor }, "");
    const g = s(
      "g",
      {
        class: "link",
        "data-link": `${l.port}|${l.peer}`,
        "data-port": l.port,
        "data-peer": l.peer,
        "data-kind": l.kind,
      },
      s("polyline", { points: l.points.map((p) => `${p.x},${p.y}`).join(" ") }),
      rate,
      bits,
      dropped,
    );
    svg.append(g);
    const on = layout.stacked.filter((t) => t.target === l.port || t.target === l.peer).map((t) => t.name);
    linkViews.push({ port: l.port, stacked: on, g, rate, bits, dropped });
  }

  const instViews = new Map<string, { g: SVGGElement; drops: SVGTextElement }>();
  for (const i of layout.instances) {
    const drops = s("text", { class: "drops", x: i.x + i.w - 10, y: i.y + 20, "text-anchor": "end" }, "");
    const g = s(
      "g",
      {
        class: "instance",
        "data-node": "instance",
        "data-name": i.name,
        "data-type": i.type,
        tabindex: 0,
        role: "link",
        onclick: go(i.name),
        onkeydown: go(i.name),
      },
      s("rect", { x: i.x, y: i.y, width: i.w, height: i.h, rx: 8 }),
      s("text", { class: "title", x: i.x + 12, y: i.y + 22 }, i.name),
      s("text", { class: "sub", x: i.x + 12, y: i.y + 40 }, `${i.type} · ${i.mode}`),
      drops,
    );
    svg.append(g);
    instViews.set(i.name, { g, drops });
  }

  for (const p of layout.ports) {
    const label =
      p.side === "bottom"
        ? { x: p.x, y: p.y - 12, anchor: "middle" }
        : p.side === "left"
          ? { x: p.x + 12, y: p.y + 4, anchor: "start" }
          : { x: p.x - 12, y: p.y + 4, anchor: "end" };
    svg.append(
      s(
        "g",
        {
          class: "port",
          "data-node": "port",
          "data-instance": p.instance,
          "data-name": p.name,
          "data-side": p.side,
        },
        s("circle", { cx: p.x, cy: p.y, r: 6 }),
        s("text", { x: label.x, y: label.y, "text-anchor": label.anchor }, p.name),
      ),
    );
  }

  for (const i of layout.interfaces)
    svg.append(
      s(
        "g",
        { class: `iface${i.exists ? "" : " missing"}`, "data-node": "interface", "data-name": i.name },
        s("rect", { x: i.x, y: i.y, width: i.w, height: i.h, rx: 4 }),
        s("text", { x: i.x + i.w / 2, y: i.y + 22, "text-anchor": "middle" }, i.name),
      ),
    );

  const stackViews = new Map<string, { g: SVGGElement; rate: SVGTextElement }>();
  for (const t of layout.stacked) {
    const rate = s("text", { class: "rate small", x: t.x + t.w - 6, y: t.y + 18, "text-anchor": "end" }, "");
    const g = s(
      "g",
      {
        class: "stacked",
        "data-node": "stacked",
        "data-name": t.name,
        "data-type": t.type,
        "data-target": t.target,
        "data-direction": t.direction,
        "data-order": t.order,
        tabindex: 0,
        role: "link",
        onclick: go(t.name),
        onkeydown: go(t.name),
      },
      s("rect", { x: t.x, y: t.y, width: t.w, height: t.h, rx: 14 }),
      s("text", { class: "title", x: t.x + 10, y: t.y + 18 }, t.name),
      s("title", {}, `${t.name} (${t.type}) ${t.direction} on ${t.target || "nothing"}, #${t.order + 1}`),
      rate,
    );
    svg.append(g);
    stackViews.set(t.name, { g, rate });
  }

  return {
    svg,
    update(snap) {
      for (const v of linkViews) {
        const r = snap.rates.get(v.port);
        if (!r) continue;
        const drops = v.stacked.reduce((a, n) => a + (snap.instanceDropsPs.get(n) ?? 0), r.dropsPs);
        v.g.dataset.pps = totalPps(r).toFixed(1);
        v.g.dataset.dropsPs = drops.toFixed(1);
        v.g.classList.toggle("active", totalPps(r) > 0);
        v.g.classList.toggle("dropping", drops > 0);
        v.rate.textContent = pps(totalPps(r));
        v.dropped.textContent = drops > 0 ? `${pps(drops)} dropped` : "";
        v.bits.textContent = bps(totalBps(r));
      }
      for (const inst of snap.instances) {
        const total = Object.values(inst.drops).reduce((a, n) => a + n, 0);
        const rate = snap.instanceDropsPs.get(inst.name) ?? 0;
        const iv = instViews.get(inst.name);
        if (iv) {
          iv.g.dataset.drops = String(total);
          iv.g.classList.toggle("dropping", rate > 0);
          iv.drops.textContent = total ? `${count(total)} dropped` : "";
        }
        const sv = stackViews.get(inst.name);
        if (sv) {
          const r = snap.rates.get(inst.name);
          sv.g.dataset.drops = String(total);
          sv.g.classList.toggle("dropping", rate > 0);
          sv.rate.textContent = `${sv.g.dataset.direction === "egress" ? "out" : "in"}${r ? ` · ${pps(totalPps(r))}` : ""}`;
        }
      }
    },
  };
}
