// A small time-series line chart in SVG: a few series over the last minutes, y from zero to a
// rounded maximum, labels at the ends. Enough for rates; no library needed.
import { s } from "./dom.js";

export interface Series {
  name: string;
  color: string;
  points: readonly { t: number; v: number }[];
}

const W = 360;
const H = 140;
const PAD = { l: 56, r: 8, t: 8, b: 18 };

/** 1, 2 or 5 times a power of ten, at least `v`. */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function lineChart(
  series: readonly Series[],
  format: (v: number) => string,
  spanMs = 120_000,
): SVGSVGElement {
  const now = Math.max(Date.now(), ...series.flatMap((x) => x.points.map((p) => p.t)));
  const from = now - spanMs;
  const max = niceMax(
    Math.max(0, ...series.flatMap((x) => x.points.filter((p) => p.t >= from).map((p) => p.v))),
  );
  const x = (t: number) => PAD.l + ((t - from) / spanMs) * (W - PAD.l - PAD.r);
  const y = (v: number) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const svg = s(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img" },
    s("line", { class: "axis", x1: PAD.l, y1: y(0), x2: W - PAD.r, y2: y(0) }),
    s("line", { class: "axis", x1: PAD.l, y1: y(max), x2: W - PAD.r, y2: y(max) }),
    s("line", { class: "axis", x1: PAD.l, y1: y(max / 2), x2: W - PAD.r, y2: y(max / 2) }),
    s("text", { x: PAD.l - 4, y: y(max) + 4, "text-anchor": "end" }, format(max)),
    s("text", { x: PAD.l - 4, y: y(max / 2) + 4, "text-anchor": "end" }, format(max / 2)),
    s("text", { x: PAD.l - 4, y: y(0) + 4, "text-anchor": "end" }, "0"),
    s("text", { x: PAD.l, y: H - 4 }, `-${Math.round(spanMs / 1000)} s`),
    s("text", { x: W - PAD.r, y: H - 4, "text-anchor": "end" }, "now"),
  );
  for (const ser of series) {
    const pts = ser.points.filter((p) => p.t >= from);
    if (pts.length < 2) continue;
    svg.append(
      s("polyline", {
        "data-series": ser.name,
        stroke: ser.color,
        points: pts.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" "),
      }),
    );
  }
  return svg;
}
