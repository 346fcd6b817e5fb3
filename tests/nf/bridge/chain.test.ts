// A chain of instances through the hypervisor, with real traffic, in tc and xdp modes:
// host — bridge — router — bridge — host, with a second host beside the first on its bridge. The
// bridges flood the hosts' and the router's ARP and neighbour discovery to each other through
// instance links, and learn the router's port behind their uplink.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Hypervisor } from "../../../src/core/hypervisor.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import {
  dutWithHosts,
  enterNetns,
  exec,
  ping,
  type DutTopology,
  type NetnsGuard,
} from "../../../src/testbed/netns.js";
import { iperf } from "./traffic.js";

const left = ["route add default via 198.18.1.254", "route add default via fd00:1::fe"];
const right = ["route add default via 198.18.2.254", "route add default via fd00:2::fe"];
const HOSTS = [
  { ipv4: "198.18.1.1", ipv6: "fd00:1::1", extra: left },
  { ipv4: "198.18.2.1", ipv6: "fd00:2::1", extra: right },
  { ipv4: "198.18.1.2", ipv6: "fd00:1::2", extra: left },
];

describe("host — bridge — router — bridge — host", () => {
  let net: DutTopology;
  let bpffs: Bpffs;
  let stateDir: string;
  let guard: NetnsGuard;
  let hv: Hypervisor;

  before(async () => {
    net = await dutWithHosts(HOSTS);
    // Checksums computed by the hosts: XDP-redirected frames lose the veth's checksum offload.
    for (const h of net.hosts) await exec(h.ns, "ethtool", ["-K", h.ifname, "tx", "off"]);
    bpffs = mountBpffs();
    stateDir = mkdtempSync(join(tmpdir(), "px-state-"));
    guard = enterNetns(net.dut);
    hv = await Hypervisor.start({ stateDir, bpffs: bpffs.path });
  });
  after(async () => {
    try {
      await hv?.destroy();
    } finally {
      guard?.restore();
      bpffs?.cleanup();
      net?.cleanup();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  for (const mode of ["tc", "xdp"] as const) {
    test(`${mode}: pings (IPv4, IPv6) and TCP cross the chain; each bridge learns the router behind its uplink`, async () => {
      const [h0, h1, h2] = net.hosts;
      const made: string[] = [];
      try {
        for (const [name, ports] of [
          ["bra", [{ name: "h0", peer: h0.dutIfname }, { name: "h2", peer: h2.dutIfname }, { name: "up" }]],
          ["brb", [{ name: "h1", peer: h1.dutIfname }, { name: "up" }]],
        ] as const) {
          await hv.createInstance({ name, type: "bridge", mode, ports: [...ports] });
          made.push(name);
        }
        await hv.createInstance({
          name: "r1",
          type: "router",
          mode,
          ports: [
            { name: "a", config: { ipv4: ["198.18.1.254/24"], ipv6: ["fd00:1::fe/64"] } },
            { name: "b", config: { ipv4: ["198.18.2.254/24"], ipv6: ["fd00:2::fe/64"] } },
          ],
        });
        made.push("r1");
        // Links made with connect, which tells both ends (see e2e.test.ts).
        await hv.connect("r1", "a", "bra:up");
        await hv.connect("r1", "b", "brb:up");

        for (const [from, to] of [
          [h0, h1.ipv4],
          [h0, h1.ipv6],
          [h1, h2.ipv4],
          [h2, h0.ipv4], // beside each other on one bridge, the router not involved
        ] as const) {
          const r = await ping(from.ns, to, { count: 5, interval: 0.05, wait: 2 });
          assert.equal(r.received, 5, `${from.ipv4} -> ${to}: ${r.output}`);
        }
        const tcp = await iperf(h0.ns, h1.ns, h1.ipv4);
        assert.ok(tcp.bytes > 1_000_000, `TCP moved ${tcp.bytes} bytes`);

        const routerMacs = new Set(
          (await hv.tableList("r1", "address")).map((e) => String(e.mac)).filter((m) => m !== "undefined"),
        );
        for (const br of ["bra", "brb"]) {
          const fdb = await hv.tableList(br, "fdb");
          assert.ok(
            fdb.some((e) => e.port === "up" && routerMacs.has(String(e.mac))),
            `${br} learned a router MAC (${[...routerMacs].join(", ")}) on up: ${JSON.stringify(fdb)}`,
          );
        }
      } finally {
        for (const n of made.reverse()) await hv.deleteInstance(n);
      }
    });
  }
});
