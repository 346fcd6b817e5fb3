// Desired state -> framework tables, without the kernel.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ValidationError } from "../../src/core/errors.js";
import { emptyState, type DesiredState, type InstanceState } from "../../src/core/state.js";
import { computeTables } from "../../src/core/topology.js";

const IFINDEX: Record<string, number> = { eth0: 10, eth1: 11, eth2: 12, pxl0a: 20, pxl0b: 21 };
const env = { ifindex: (n: string) => IFINDEX[n] };

function instance(
  slot: number,
  mode: InstanceState["mode"],
  ports: InstanceState["ports"] = {},
): InstanceState {
  return { type: "t", version: "1.0.0", mode, config: {}, ports, tables: {}, slot };
}

function twoBridgesOneRouter(modeR: InstanceState["mode"] = "tc"): DesiredState {
  const s = emptyState();
  s.instances.br0 = instance(1, "tc", {
    p0: { index: 0, peer: { iface: "eth0" }, config: {} },
    p1: { index: 1, peer: { instance: "r1", port: "west" }, config: {}, link: 0 },
    p2: { index: 2, config: {} },
  });
  s.instances.r1 = instance(2, modeR, {
    west: { index: 0, peer: { instance: "br0", port: "p1" }, config: {}, link: 0 },
    east: { index: 3, peer: { iface: "eth1" }, config: {} },
  });
  return s;
}

describe("computeTables", () => {
  test("ports lead to their peers: interfaces by redirect, instances by tail call", () => {
    const t = computeTables(twoBridgesOneRouter(), env);
    assert.deepEqual(t.ports.get(1 * 128 + 0), { kind: "iface", ifindex: 10 });
    // br0:p1 < r1:west, so br0 owns side a of link 0.
    assert.deepEqual(t.ports.get(1 * 128 + 1), { kind: "slot", slot: 2, port: 0, ifindex: 20 });
    assert.deepEqual(t.ports.get(1 * 128 + 2), { kind: "drop" });
    assert.deepEqual(t.ports.get(2 * 128 + 0), { kind: "slot", slot: 1, port: 1, ifindex: 21 });
    assert.deepEqual(t.ports.get(2 * 128 + 3), { kind: "iface", ifindex: 11 });
    assert.equal(t.floodIfindex.get("br0/p1"), 20);
  });

  test("interfaces enter their port; link veths enter the port on their side", () => {
    const t = computeTables(twoBridgesOneRouter(), env);
    assert.deepEqual(t.ifaces.get("10/0")?.hop, { kind: "slot", slot: 1, port: 0, ifindex: 0 });
    assert.deepEqual(t.ifaces.get("11/0")?.hop, { kind: "slot", slot: 2, port: 3, ifindex: 0 });
    // What br0 sends into pxl0a comes out of pxl0b and enters r1:west, and the other way round.
    assert.deepEqual(t.ifaces.get("21/0")?.hop, { kind: "slot", slot: 2, port: 0, ifindex: 0 });
    assert.deepEqual(t.ifaces.get("20/0")?.hop, { kind: "slot", slot: 1, port: 1, ifindex: 0 });
    assert.deepEqual(t.stubs.get(10), { tcIngress: true });
  });

  test("an XDP instance linked to a TC one goes through the link veth, with stubs of each hook", () => {
    const t = computeTables(twoBridgesOneRouter("xdp-generic"), env);
    assert.deepEqual(t.ports.get(1 * 128 + 1), { kind: "iface", ifindex: 20 });
    assert.deepEqual(t.ports.get(2 * 128 + 0), { kind: "iface", ifindex: 21 });
    assert.deepEqual(t.stubs.get(21), { xdp: "generic" });
    assert.deepEqual(t.stubs.get(20), { tcIngress: true });
    assert.deepEqual(t.stubs.get(11), { xdp: "generic" });
  });

  test("transparent instances chain in position order at ports and interfaces", () => {
    const s = twoBridgesOneRouter();
    s.instances.fw1 = {
      ...instance(5, "tc"),
      attachment: { target: { instance: "br0", port: "p0" }, direction: "ingress", position: 2 },
    };
    s.instances.fw2 = {
      ...instance(6, "tc"),
      attachment: { target: { instance: "br0", port: "p0" }, direction: "ingress", position: 1 },
    };
    s.instances.cap = {
      ...instance(7, "tc"),
      attachment: { target: { iface: "eth0" }, direction: "ingress", position: 0 },
    };
    s.instances.out = {
      ...instance(8, "tc"),
      attachment: { target: { instance: "br0", port: "p1" }, direction: "egress", position: 0 },
    };
    s.instances.eg = {
      ...instance(9, "tc"),
      attachment: { target: { iface: "eth2" }, direction: "egress", position: 0 },
    };
    const t = computeTables(s, env);
    // eth0 ingress: cap (interface) -> fw2 -> fw1 (port, by position) -> br0:p0
    assert.deepEqual(t.ifaces.get("10/0")?.hop, { kind: "slot", slot: 7, port: 0, ifindex: 0 });
    assert.deepEqual(t.after.get(7), { kind: "slot", slot: 6, port: 0, ifindex: 0 });
    assert.deepEqual(t.after.get(6), { kind: "slot", slot: 5, port: 0, ifindex: 0 });
    assert.deepEqual(t.after.get(5), { kind: "slot", slot: 1, port: 0, ifindex: 0 });
    // br0:p1 egress runs `out` before entering r1:west; flooded copies still use the link veth.
    assert.deepEqual(t.ports.get(1 * 128 + 1), { kind: "slot", slot: 8, port: 0, ifindex: 20 });
    assert.deepEqual(t.after.get(8), { kind: "slot", slot: 2, port: 0, ifindex: 0 });
    // An egress attachment on an interface no port uses: TC egress stub, then the wire.
    assert.deepEqual(t.ifaces.get("12/1")?.hop, { kind: "slot", slot: 9, port: 0, ifindex: 0 });
    assert.deepEqual(t.after.get(9), { kind: "pass" });
    assert.deepEqual(t.stubs.get(12), { tcEgress: true });
  });

  test("mixing hooks in one tail-call chain is refused with the reason", () => {
    const s = twoBridgesOneRouter();
    s.instances.fw = {
      ...instance(5, "xdp"),
      attachment: { target: { instance: "br0", port: "p0" }, direction: "ingress", position: 0 },
    };
    assert.throws(
      () => computeTables(s, env),
      (e: unknown) =>
        e instanceof ValidationError && /fw \(xdp\), br0 \(tc\).*same hook mode/.test(e.message),
    );
  });

  test("a port's egress chain runs after the instance itself, so it must share its hook", () => {
    const s = twoBridgesOneRouter();
    s.instances.r1.mode = "xdp";
    s.instances.fw = {
      ...instance(5, "tc"),
      attachment: { target: { instance: "r1", port: "east" }, direction: "egress", position: 0 },
    };
    assert.throws(() => computeTables(s, env), /r1 \(xdp\), fw \(tc\).*same hook mode/);
  });

  test("XDP instances cannot act on egress", () => {
    const s = twoBridgesOneRouter();
    s.instances.eg = {
      ...instance(9, "xdp"),
      attachment: { target: { iface: "eth2" }, direction: "egress", position: 0 },
    };
    assert.throws(() => computeTables(s, env), /XDP has no egress hook/);
  });

  test("a missing interface is named", () => {
    const s = twoBridgesOneRouter();
    s.instances.br0.ports.p2.peer = { iface: "nope0" };
    assert.throws(() => computeTables(s, env), /interface 'nope0' does not exist/);
  });
});
