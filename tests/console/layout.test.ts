// The console's graph layout (web/src/graph/layout.ts, plain TypeScript without the DOM) on a
// chain host - bridge - router - bridge - host with transparent instances on a side port and on
// an interface, an unlinked interface and a detached transparent instance.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { layoutTopology, type Box, type Layout } from "../../web/src/graph/layout.js";
import type { TopologyJson } from "../../web/src/types.js";

function chain(): TopologyJson {
  const nodes: TopologyJson["nodes"] = [];
  const edges: TopologyJson["edges"] = [];
  const inst = (name: string, type: string, nfKind = "standard") =>
    nodes.push({ id: `instance:${name}`, kind: "instance", name, type, mode: "tc", nfKind });
  const port = (instance: string, name: string) => {
    nodes.push({ id: `port:${instance}:${name}`, kind: "port", name, instance });
    edges.push({ from: `instance:${instance}`, to: `port:${instance}:${name}`, kind: "port" });
  };
  const link = (from: string, to: string) => edges.push({ from, to, kind: "link" });
  const attach = (name: string, to: string, position: number, direction = "ingress") =>
    edges.push({ from: `instance:${name}`, to, kind: "attachment", direction, position });
  inst("br1", "bridge");
  inst("br2", "bridge");
  inst("r1", "router");
  for (const n of ["capa", "fwa", "fwb", "idle"]) inst(n, "firewall", "transparent");
  port("br1", "h0");
  port("br1", "up");
  port("br2", "up");
  port("br2", "h1");
  port("r1", "west");
  port("r1", "east");
  link("port:br1:h0", "interface:veth0");
  link("port:br1:up", "port:r1:west");
  link("port:br2:up", "port:r1:east");
  link("port:br2:h1", "interface:veth1");
  attach("capa", "port:r1:west", 1);
  attach("fwb", "interface:veth1", 7, "egress");
  attach("fwa", "interface:veth1", 3);
  for (const i of ["veth0", "veth1", "eth9"])
    nodes.push({ id: `interface:${i}`, kind: "interface", name: i, exists: true });
  return { nodes, edges };
}

const overlap = (a: Box, b: Box) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

describe("graph layout", () => {
  const l: Layout = layoutTopology(chain());
  const inst = (n: string) => l.instances.find((i) => i.name === n)!;
  const port = (k: string) => l.ports.find((p) => p.key === k)!;
  const iface = (n: string) => l.interfaces.find((i) => i.name === n)!;
  const stacked = (n: string) => l.stacked.find((s) => s.name === n)!;

  test("a chain reads left to right, ports on the side that faces their peer", () => {
    assert.ok(inst("br1").x < inst("r1").x && inst("r1").x < inst("br2").x);
    assert.equal(port("r1:west").side, "left");
    assert.equal(port("r1:east").side, "right");
    assert.equal(port("br1:up").side, "right");
    assert.equal(port("br2:up").side, "left");
    assert.equal(port("br1:h0").side, "bottom");
    assert.ok(iface("veth0").y > inst("br1").y + inst("br1").h, "the host interface hangs below");
  });

  test("every link joins its two ends", () => {
    assert.equal(l.links.length, 4);
    for (const k of l.links) {
      const a = k.points[0];
      const b = k.points[k.points.length - 1];
      const p = port(k.port);
      if (k.kind === "interface") {
        const i = iface(k.peer);
        assert.deepEqual(a, { x: p.x, y: p.y });
        assert.deepEqual(b, { x: i.x + i.w / 2, y: i.y });
      } else {
        const q = port(k.peer);
        const ends = [a, b].map((e) => `${e.x},${e.y}`).sort();
        assert.deepEqual(ends, [`${p.x},${p.y}`, `${q.x},${q.y}`].sort());
      }
    }
  });

  test("transparent instances stack in their order at their target; the rest have a place", () => {
    assert.equal(stacked("fwa").order, 0);
    assert.equal(stacked("fwb").order, 1);
    assert.equal(stacked("fwb").direction, "egress");
    assert.equal(stacked("fwa").target, "veth1");
    assert.ok(stacked("fwa").y + stacked("fwa").h <= iface("veth1").y, "above the interface");
    assert.ok(stacked("fwb").y < stacked("fwa").y, "the later one further from the interface");
    assert.ok(stacked("fwb").y > port("br2:h1").y, "below the port");
    assert.equal(stacked("capa").target, "r1:west");
    assert.equal(stacked("idle").target, "");
    assert.ok(iface("eth9"), "an interface no port uses is drawn too");
  });

  test("nothing overlaps and everything is inside the drawing", () => {
    const boxes: [string, Box][] = [
      ...l.instances.map((b): [string, Box] => [b.name, b]),
      ...l.interfaces.map((b): [string, Box] => [b.name, b]),
      ...l.stacked.map((b): [string, Box] => [b.name, b]),
    ];
    for (const [i, [na, a]] of boxes.entries()) {
      assert.ok(a.x >= 0 && a.y >= 0 && a.x + a.w <= l.width && a.y + a.h <= l.height, `${na} inside`);
      for (const [nb, b] of boxes.slice(i + 1)) assert.ok(!overlap(a, b), `${na} and ${nb} overlap`);
    }
  });
});
