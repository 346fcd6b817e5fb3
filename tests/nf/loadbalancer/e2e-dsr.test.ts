// Direct server return through the hypervisor, in throw-away namespaces: the balancer changes only
// the MACs of the client's packets; the backends hold the VIP on their loopback and answer the
// client themselves (here through the DUT's own IP forwarding, never through the balancer). curl
// over IPv4 and IPv6 reaches both backends, each reached at the VIP and seeing the client's own
// address; a TCP health check takes a stopped backend out. In tc and xdp modes.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
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
  ipBatch,
  spawn,
  type DutTopology,
  type NetnsGuard,
} from "../../../src/testbed/netns.js";
import { buildLb } from "./support.js";
import { SERVER, answer, requests, sleep } from "./e2e-support.js";

const VIP = "198.18.1.200";
const VIP6 = "fd00:1::200";
/** h0 is the client (the VIP routed via the DUT); h1, h2 are backends holding the VIP on lo. */
const HOSTS = [
  {
    ipv4: "198.18.1.1",
    ipv6: "fd00:1::1",
    extra: [`route add ${VIP}/32 via 198.18.1.254`, `route add ${VIP6}/128 via fd00:1::fe`],
  },
  ...[1, 2].map((i) => ({
    ipv4: `198.18.1${i}.1`,
    ipv6: `fd00:1${i}::1`,
    extra: [
      `route add default via 198.18.1${i}.254`,
      `route add default via fd00:1${i}::fe`,
      `addr add ${VIP}/32 dev lo`,
      `addr add ${VIP6}/128 dev lo`,
    ],
  })),
];

describe("loadbalancer direct server return", () => {
  let net: DutTopology;
  let bpffs: Bpffs;
  let stateDir: string;
  let guard: NetnsGuard;
  let hv: Hypervisor;
  const servers: (ChildProcess | undefined)[] = [];

  before(async () => {
    await buildLb();
    net = await dutWithHosts(HOSTS);
    const [front, ...backs] = net.hosts.map((h) => h.dutIfname);
    await ipBatch(net.dut, [
      `addr add 198.18.1.254/24 dev ${front}`,
      `addr add fd00:1::fe/64 dev ${front}`,
      ...backs.flatMap((d, i) => [
        `addr add 198.18.1${i + 1}.254/24 dev ${d}`,
        `addr add fd00:1${i + 1}::fe/64 dev ${d}`,
      ]),
    ]);
    // The backends' answers come back through the DUT's own forwarding (the balancer leaves them).
    await exec(net.dut, "sysctl", ["-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);
    for (const i of [1, 2]) {
      await exec(net.hosts[i].ns, "sysctl", [
        "-qw",
        "net.ipv4.conf.all.arp_ignore=1",
        "net.ipv4.conf.all.arp_announce=2",
      ]);
      servers[i] = spawn(net.hosts[i].ns, "python3", ["-c", SERVER, `b${i}`, "80"]);
    }
    bpffs = mountBpffs();
    stateDir = mkdtempSync(join(tmpdir(), "px-state-"));
    guard = enterNetns(net.dut);
    hv = await Hypervisor.start({ stateDir, bpffs: bpffs.path });
  });
  after(async () => {
    for (const s of servers) s?.kill("SIGKILL");
    try {
      await hv?.destroy();
    } finally {
      guard?.restore();
      bpffs?.cleanup();
      net?.cleanup();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  async function until(what: string, ok: (rows: Record<string, unknown>[]) => boolean, ms = 15_000) {
    const t0 = Date.now();
    let rows = await hv.tableList("lb", "backends");
    while (!ok(rows)) {
      if (Date.now() - t0 > ms) assert.fail(`${what}: ${JSON.stringify(rows)}`);
      await sleep(100);
      rows = await hv.tableList("lb", "backends");
    }
  }

  for (const mode of ["tc", "xdp"] as const) {
    test(`${mode}: backends reached at the VIP answer the client directly`, async () => {
      const [client, ...backHosts] = net.hosts;
      await hv.createInstance({
        name: "lb",
        type: "loadbalancer",
        mode,
        ports: [
          { name: "front", peer: client.dutIfname },
          ...backHosts.map((h, i) => ({ name: `b${i + 1}`, peer: h.dutIfname })),
        ],
      });
      try {
        const check = { mode: "dsr", check: "tcp", interval: 400, timeout: 400, rise: 2, fall: 2 };
        await hv.tableAdd("lb", "services", { name: "dsr", vip: VIP, port: 80, ...check });
        await hv.tableAdd("lb", "services", { name: "dsr6", vip: VIP6, port: 80, ...check });
        await hv.tableAddMany(
          "lb",
          "backends",
          backHosts.flatMap((h) => [
            { service: "dsr", backend: h.ipv4 },
            { service: "dsr6", backend: h.ipv6 },
          ]),
        );
        await until("backends up", (rows) => rows.length === 4 && rows.every((r) => r.state === "up"));

        for (const [vip, url, clientAddr] of [
          [VIP, `http://${VIP}/`, "198.18.1.1"],
          [VIP6, `http://[${VIP6}]/`, "fd00:1::1"],
        ] as const) {
          const answers = (await requests(client.ns, url, 100)).map(answer);
          assert.ok(
            answers.every((a) => a.client === clientAddr && a.local === vip),
            JSON.stringify(answers[0]),
          );
          for (const b of ["b1", "b2"])
            assert.ok(answers.filter((a) => a.backend === b).length > 25, `${vip}: ${b} takes its share`);
        }
        const conns = await hv.tableList("lb", "connections");
        assert.ok(conns.length >= 200 && conns.every((c) => c.mode === "dsr"), String(conns.length));

        // A stopped backend is taken out; every new connection reaches the other.
        servers[2]?.kill("SIGKILL");
        await until("b2 taken out", (rows) =>
          rows.filter((r) => String(r.via) === "b2").every((r) => r.state === "down"),
        );
        const rest = (await requests(client.ns, `http://${VIP}/`, 30)).map(answer);
        assert.ok(
          rest.every((a) => a.backend === "b1"),
          JSON.stringify(rest),
        );
        servers[2] = spawn(backHosts[1].ns, "python3", ["-c", SERVER, "b2", "80"]);
        await until("b2 back", (rows) => rows.every((r) => r.state === "up"));
      } finally {
        await hv.deleteInstance("lb");
      }
    });
  }
});
