// The load balancer through the hypervisor, in throw-away namespaces with real clients and servers:
// curl to HTTP servers behind a VIP (IPv4 and IPv6) spread across backends by weight, the
// backends seeing the client's own address; a backend killed mid-test taken out by the HTTP health
// check while downloads from the healthy backends run on unbroken, then put back when it recovers;
// a daemon restart that downloads in progress survive; the connections table; bad service
// definitions refused with nothing changed. Run by
// e2e-tc.test.ts and e2e-xdp.test.ts.
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
  ipBatch,
  spawn,
  type DutTopology,
  type NetnsGuard,
} from "../../../src/testbed/netns.js";
import { buildLb } from "./support.js";
import { BIG, SERVER, answer, download, requests, sleep } from "./e2e-support.js";

const VIP = "198.18.1.100";
const VIP6 = "fd00:1::100";
/** h0 is the client; h1..h3 are backends, each behind its own port, routed back through the DUT. */
const HOSTS = [
  { ipv4: "198.18.1.1", ipv6: "fd00:1::1" },
  ...[1, 2, 3].map((i) => ({
    ipv4: `198.18.1${i}.1`,
    ipv6: `fd00:1${i}::1`,
    extra: [`route add default via 198.18.1${i}.254`, `route add default via fd00:1${i}::fe`],
  })),
];
const WEIGHTS = [1, 1, 2];
/** The suite, for one hook (a file per hook keeps each file short). */
export function dnatSuite(mode: "tc" | "xdp"): void {
  describe(`loadbalancer end to end (${mode})`, () => {
    let net: DutTopology;
    let bpffs: Bpffs;
    let stateDir: string;
    let guard: NetnsGuard;
    let hv: Hypervisor;
    const servers: (ChildProcess | undefined)[] = [];
    const serve = (i: number) => {
      servers[i] = spawn(net.hosts[i].ns, "python3", ["-c", SERVER, `b${i}`, "8080"]);
    };

    before(async () => {
      await buildLb();
      net = await dutWithHosts(HOSTS);
      const [front, ...backs] = net.hosts.map((h) => h.dutIfname);
      await ipBatch(net.dut, [
        `addr add 198.18.1.254/24 dev ${front}`,
        `addr add ${VIP}/24 dev ${front}`,
        `addr add ${VIP6}/64 dev ${front}`,
        ...backs.flatMap((d, i) => [
          `addr add 198.18.1${i + 1}.254/24 dev ${d}`,
          `addr add fd00:1${i + 1}::fe/64 dev ${d}`,
        ]),
      ]);
      bpffs = mountBpffs();
      stateDir = mkdtempSync(join(tmpdir(), "px-state-"));
      guard = enterNetns(net.dut);
      hv = await Hypervisor.start({ stateDir, bpffs: bpffs.path });
      for (const i of [1, 2, 3]) serve(i);
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

    const backends = () => hv.tableList("lb", "backends");
    async function until(what: string, ok: (rows: Record<string, unknown>[]) => boolean, ms = 15_000) {
      const t0 = Date.now();
      let rows = await backends();
      while (!ok(rows)) {
        if (Date.now() - t0 > ms) assert.fail(`${what}: ${JSON.stringify(rows)}`);
        await sleep(100);
        rows = await backends();
      }
    }
    const shares = (answers: string[], n: number) =>
      [1, 2, 3].map((i) => answers.filter((a) => answer(a).backend === `b${i}`).length / n);

    {
      test(`${mode}: curl is spread by weight, a killed backend is taken out and put back, healthy flows run on`, async () => {
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
          // Generous timeouts: the machine is shared, and a slow answer must not take a backend out.
          const check = { check: "http", path: "/", interval: 400, timeout: 400, rise: 2, fall: 2 };
          await hv.tableAdd("lb", "services", { name: "web", vip: VIP, port: 80, ...check });
          await hv.tableAdd("lb", "services", { name: "web6", vip: VIP6, port: 80, ...check });
          await hv.tableAddMany(
            "lb",
            "backends",
            backHosts.flatMap((h, i) => [
              { service: "web", backend: `${h.ipv4}:8080`, weight: WEIGHTS[i] },
              { service: "web6", backend: `[${h.ipv6}]:8080`, weight: WEIGHTS[i] },
            ]),
          );
          await until(
            "all backends up, next hops resolved",
            (rows) => rows.length === 6 && rows.every((r) => r.state === "up"),
          );

          // Spread by weight (1:1:2); every backend sees the client's own address.
          const n = 200;
          const answers = await requests(client.ns, `http://${VIP}/`, n);
          assert.equal(answers.length, n);
          assert.ok(
            answers.every(
              (a) => answer(a).client === "198.18.1.1" && /^198\.18\.1[123]\.1$/.test(answer(a).local),
            ),
            answers[0],
          );
          shares(answers, n).forEach((s, i) =>
            assert.ok(
              Math.abs(s - WEIGHTS[i] / 4) < 0.1,
              `b${i + 1}: share ${s}, want ${WEIGHTS[i] / 4} (${JSON.stringify(shares(answers, n))})`,
            ),
          );
          const answers6 = await requests(client.ns, `http://[${VIP6}]/`, 60);
          assert.ok(
            answers6.every((a) => answer(a).client === "fd00:1::1"),
            answers6[0],
          );
          assert.ok(
            shares(answers6, 60).every((s) => s > 0.1),
            JSON.stringify(shares(answers6, 60)),
          );

          // Long downloads run while backend 2 dies: it is taken out, the others' downloads finish whole.
          const downloads = Array.from({ length: 8 }, () => download(client.ns, `http://${VIP}/big`));
          // Started (spawning curl takes a while on a loaded machine): most downloads are running.
          let running = 0;
          for (let t0 = Date.now(); running < 6 && Date.now() - t0 < 8000; await sleep(100)) {
            const conns = await hv.tableList("lb", "connections");
            running = conns.filter((c) => c.service === "web" && c.state === "ESTABLISHED").length;
          }
          assert.ok(running >= 6, `${running} downloads running`);
          const since = hv.events.list().at(-1)?.seq ?? 0;
          servers[2]?.kill("SIGKILL");
          await until("backend 2 taken out", (rows) =>
            rows
              .filter((r) => String(r.backend).includes("1.12.1") || String(r.backend).includes("fd00:12::1"))
              .every((r) => r.state === "down"),
          );
          assert.ok(
            hv.events
              .list(since)
              .some((e) => e.kind.endsWith("backend.down") && e.message.includes("198.18.12.1")),
          );
          const done = await Promise.all(downloads);
          const healthy = done.filter((d) => d.backend !== "b2");
          assert.ok(healthy.length >= 2, JSON.stringify(done));
          for (const d of healthy)
            assert.deepEqual([d.code, d.size], [0, BIG], `a download from ${d.backend} broke`);
          // New connections all reach the remaining backends.
          const during = await requests(client.ns, `http://${VIP}/`, 30);
          assert.ok(
            during.every((a) => ["b1", "b3"].includes(answer(a).backend)),
            JSON.stringify(during),
          );

          // Back up: the health check puts it back, and it serves its share again.
          serve(2);
          await until("backend 2 back", (rows) => rows.every((r) => r.state === "up"));
          const again = await requests(client.ns, `http://${VIP}/`, 60);
          assert.ok(shares(again, 60)[1] > 0.1, JSON.stringify(shares(again, 60)));

          // A daemon restart: downloads in progress finish whole (their connections are in the
          // kernel), new connections are served at once by the new daemon.
          const during2 = Array.from({ length: 4 }, () => download(client.ns, `http://${VIP}/big`));
          let busy = 0;
          for (let t0 = Date.now(); busy < 3 && Date.now() - t0 < 8000; await sleep(100)) {
            const conns = await hv.tableList("lb", "connections");
            busy = conns.filter((c) => c.service === "web" && c.state === "ESTABLISHED").length;
          }
          assert.ok(busy >= 3, `${busy} downloads running`);
          hv.stop();
          hv = await Hypervisor.start({ stateDir, bpffs: bpffs.path });
          const fresh = await requests(client.ns, `http://${VIP}/`, 20);
          assert.equal(fresh.length, 20);
          for (const d of await Promise.all(during2))
            assert.deepEqual(
              [d.code, d.size],
              [0, BIG],
              `a download from ${d.backend} broke across the restart`,
            );

          // Bad input: refused naming the service; what is in force and the desired state unchanged.
          await assert.rejects(
            hv.tableAdd("lb", "services", { name: "other", vip: VIP, port: 80 }),
            /service other: tcp\/198\.18\.1\.100:80 is already service web's/,
          );
          await assert.rejects(
            hv.tableAdd("lb", "backends", { service: "web", backend: "fd00:12::1" }),
            /backend fd00:12::1 of web: an IPv6 backend for the IPv4 service web/,
          );
          assert.deepEqual(
            (hv.desiredState().instances.lb.tables.services ?? []).map((s) => s.name),
            ["web", "web6"],
          );
          assert.equal((await requests(client.ns, `http://${VIP}/`, 1)).length, 1);
        } finally {
          await hv.deleteInstance("lb");
        }
      });
    }
  });
}
