// `plexus capture` at a host interface and from a standing capture instance, against a real
// daemon: 802.1Q tags (kept beside the packet by the stack in tc, in the frame in xdp) appear in
// place, as tcpdump shows them, and the filter sees them; bad requests are refused with what was
// wrong and leave nothing behind; a capture instance is configured through the instance API and
// streamed with --instance; Ctrl-C ends a capture with tcpdump's counters.
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { exec, run, withNetns } from "../../../src/testbed/netns.js";
import { PacketSocket } from "../../../src/vm/io/afpacket.js";
import { readPcap } from "../../../src/vm/io/pcap.js";
import { refused } from "../../api/lab.js";
import { BCAST, arp, eth } from "./corpus.js";
import { CaptureLab, NOBODY, pcapFrames, sleep, until } from "./lab.js";

describe("plexus capture at interfaces and instances", () => {
  let c: CaptureLab;
  before(async () => {
    c = await CaptureLab.start();
  });
  after(async () => c?.cleanup());

  for (const mode of ["tc", "xdp"] as const) {
    test(`${mode}: 802.1Q-tagged frames are recorded with the tag in place, and the filter sees it`, async () => {
      const h = c.lab.net.hosts[0];
      const tagged = (vid: number, i: number) =>
        eth(0x0806, arp(1, `198.19.${vid}.${i}`, `198.19.${vid}.200`), { dst: BCAST, tags: [[0x8100, vid]] });
      const frames = [tagged(10, 1), tagged(20, 2), tagged(10, 3), tagged(10, 4)];
      const ours = c.file(`vlan-${mode}.pcap`);
      const cap = c.pxStart(
        "capture",
        c.lab.iface(0),
        "-Q",
        "in",
        "--mode",
        mode,
        "-c",
        "3",
        "-w",
        ours,
        "vlan 10 and arp",
      );
      await c.captureRunning(cap);
      const sock = withNetns(h.ns, () => new PacketSocket(h.ifname));
      try {
        for (const f of frames) assert.ok(sock.send(f));
      } finally {
        sock.close();
      }
      assert.equal(await cap.exited, 0, cap.stderr());
      // The stack had the tag beside the packet in tc (vlan_present); the capture shows it in place.
      const want = [frames[0], frames[2], frames[3]].map((f) => f.toString("hex")).sort();
      assert.deepEqual(pcapFrames(ours), want);
      const shown = await run("tcpdump", ["-n", "-e", "-r", ours]);
      assert.match(
        shown.stdout,
        /vlan 10, p 0, ethertype ARP .*Request who-has 198\.19\.10\.200 tell 198\.19\.10\.1/,
      );
    });
  }

  test("bad requests are refused with what was wrong, and leave nothing behind", async () => {
    await c.lab.api.post("/v1/instances", {
      name: "br0",
      type: "bridge",
      ports: [{ name: "p0", peer: c.lab.iface(0) }],
    });
    try {
      const api = c.lab.api;
      const capture = (body: Record<string, unknown>) => api.post("/v1/captures", body);
      await refused(
        capture({ target: "br0:p0", filter: "tcp port eighty" }),
        422,
        /^filter 'tcp port eighty': .*eighty/,
      );
      await refused(capture({ target: "br0:p9" }), 404, /^br0 has no port 'p9' \(ports: p0\)/);
      await refused(capture({ target: "nope:p0" }), 404, /^no instance 'nope' to capture at/);
      await refused(capture({ target: "nosuch0" }), 404, /^interface 'nosuch0' does not exist/);
      await refused(
        capture({ target: c.lab.iface(1), direction: "out", mode: "xdp" }),
        422,
        /can only be captured in tc mode \(XDP has no egress hook\)/,
      );
      await refused(capture({ target: "br0:p0", mode: "xdp" }), 422, /must be tc, not xdp/);
      await refused(capture({ instance: "br0" }), 422, /br0 is a bridge, not a capture instance/);
      await refused(capture({ target: "br0:p0", instance: "x" }), 422, /either target .* or instance/);
      await refused(capture({ target: "br0:p0", filter: "x".repeat(9000) }), 400, /body\/filter/);
      await refused(capture({ target: "br0:p0", snaplen: 0 }), 400, /body\/snaplen/);
      await refused(capture({ target: "br0:p0", direction: "sideways" }), 400, /body\/direction/);
      // The command line says the same, in one line, exit 1; usage mistakes exit 2.
      const bad = await c.px("capture", "br0:p0", "tcp", "port", "eighty");
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^plexus: filter 'tcp port eighty': [^\n]*eighty[^\n]*\n$/);
      const usage = await c.px("capture", "br0:p0", "-Q", "sideways");
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /-Q wants in, out or inout, got 'sideways'/);
      assert.deepEqual(await c.captureInstances(), []);
      assert.deepEqual(await c.captures(), []);
    } finally {
      await c.lab.api.delete("/v1/instances/br0");
    }
  });

  test("a standing capture instance: configured through the instance API, streamed with --instance, tables", async () => {
    const api = c.lab.api;
    await api.post("/v1/instances", {
      name: "cap0",
      type: "capture",
      config: { filter: "icmp", snaplen: 100 },
    });
    try {
      await api.put("/v1/instances/cap0/attachment", { target: c.lab.iface(0), direction: "ingress" });
      const out = c.file("standing.pcap");
      const cap = c.pxStart("capture", "--instance", "cap0", "-c", "2", "-w", out);
      await c.captureRunning(cap);
      await until("the file header", () => existsSync(out) && statSync(out).size >= 24);
      await exec(c.lab.net.hosts[0].ns, "ping", ["-c", "2", "-s", "200", "-i", "0.2", "-W", "1", NOBODY], {
        allowFailure: true,
      });
      assert.equal(await cap.exited, 0, cap.stderr());
      const pkts = [...readPcap(readFileSync(out))];
      assert.equal(pkts.length, 2);
      for (const p of pkts) {
        assert.equal(p.data.length, 100, "cut to the instance's snap length");
        assert.equal(p.origLen, 14 + 20 + 8 + 200);
      }
      const filter = await api.get<Record<string, unknown>[]>("/v1/instances/cap0/tables/filter");
      assert.equal(filter[0].expression, "icmp");
      assert.equal(filter[0].state, "active");
      const stats = await api.get<Record<string, number>[]>("/v1/instances/cap0/tables/stats");
      assert.ok(stats[0].matched >= 2 && stats[0].captured >= 2, JSON.stringify(stats));
      // An expression the schema accepts but tcpdump refuses: capturing stops, the table says why.
      await api.patch("/v1/instances/cap0", { config: { filter: "tcp port eighty" } });
      const bad = await api.get<Record<string, unknown>[]>("/v1/instances/cap0/tables/filter");
      assert.equal(bad[0].state, "error");
      assert.match(String(bad[0].error), /eighty/);
    } finally {
      await api.delete("/v1/instances/cap0");
    }
  });

  test("Ctrl-C ends a capture: tcpdump's counters, instances removed; --list shows what runs", async () => {
    const cap = c.pxStart("capture", c.lab.iface(0), "icmp");
    await c.captureRunning(cap);
    const listed = await c.px("capture", "--list");
    assert.match(
      listed.stdout,
      new RegExp(`^[0-9a-f]{8}\\s+${c.lab.iface(0)}\\s+inout\\s+icmp\\s+0\\s+`, "m"),
    );
    await exec(c.lab.net.hosts[0].ns, "ping", ["-c", "2", "-i", "0.2", "-W", "1", NOBODY], {
      allowFailure: true,
    });
    await sleep(200);
    cap.child.kill("SIGINT");
    assert.equal(await cap.exited, 0);
    const lines = cap.stdout().trim().split("\n");
    assert.equal(lines.length, 2, cap.stdout());
    for (const l of lines)
      assert.match(l, /^\d\d:\d\d:\d\d\.\d{6} IP 198\.18\.0\.1 > 198\.18\.0\.77: ICMP type 8 code 0$/);
    assert.match(
      cap.stderr(),
      /^2 packets captured\n\d+ packets received by filter\n0 packets dropped by kernel\n$/,
    );
    assert.deepEqual(await c.captureInstances(), []);
  });

  test("a daemon killed during a capture: the restarted daemon removes the capture's instances", async () => {
    const cap = c.pxStart("capture", c.lab.iface(0), "-Q", "in", "icmp");
    await c.captureRunning(cap);
    assert.equal((await c.captureInstances()).length, 1);
    await c.lab.daemon.kill();
    assert.equal(await cap.exited, 1);
    assert.match(
      cap.stderr(),
      /^0 packets captured \(the daemon's counters were not received\)\nplexus: the capture stream from .* ended without its counters \(did plexusd stop\?\)/,
    );
    await c.lab.restart();
    await until("the left-over instance to go", async () => (await c.captureInstances()).length === 0);
    assert.match(c.lab.daemon.log(), /removed a capture instance left over from an earlier daemon/);
  });
});
