// Counters against ground truth: a known number of frames of a known size through a bridge and a
// router in throw-away namespaces; every counter on the path (port rx/tx per direction, bytes from
// the L2 header, drops by reason) moves by exactly that much, and GET /v1/stats and GET /metrics
// (parsed by Prometheus's own parser) say the same. Series go when instances go.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { InstanceStats, PortStats } from "../../src/core/stats/snapshot.js";
import { exec, ping } from "../../src/testbed/netns.js";
import { parseExposition, samples, valueOf } from "./prometheus.js";
import { startObsLab, type ObsLab } from "./lab.js";

const N = 7;
const PAYLOAD = 100;
/** Ethernet 14 + IPv4 20 + ICMP 8 + payload: what the framework counts (from the L2 header). */
const FRAME = 14 + 20 + 8 + PAYLOAD;
const DEAD_MAC = "02:00:00:00:99:01";

const port = (i: InstanceStats, name: string): PortStats => {
  const p = i.ports.find((x) => x.name === name);
  assert.ok(p, `${i.name} has port ${name}`);
  return p;
};

/** What moved on each port between two readings, as "p0 rx 7/994/0" lines (readable diffs). */
function moved(a: InstanceStats, b: InstanceStats): string[] {
  const out: string[] = [];
  for (const pb of b.ports) {
    const pa = port(a, pb.name);
    for (const dir of ["rx", "tx"] as const) {
      const d = [
        pb[dir].packets - pa[dir].packets,
        pb[dir].bytes - pa[dir].bytes,
        pb[dir].drops - pa[dir].drops,
      ];
      if (d.some((x) => x !== 0)) out.push(`${pb.name} ${dir} ${d.join("/")}`);
    }
  }
  return out.sort();
}

function dropsMoved(a: InstanceStats, b: InstanceStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.drops)) if (v !== (a.drops[k] ?? 0)) out[k] = v - (a.drops[k] ?? 0);
  return out;
}

async function scrape(lab: ObsLab) {
  const r = await lab.get("/metrics");
  assert.equal(r.status, 200);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  return samples(parseExposition(r.body));
}

/** Every port and direction of `i` appears in the scrape with the counters /v1/stats reports. */
function assertScrapeMatches(all: ReturnType<typeof samples>, i: InstanceStats): void {
  assert.equal(valueOf(all, "plexus_instance_info", { instance: i.name, type: i.type, mode: i.mode }), 1);
  for (const p of i.ports)
    for (const direction of ["rx", "tx"] as const) {
      const l = { instance: i.name, type: i.type, port: p.name, direction };
      assert.equal(valueOf(all, "plexus_port_packets_total", l), p[direction].packets, JSON.stringify(l));
      assert.equal(valueOf(all, "plexus_port_bytes_total", l), p[direction].bytes, JSON.stringify(l));
      assert.equal(valueOf(all, "plexus_port_drops_total", l), p[direction].drops, JSON.stringify(l));
    }
  for (const [reason, n] of Object.entries(i.drops))
    assert.equal(valueOf(all, "plexus_drops_total", { instance: i.name, reason }), n, reason);
}

describe("counters against ground truth: bridge", () => {
  let lab: ObsLab;
  before(async () => {
    lab = await startObsLab([
      { ipv4: "198.18.0.1", ipv6: "fd00::1" },
      { ipv4: "198.18.0.2", ipv6: "fd00::2" },
    ]);
    const [h0, h1] = lab.net.hosts;
    await lab.neighbour(0, h1.ipv4, h1.mac);
    await lab.neighbour(1, h0.ipv4, h0.mac);
    await lab.neighbour(0, "198.18.0.99", DEAD_MAC);
  });
  after(async () => lab?.cleanup());

  for (const mode of ["tc", "xdp"] as const)
    test(`${mode}: pings through the bridge move every counter on the path by exactly what was sent`, async () => {
      const { hv, net } = lab;
      const [h0, h1] = net.hosts;
      await hv.createInstance({
        name: "br0",
        type: "bridge",
        mode,
        ports: [
          { name: "p0", peer: h0.dutIfname },
          { name: "p1", peer: h1.dutIfname },
          { name: "p2" }, // connected to nothing
        ],
      });
      try {
        // Static entries: nothing floods, nothing depends on learning.
        await hv.tableAdd("br0", "fdb", { mac: h0.mac, port: "p0" });
        await hv.tableAdd("br0", "fdb", { mac: h1.mac, port: "p1" });
        await hv.tableAdd("br0", "fdb", { mac: DEAD_MAC, port: "p2" });

        const t0 = await lab.instance("br0");
        const r = await ping(h0.ns, h1.ipv4, { count: N, interval: 0.02, wait: 1, size: PAYLOAD });
        assert.equal(r.received, N, r.output);
        const t1 = await lab.instance("br0");
        const bytes = N * FRAME;
        assert.deepEqual(moved(t0, t1), [
          `p0 rx ${N}/${bytes}/0`,
          `p0 tx ${N}/${bytes}/0`,
          `p1 rx ${N}/${bytes}/0`,
          `p1 tx ${N}/${bytes}/0`,
        ]);
        assert.deepEqual(dropsMoved(t0, t1), {});

        // Frames for a MAC behind the unconnected port: dropped there, as port_down.
        const lost = await ping(h0.ns, "198.18.0.99", { count: N, interval: 0.02, wait: 1, size: PAYLOAD });
        assert.equal(lost.received, 0);
        const t2 = await lab.instance("br0");
        assert.deepEqual(moved(t1, t2), [`p0 rx ${N}/${bytes}/0`, `p2 tx 0/0/${N}`]);
        assert.deepEqual(dropsMoved(t1, t2), { port_down: N });

        // The instance's totals are the sums of its ports.
        assert.equal(
          t2.rx.packets,
          t2.ports.reduce((s, p) => s + p.rx.packets, 0),
        );
        assert.equal(
          t2.tx.drops,
          t2.ports.reduce((s, p) => s + p.tx.drops, 0),
        );

        const all = await scrape(lab);
        assertScrapeMatches(all, t2);
        assert.equal(valueOf(all, "plexus_instances", {}), 1);
        // The FDB is a hash: its usage is reported against its capacity.
        const fdb = t2.tables.find((t) => t.table === "fdb");
        assert.ok(fdb && fdb.entries >= 3 && fdb.capacity > fdb.entries, JSON.stringify(t2.tables));
        assert.equal(valueOf(all, "plexus_table_entries", { instance: "br0", table: "fdb" }), fdb.entries);
        assert.equal(valueOf(all, "plexus_table_capacity", { instance: "br0", table: "fdb" }), fdb.capacity);
      } finally {
        await hv.deleteInstance("br0");
      }
      const gone = await scrape(lab);
      assert.deepEqual(
        gone.filter((s) => s.labels.instance === "br0"),
        [],
        "br0's series are gone",
      );
      assert.equal(valueOf(gone, "plexus_instances", {}), 0);
    });

  test("rates: the daemon's sampler turns counters into packets per second while traffic runs", async () => {
    const { hv, net } = lab;
    const [h0, h1] = net.hosts;
    await hv.createInstance({
      name: "br1",
      type: "bridge",
      ports: [
        { name: "a", peer: h0.dutIfname },
        { name: "b", peer: h1.dutIfname },
      ],
    });
    try {
      // 50 pings a second for 3 s: after a couple of samples, about 50 pps each way on each port.
      const pinger = ping(h0.ns, h1.ipv4, { count: 150, interval: 0.02, wait: 1 });
      await new Promise((r) => setTimeout(r, 2200));
      const s = await lab.stats();
      await pinger;
      const i = s.instances.find((x) => x.name === "br1");
      assert.ok(i);
      assert.ok(s.intervalMs >= 500 && s.intervalMs <= 3000, `interval ${s.intervalMs}`);
      for (const p of i.ports)
        assert.ok(p.rxRate.packets > 20 && p.rxRate.packets < 80, `${p.name} rx ${p.rxRate.packets} pps`);
      const link = s.links.find((l) => l.a === "br1:a");
      assert.ok(link && link.b === h0.dutIfname && link.kind === "iface", JSON.stringify(s.links));
      assert.ok(link.bToA.packets > 20, JSON.stringify(link));
    } finally {
      await hv.deleteInstance("br1");
    }
  });

  test("cardinality stays bounded: instances that come and go leave no series behind", async () => {
    const { hv, net } = lab;
    const baseline = (await scrape(lab)).length;
    for (let round = 0; round < 3; round++) {
      const name = `churn${round}`;
      await hv.createInstance({
        name,
        type: "bridge",
        ports: [{ name: "a", peer: net.hosts[0].dutIfname }, { name: "b" }],
      });
      const during = await scrape(lab);
      assert.ok(during.some((s) => s.labels.instance === name && s.name === "plexus_port_packets_total"));
      await hv.deleteInstance(name);
    }
    const all = await scrape(lab);
    assert.equal(all.length, baseline, "as many series as before the churn");
    assert.ok(!all.some((s) => s.labels.instance?.startsWith("churn")));
  });
});

describe("counters against ground truth: router", () => {
  let lab: ObsLab;
  before(async () => {
    lab = await startObsLab([
      { ipv4: "198.18.1.1", ipv6: "fd00:1::1", extra: ["route add default via 198.18.1.254"] },
      { ipv4: "198.18.2.1", ipv6: "fd00:2::1", extra: ["route add default via 198.18.2.254"] },
    ]);
  });
  after(async () => lab?.cleanup());

  for (const mode of ["tc", "xdp"] as const)
    test(`${mode}: routed pings, TTL expiry and unrouted destinations are counted exactly, with their reasons`, async () => {
      const { hv, net } = lab;
      const [h0, h1] = net.hosts;
      await hv.createInstance({
        name: "r1",
        type: "router",
        mode,
        ports: [
          { name: "p0", peer: h0.dutIfname, config: { ipv4: ["198.18.1.254/24"], mac: "02:00:00:00:01:fe" } },
          { name: "p1", peer: h1.dutIfname, config: { ipv4: ["198.18.2.254/24"], mac: "02:00:00:00:02:fe" } },
        ],
      });
      try {
        await lab.neighbour(0, "198.18.1.254", "02:00:00:00:01:fe");
        await lab.neighbour(1, "198.18.2.254", "02:00:00:00:02:fe");
        // The router resolves the hosts once (ARP through its control plane), then forwards alone.
        const warm = await ping(h0.ns, h1.ipv4, { count: 3, interval: 0.05, wait: 2 });
        assert.ok(warm.received >= 1, warm.output);

        const t0 = await lab.instance("r1");
        const r = await ping(h0.ns, h1.ipv4, { count: N, interval: 0.02, wait: 1, size: PAYLOAD });
        assert.equal(r.received, N, r.output);
        const t1 = await lab.instance("r1");
        const bytes = N * FRAME;
        assert.deepEqual(moved(t0, t1), [
          `p0 rx ${N}/${bytes}/0`,
          `p0 tx ${N}/${bytes}/0`,
          `p1 rx ${N}/${bytes}/0`,
          `p1 tx ${N}/${bytes}/0`,
        ]);
        assert.deepEqual(dropsMoved(t0, t1), {});

        // No route to 198.19.77.1: each request dropped as no_route (the router answers unreachable).
        await ping(h0.ns, "198.19.77.1", { count: N, interval: 0.02, wait: 1, size: PAYLOAD });
        const t2 = await lab.instance("r1");
        assert.equal(port(t2, "p0").rx.packets - port(t1, "p0").rx.packets, N);
        assert.equal(port(t2, "p0").rx.drops - port(t1, "p0").rx.drops, N);
        assert.equal(dropsMoved(t1, t2).no_route, N, JSON.stringify(dropsMoved(t1, t2)));

        // TTL 1: expires in the router.
        const args = ["-n", "-q", "-c", String(N), "-i", "0.02", "-W", "1", "-t", "1", "-s", String(PAYLOAD)];
        await exec(h0.ns, "ping", [...args, h1.ipv4], { allowFailure: true });
        const t3 = await lab.instance("r1");
        assert.equal(dropsMoved(t2, t3).ttl_exceeded, N, JSON.stringify(dropsMoved(t2, t3)));
        assert.equal(port(t3, "p1").tx.packets, port(t2, "p1").tx.packets, "nothing expired went on");

        assertScrapeMatches(await scrape(lab), t3);
      } finally {
        await hv.deleteInstance("r1");
      }
    });
});
