// The packet-rate rig on the real kernel: exact counts through a bare redirect, well-formed frames
// (checked by the sink in the kernel, by byte comparison with the builder, and by tcpdump), loss
// reported with the hop that lost it, arms alternating, and nothing left behind.
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { BpfProgram } from "../../src/bpf/prog/program.js";
import { listPxNamespaces, run, spawn } from "../../src/testbed/netns.js";
import { alternate } from "../../bench/harness.js";
import {
  buildFrame,
  flowOf,
  Rig,
  tcRedirect,
  withRig,
  xdpFibForwarder,
  xdpRedirect,
  type DutConfig,
  type FrameSpec,
} from "../../bench/rig/index.js";

let rig: Rig;
before(async () => {
  rig = await Rig.create();
});
after(async () => {
  await rig?.close();
});

test("through a bare XDP redirect the sink counts exactly the frames sent, IPv4 and IPv6", () =>
  rig.withDut(xdpRedirect(), async () => {
    for (const ipv6 of [false, true]) {
      const r = await rig.measure({ frames: 100_000, ipv6, flows: { srcPorts: 16 } });
      assert.ok(r.ok, r.problems.join("; "));
      assert.equal(r.sent, 100_000);
      assert.equal(r.received, 100_000);
      assert.equal(r.lost, 0);
      // The veths saw them too (plus the odd neighbour discovery frame).
      assert.ok(r.counters.gen.tx_packets >= 100_000, "the generator's veth sent them all");
      assert.ok(r.counters.sink.rx_packets >= 100_000, "and the sink's veth received them");
      // Beyond what a userspace sender reaches with a whole CPU (~0.3 Mpps), even on this shared
      // machine (several Mpps when it is quiet). Per CPU-second: the wall-clock rate depends on
      // how much of the CPU other tasks leave us.
      assert.ok(r.ppsPerCpu > 300_000, `${r.ppsPerCpu} pps per CPU-second`);
      assert.ok(Object.keys(r.cpus.generator).length > 0);
      // One thread does the work: its CPU time fits in the wall time (give or take the sampling
      // of both clocks), and the rate per CPU-second is the count over that CPU time.
      assert.ok(r.cpu.cpuSeconds > 0 && r.cpu.cpuSeconds <= r.seconds * 1.1 + 0.01, JSON.stringify(r.cpu));
      assert.ok(
        Math.abs(r.ppsPerCpu * r.cpu.cpuSeconds - r.received) <= r.received * 1e-6 + 1,
        JSON.stringify(r.cpu),
      );
    }
  }));

test("every frame is well-formed and carries the flows asked for (verified in the sink)", () =>
  rig.withDut(xdpFibForwarder(), async () => {
    // Through a router that rewrites MACs and TTL: the sink checks lengths and both checksums.
    for (const [ipv6, size] of [
      [false, 64],
      [true, 64],
      [false, 333],
      [true, 1514],
    ] as const) {
      const flows = { srcAddrs: 2, srcPorts: 4, dstAddrs: 3 };
      const r = await rig.measure({ frames: 24 * 50, ipv6, size, flows, verify: true });
      assert.ok(r.ok, r.problems.join("; "));
      assert.equal(r.malformed, 0);
      assert.equal(r.received, 1200);
      const seen = rig.sink.flows();
      const want = Array.from({ length: 24 }, (_, i) => {
        const f = flowOf(r.spec, i);
        const low = (b: Buffer) => [...b.subarray(b.length - 4)].join(".");
        return `${low(f.src)} ${low(f.dst)} ${f.sport}`;
      });
      const got = seen.map((f) => `${f.src} ${f.dst} ${f.sport}`);
      assert.deepEqual(got.sort(), want.sort(), `ipv6 ${ipv6} size ${size}`);
      assert.ok(seen.every((f) => f.frames === 50 && f.family === (ipv6 ? 6 : 4)));
    }
  }));

/** The packets of a pcap file (classic format, as tcpdump -w writes it). */
function pcapPackets(file: string): Buffer[] {
  const b = readFileSync(file);
  assert.equal(b.readUInt32LE(0), 0xa1b2c3d4, "little-endian microsecond pcap");
  const out: Buffer[] = [];
  for (let o = 24; o + 16 <= b.length;) {
    const len = b.readUInt32LE(o + 8);
    out.push(b.subarray(o + 16, o + 16 + len));
    o += 16 + len;
  }
  return out;
}

test("frames on the wire are byte for byte the builder's, and tcpdump finds the checksums right", () =>
  rig.withDut(xdpRedirect(), async () => {
    const dir = mkdtempSync(join(tmpdir(), "plexus-rig-"));
    try {
      // One capture for an IPv4 run then an IPv6 run, 16 frames each.
      const file = join(dir, "frames.pcap");
      const { sink } = rig.topology;
      const dump = spawn(sink.ns, "tcpdump", [
        "-i",
        sink.ifname,
        "-U",
        "-c",
        "32",
        "-w",
        file,
        "udp dst port 9",
      ]);
      const exited = new Promise<number | null>((res) => dump.once("exit", (code) => res(code)));
      await new Promise<void>((res, rej) => {
        const t = setTimeout(() => rej(new Error("tcpdump did not start")), 10_000);
        dump.stderr?.on("data", (d: Buffer) => {
          if (d.toString().includes("listening on")) {
            clearTimeout(t);
            res();
          }
        });
      });
      const specs: FrameSpec[] = [];
      for (const ipv6 of [false, true]) {
        const r = await rig.measure({ frames: 16, ipv6, flows: { srcAddrs: 3, srcPorts: 5 }, pass: true });
        assert.ok(r.ok, r.problems.join("; "));
        specs.push(r.spec);
      }
      assert.equal(await exited, 0);
      const frames = pcapPackets(file);
      assert.equal(frames.length, 32);
      frames.forEach((f, i) => assert.deepEqual(f, buildFrame(specs[i >> 4], i & 15), `frame ${i}`));
      const text = (await run("tcpdump", ["-r", file, "-nn", "-vv"])).stdout;
      assert.equal(text.match(/udp sum ok/g)?.length, 32, text);
      assert.equal(text.match(/IP6 /g)?.length, 16, text);
      assert.doesNotMatch(text, /bad/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }));

test("frames a DUT loses are reported with the hop that lost them (the veth NAPI rule)", async () => {
  // A TC redirect behind a veth without NAPI: the generator's redirects into it vanish.
  const noNapi: DutConfig = {
    name: "TC redirect, GRO off",
    layer: 2,
    async setup(dut) {
      await tcRedirect().setup(dut);
      await dut.exec("ethtool", ["-K", dut.left.ifname, "gro", "off"]);
      dut.defer(() => dut.exec("ethtool", ["-K", dut.left.ifname, "gro", "on"]).then(() => undefined));
    },
  };
  await rig.withDut(
    noNapi,
    async () => {
      const r = await rig.measure({ frames: 10_000 });
      assert.equal(r.ok, false);
      assert.equal(r.sent, 10_000);
      assert.equal(r.received, 0);
      assert.equal(r.lost, 10_000);
      const text = r.problems.join("\n");
      assert.match(text, /10000 frames lost \(100\.000%\)/);
      // No drop counter moves for this loss; the hop counts show where it happened.
      assert.match(text, /no interface counter says where/);
      assert.match(text, /path: generator 10000 -> gen veth tx 0 -> dut left rx 0 /);
      assert.match(text, /neither XDP nor GRO.*NAPI/);
    },
    { waitReady: false },
  );
});

test("a DUT that leaves something behind fails its teardown, saying what", async () => {
  const leaky: DutConfig = {
    name: "leaky",
    layer: 3,
    setup: (dut) => dut.ip([`route add 198.19.99.0/24 via ${dut.sink.ipv4}`]),
  };
  await assert.rejects(
    rig.withDut(leaky, async () => undefined, { waitReady: false }),
    /leaky' left the DUT changed.*\n.*\+ route unicast 198\.19\.99\.0\/24 via 198\.18\.2\.1/,
  );
  await run("ip", ["-n", rig.dut.ns, "route", "del", "198.19.99.0/24"]);
});

test("arms alternate on one rig, each configured and torn down around its run", async () => {
  const results = await alternate(
    [
      rig.arm(xdpRedirect(), { frames: 50_000 }),
      rig.arm(tcRedirect(), { frames: 50_000, metric: "ppsPerCpu", name: "tc" }),
    ],
    2,
  );
  assert.deepEqual(
    results.map((a) => a.samples.length),
    [2, 2],
  );
  assert.ok(results.every((a) => a.median > 0));
  assert.deepEqual(rig.anomalies, []);
  // The same runs, by either metric.
  const byCpu = rig.medians("ppsPerCpu").get("tc");
  assert.deepEqual(byCpu?.samples, results[1].samples);
});

test("withRig pins to a CPU if asked and removes everything afterwards, also when its callback throws", async () => {
  const cpu = 0;
  const mask = (await run("taskset", ["-p", String(process.pid)])).stdout.split(":")[1].trim();
  let names: string[] = [];
  let ids: number[] = [];
  await assert.rejects(
    withRig(
      async (r) => {
        names = r.topology.namespaces;
        ids = [r.generator.programId, r.sink.programId];
        await r.withDut(xdpRedirect(), async () => {
          const rep = await r.measure({ frames: 20_000 });
          assert.deepEqual(Object.keys(rep.cpus.generator), [`cpu${cpu}`]);
          assert.deepEqual(Object.keys(rep.cpus.sink), [`cpu${cpu}`]);
        });
        throw new Error("boom");
      },
      { cpu },
    ),
    /boom/,
  );
  assert.equal(names.length, 3);
  const left = listPxNamespaces();
  for (const n of names) assert.ok(!left.includes(n), `${n} still exists`);
  for (const id of ids) assert.throws(() => BpfProgram.fromId(id), `program ${id} still loaded`);
  assert.equal((await run("taskset", ["-p", String(process.pid)])).stdout.split(":")[1].trim(), mask);
});
