// The pieces of the observability commands that need no kernel: the program-statistics switch
// (reference count with a linger), `plexus top`'s frame (order, colours, marks) and the assembly of
// trace records into per-packet paths.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StatsJson } from "../../src/api/routes/stats.js";
import type { TraceHopJson } from "../../src/api/routes/traces.js";
import { ProgramStatsSwitch } from "../../src/core/stats/program-stats.js";
import { renderTop, si } from "../../src/cli/top/render.js";
import { PathAssembler, describePacket, type TracedPacket } from "../../src/cli/trace/paths.js";
import { sleep } from "./lab.js";

describe("program statistics switch", () => {
  const fake = () => {
    const state = { opened: 0, closed: 0 };
    const open = () => {
      state.opened++;
      return { close: () => void state.closed++ };
    };
    return { state, open };
  };

  test("a look switches statistics on; they go off a linger after the last look", async () => {
    const f = fake();
    const s = new ProgramStatsSwitch(150, f.open);
    assert.equal(s.enabled, false);
    s.touch();
    s.touch();
    assert.equal(s.enabled, true);
    assert.equal(f.state.opened, 1, "one BPF_ENABLE_STATS fd for any number of looks");
    await sleep(100);
    s.touch(); // extends the linger
    await sleep(100);
    assert.equal(s.enabled, true);
    await sleep(150);
    assert.equal(s.enabled, false);
    assert.deepEqual(f.state, { opened: 1, closed: 1 });
  });

  test("holders keep statistics on past the linger; the last release starts it", async () => {
    const f = fake();
    const s = new ProgramStatsSwitch(50, f.open);
    const a = s.hold();
    const b = s.hold();
    await sleep(120);
    assert.equal(s.enabled, true);
    a();
    a(); // idempotent
    await sleep(120);
    assert.equal(s.enabled, true, "b still holds");
    b();
    assert.equal(s.enabled, true, "on for the linger after the last release");
    await sleep(120);
    assert.equal(s.enabled, false);
    s.close();
    assert.equal(f.state.closed, 1);
  });
});

const rate = (packets: number, drops = 0) => ({ packets, bytes: packets * 100, drops });
const tr = (packets: number, drops = 0) => ({ packets, bytes: packets * 100, drops });

function stats(): StatsJson {
  const inst = (name: string, pps: number, dropPps: number, drops: number) => ({
    name,
    type: "bridge",
    version: "1.0.0",
    mode: "xdp",
    kind: "standard" as const,
    rx: tr(1000, drops),
    tx: tr(900),
    rxRate: rate(pps, dropPps),
    txRate: rate(pps),
    drops: (drops ? { port_down: drops } : {}) as Record<string, number>,
    ports: [
      { name: "quiet", index: 0, rx: tr(1), tx: tr(1), rxRate: rate(1), txRate: rate(0) },
      {
        name: "busy",
        index: 1,
        peer: "eth1",
        rx: tr(999, drops),
        tx: tr(899),
        rxRate: rate(pps - 1, dropPps),
        txRate: rate(pps),
      },
    ],
    tables: [],
  });
  return {
    time: "2026-11-26T12:00:00.000Z",
    intervalMs: 1000,
    programStats: true,
    instances: [inst("slow", 10, 0, 5), inst("fast", 2_000_000, 300, 7), inst("calm", 50, 0, 0)],
    links: [],
    programs: [{ program: "px_entry", hook: "xdp", runs: 1000, runTimeNs: 50_000, runsPerSecond: 2_000_000 }],
  };
}

describe("plexus top frame", () => {
  test("instances and their ports sorted by packet rate; numbers with SI prefixes", () => {
    const lines = renderTop(stats(), { color: false });
    const names = lines.filter((l) => /^\S/.test(l) && /bridge/.test(l)).map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(names, ["fast", "calm", "slow"]);
    const fast = lines.findIndex((l) => l.startsWith("fast"));
    assert.match(lines[fast + 1], /^ {2}busy\s+-> eth1/);
    assert.match(lines[fast + 2], /^ {2}quiet\s+\(no peer\)/);
    assert.match(lines[fast], /\s2\.00M\s+2\.00M\s+1\.60Gb\/s/);
    assert.match(lines[1], /data plane: 2\.00M runs\/s, 50 ns\/run/);
    assert.equal(si(1234), "1.23k");
    assert.equal(si(0.5), "0.50");
  });

  test("without colour, drops happening now are marked with '!'; with colour they are red, past drops yellow", () => {
    const plain = renderTop(stats(), { color: false });
    assert.ok(plain.find((l) => l.startsWith("fast"))?.endsWith("!"));
    assert.ok(!plain.find((l) => l.startsWith("slow"))?.endsWith("!"), "past drops are not marked");
    assert.ok(plain.every((l) => !l.includes("\x1b[")));
    const coloured = renderTop(stats(), { color: true });
    assert.ok(coloured.find((l) => l.includes("fast"))?.startsWith("\x1b[1;31m"));
    assert.ok(coloured.find((l) => l.includes("slow"))?.startsWith("\x1b[33m"));
    assert.ok(renderTop(stats(), { color: false, width: 20 }).every((l) => l.length <= 20));
  });
});

describe("trace paths", () => {
  const hop = (point: string, extra: Partial<TraceHopJson> = {}): TraceHopJson => ({
    point,
    length: 98,
    timeNs: "1000000",
    traceId: 1,
    cpu: 0,
    hops: 0,
    ...extra,
  });

  test("records of interleaved packets become one path each, whole at the step that ends them", () => {
    const done: TracedPacket[] = [];
    const a = new PathAssembler((p) => done.push(p));
    a.add(hop("enter", { traceId: 9 })); // the rest of a packet whose start came before: ignored
    a.add(hop("start", { instance: "capture-1-in", attachedTo: "eth0 ingress" }));
    a.add(hop("start", { instance: "capture-1-in", attachedTo: "eth0 ingress", cpu: 1 }));
    a.add(hop("next", { instance: "capture-1-in" }));
    a.add(hop("enter", { instance: "br0", port: "p0", timeNs: "1002500", cpu: 1 }));
    a.add(hop("drop", { instance: "br0", port: "p0", reason: "no_destination", cpu: 1, timeNs: "1003000" }));
    a.add(hop("enter", { instance: "br0", port: "p0" }));
    assert.equal(done.length, 1);
    a.add(hop("tx", { instance: "br0", port: "p1" }));
    a.add(hop("iface", { instance: "br0", iface: "eth1", type: "bridge 1.0.0" }));
    assert.equal(done.length, 2);
    assert.deepEqual(
      done[1].hops.map((h) => h.point),
      ["start", "next", "enter", "tx", "iface"],
    );
    const text = describePacket(done[0], 1, 0n);
    assert.match(text[0], /^packet 1: 98 bytes at eth0, \d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal(text.length, 3, "the tracer's own start is the header");
    assert.match(text[1], /^ {2}\+2\.5 us\s+br0\s+p0\s+enter/);
    assert.match(text[2], /\+3\.0 us\s+br0\s+p0\s+DROP \(no_destination\)/);
    assert.match(describePacket(done[1], 2, 0n).at(-1) ?? "", /br0\s+-\s+out of eth1\s+bridge 1\.0\.0$/);
  });
});
