// What the daemon watches and records as events, with the kernel: a table that fills up and
// empties again (table.full, table.recovered), a port whose interface disappears and comes back
// (port.health), an upgrade the verifier refuses (instance.upgrade_failed); and the kernel's
// program statistics while someone looks.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { buildNfPackage } from "../../src/build/build-nf.js";
import { projectRoot } from "../../src/build/compile-bpf.js";
import type { PlexusEvent } from "../../src/core/events.js";
import { ipBatch, ping } from "../../src/testbed/netns.js";
import { rejectObject } from "../api/packages.js";
import { startObsLab, type ObsLab } from "./lab.js";

describe("watched changes and program statistics", () => {
  let lab: ObsLab;
  let pkgDir: string;
  const since = (seq: number, kind: string): PlexusEvent[] =>
    lab.hv.events.list(seq).filter((e) => e.kind === kind);
  const lastSeq = () => lab.hv.events.list().at(-1)?.seq ?? 0;

  before(async () => {
    pkgDir = mkdtempSync(join(tmpdir(), "px-obs-nf-"));
    cpSync(join(projectRoot, "tests", "fixtures", "obs_tiny"), pkgDir, { recursive: true });
    await buildNfPackage(pkgDir);
    lab = await startObsLab([
      { ipv4: "198.18.0.1", ipv6: "fd00::1" },
      { ipv4: "198.18.0.2", ipv6: "fd00::2" },
    ]);
    await lab.hv.installType(pkgDir);
  });
  after(async () => {
    await lab?.cleanup();
    rmSync(pkgDir, { recursive: true, force: true });
  });

  test("a table that fills up is an event (table.full), and so is its recovery", async () => {
    const { hv } = lab;
    await hv.createInstance({ name: "t0", type: "obs-tiny" });
    try {
      const seq = lastSeq();
      await hv.tableAddMany(
        "t0",
        "marks",
        [1, 2, 3].map((a) => ({ addr: a, mark: 7 })),
      );
      assert.deepEqual(hv.stats.tableUsage("t0", true), [{ table: "marks", entries: 3, capacity: 4 }]);
      assert.equal(since(seq, "table.full").length, 0, "3 of 4 is not full");
      await hv.tableAdd("t0", "marks", { addr: 4, mark: 7 });
      hv.stats.tableUsage("t0", true); // what the sampling timer does every few seconds
      hv.stats.tableUsage("t0", true);
      const full = since(seq, "table.full");
      assert.equal(full.length, 1, "once, not at every sample");
      assert.equal(full[0].instance, "t0");
      assert.match(full[0].message, /t0 marks is full \(4 of 4 entries\)/);
      assert.deepEqual(full[0].data, { table: "marks", entries: 4, capacity: 4 });
      // A fifth entry is refused by the kernel (E2BIG), as the event said it would be.
      await assert.rejects(hv.tableAdd("t0", "marks", { addr: 5, mark: 7 }));

      // Below 90% of its capacity it has room again (a table hovering at the brim is not news).
      await hv.tableDelete("t0", "marks", { addr: 1 });
      hv.stats.tableUsage("t0", true);
      hv.stats.tableUsage("t0", true);
      const back = since(seq, "table.recovered");
      assert.equal(back.length, 1);
      assert.match(back[0].message, /t0 marks has room again \(3 of 4 entries\)/);
      // /metrics and /v1/stats report the usage.
      const t0 = await lab.instance("t0");
      assert.deepEqual(t0.tables, [{ table: "marks", entries: 3, capacity: 4 }]);
    } finally {
      await hv.deleteInstance("t0");
    }
  });

  test("a port whose interface goes away, and comes back, is an event (port.health)", async () => {
    const { hv, net } = lab;
    await ipBatch(net.dut, ["link add pxobsa type veth peer name pxobsb"]);
    try {
      await hv.createInstance({ name: "t1", type: "obs-tiny", ports: [{ name: "a", peer: "pxobsa" }] });
      const seq = lastSeq();
      hv.stats.tick();
      assert.equal(since(seq, "port.health").length, 0, "healthy: nothing to say");
      await ipBatch(net.dut, ["link del pxobsa"]);
      hv.stats.tick();
      hv.stats.tick();
      let h = since(seq, "port.health");
      assert.equal(h.length, 1, JSON.stringify(h));
      assert.match(h[0].message, /t1:a: interface pxobsa is gone; the port is down/);
      assert.deepEqual(h[0].data, { port: "a", iface: "pxobsa", healthy: false });
      await ipBatch(net.dut, ["link add pxobsa type veth peer name pxobsb"]);
      hv.stats.tick();
      h = since(seq, "port.health");
      assert.equal(h.length, 2);
      assert.deepEqual(h[1].data, { port: "a", iface: "pxobsa", healthy: true });
    } finally {
      await hv.deleteInstance("t1").catch(() => undefined);
      await ipBatch(net.dut, ["link del pxobsa"]).catch(() => undefined);
    }
  });

  test("an upgrade the verifier refuses is an event; the instance keeps running its code", async () => {
    const { hv } = lab;
    await hv.createInstance({ name: "t2", type: "obs-tiny" });
    try {
      const seq = lastSeq();
      await assert.rejects(hv.upgrade("t2", { object: await rejectObject("tc") }));
      const failed = since(seq, "instance.upgrade_failed");
      assert.equal(failed.length, 1);
      assert.equal(failed[0].instance, "t2");
      assert.match(failed[0].message, /upgrading t2 failed; it runs its old code/);
      assert.equal(since(seq, "instance.upgraded").length, 0);
    } finally {
      await hv.deleteInstance("t2");
    }
  });

  test("program statistics: on while someone looks; the entry stub counts every packet it took in", async () => {
    const { hv, net } = lab;
    const [h0, h1] = net.hosts;
    await hv.createInstance({
      name: "t3",
      type: "obs-tiny",
      ports: [
        { name: "a", peer: h0.dutIfname },
        { name: "b", peer: h1.dutIfname },
      ],
    });
    try {
      const first = await lab.stats(); // a look: switches statistics on
      assert.equal(hv.stats.programStats.enabled, true);
      const stub = (s: typeof first) => s.programs.find((p) => p.program === "px_entry" && p.hook === "tc");
      assert.ok(stub(first), JSON.stringify(first.programs));
      assert.ok(first.programs.some((p) => p.instance === "t3" && p.program === "obs_tiny"));
      const r = await ping(h0.ns, h1.ipv4, { count: 10, interval: 0.02, wait: 1 });
      assert.equal(r.received, 10, r.output);
      const second = await lab.stats();
      const runs = (stub(second)?.runs ?? 0) - (stub(first)?.runs ?? 0);
      // 10 requests and 10 replies enter through the stub (ARP too, unless cached).
      assert.ok(runs >= 20, `stub ran ${runs} times`);
      assert.ok((stub(second)?.runTimeNs ?? 0) > (stub(first)?.runTimeNs ?? 0));
      // The kernel counts a run where a program is entered from its hook: the instance, reached by
      // tail call, is counted in the stub (which is why metrics carry the stub's figures).
      const inst = second.programs.find((p) => p.instance === "t3" && p.program === "obs_tiny");
      assert.equal(inst?.runs, 0, JSON.stringify(inst));
      const metrics = (await lab.get("/metrics")).body;
      assert.match(metrics, /^plexus_program_stats_enabled 1$/m);
      assert.match(metrics, /^plexus_program_runs_total\{instance="",program="px_entry",hook="tc"\} \d+$/m);
    } finally {
      await hv.deleteInstance("t3");
    }
  });
});
