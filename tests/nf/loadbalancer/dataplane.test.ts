// The load balancer's data plane with its control plane, through BPF_PROG_TEST_RUN in both hooks:
// DNAT with replies translated back (IPv4 and IPv6, TCP and UDP, checksums checked from scratch,
// MACs and ports), DSR, shares by weight, Maglev's consistency when a backend comes or goes,
// established flows sticking to their backend, health checks taking a backend out and putting it
// back, traffic that is not for a service left to the host, timeouts and collection.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BACKEND_SIZE, CONN_SIZE, SVC_SIZE, TUPLE_SIZE, VIP_SIZE } from "../../../nf/loadbalancer/cp/abi.js";
import {
  CLIENT_MAC,
  LB_MAC,
  TCP_ACK,
  TCP_FIN,
  TCP_SYN,
  arp,
  canon,
  frame,
  parse,
  type Pkt,
} from "./frames.js";
import { LoadBalancer } from "../../../nf/loadbalancer/cp/lb.js";
import { BACK_MAC, FRONT_MAC, FakeWorld, openLb, type Hook, type LbRig } from "./support.js";

const DROP_NO_BACKEND = 1;
const VIP = "198.18.1.100";
const VIP6 = "fd00:1::100";
const B = ["198.18.2.1", "198.18.2.2", "198.18.2.3", "198.18.2.4"];
const MACS = ["02:00:00:00:02:01", "02:00:00:00:02:02", "02:00:00:00:02:03", "02:00:00:00:02:04"];

/** Which backend a scheduled frame went to (by its destination MAC). */
const backendOf = (dmac: string): number => MACS.indexOf(dmac);

for (const hook of ["xdp", "tc"] as Hook[]) {
  describe(`loadbalancer data plane (${hook})`, () => {
    let r: LbRig;

    before(async () => {
      r = await openLb(hook, { timeouts: { tcpSyn: 1, udp: 1 } });
    });
    after(() => r?.close());

    const reset = () => {
      for (const s of r.lb.listServices()) r.lb.deleteService({ name: s.name });
      r.lb.deleteConnections({});
      r.world.failing.clear();
    };
    const web = (extra: Record<string, unknown> = {}) =>
      r.lb.addServices([{ name: "web", vip: VIP, port: 80, check: "none", ...extra }]);
    const backend = (i: number, extra: Record<string, unknown> = {}) =>
      r.lb.addBackends([{ service: "web", backend: `${B[i]}:8080`, mac: MACS[i], via: "back", ...extra }]);
    const send = (p: Pkt, port = 0) => r.run(frame(p), port);
    /**
     * Sends a packet with `flags` (a SYN then an ACK: an established connection) for each of `n`
     * flows from distinct clients; returns the backend each went to (by the last packet's MAC).
     */
    const open = (n: number, flags: number[] = [TCP_SYN, TCP_ACK]): number[] =>
      Array.from({ length: n }, (_, i) => {
        let mac = "";
        for (const f of flags) {
          const p = {
            src: `198.18.${3 + (i >> 12)}.${1 + ((i >> 8) & 15)}`,
            dst: VIP,
            sport: 1024 + (i & 0xff) * 97,
            dport: 80,
            flags: f,
          };
          mac = parse(r.fast(frame(p))).dmac;
        }
        return backendOf(mac);
      });

    test("the maps have the layouts the control plane writes", () => {
      assert.equal(r.t.map("lb_svcs").keySize, VIP_SIZE);
      assert.equal(r.t.map("lb_svcs").valueSize, SVC_SIZE);
      assert.equal(r.t.map("lb_backends").valueSize, BACKEND_SIZE);
      assert.equal(r.t.map("lb_conns").keySize, TUPLE_SIZE);
      assert.equal(r.t.map("lb_conns").valueSize, CONN_SIZE);
    });

    test("DNAT: the client's packets go to a backend, its replies come back from the VIP", () => {
      reset();
      web();
      backend(0);
      const c = { src: "198.18.3.1", dst: VIP, sport: 40000, dport: 80 };
      const o = send({ ...c, flags: TCP_SYN });
      assert.equal(o.verdict, "redirect");
      assert.deepEqual(o.txPorts, [1], "out of the backends' port");
      assert.deepEqual([o.p.src, o.p.sport, o.p.dst, o.p.dport], ["198.18.3.1", 40000, B[0], 8080]);
      assert.deepEqual([o.p.dmac, o.p.smac], [MACS[0], BACK_MAC]);
      assert.ok(o.p.csumOk, "checksums after DNAT");
      // The backend answers the client; the reply leaves towards the client as the VIP.
      const back = send(
        {
          src: B[0],
          dst: "198.18.3.1",
          sport: 8080,
          dport: 40000,
          flags: TCP_SYN | TCP_ACK,
          smac: MACS[0],
          dmac: BACK_MAC,
        },
        1,
      );
      assert.equal(back.verdict, "redirect");
      assert.deepEqual(back.txPorts, [0]);
      assert.deepEqual([back.p.src, back.p.sport, back.p.dst, back.p.dport], [VIP, 80, "198.18.3.1", 40000]);
      assert.deepEqual(
        [back.p.dmac, back.p.smac],
        [CLIENT_MAC, LB_MAC],
        "to the MAC the client's frames came from",
      );
      assert.ok(back.p.csumOk, "checksums of the reply");
      const ack = send({ ...c, flags: TCP_ACK });
      assert.equal(ack.p.dst, B[0]);
      const rows = r.lb.listConnections();
      assert.equal(rows.length, 1);
      assert.deepEqual(
        [rows[0].service, rows[0].client, rows[0].vip, rows[0].backend, rows[0].state],
        ["web", "198.18.3.1:40000", `${VIP}:80`, `${B[0]}:8080`, "ESTABLISHED"],
      );
      assert.equal(r.lb.stats().replied >= 1, true);
    });

    test("DNAT over IPv6, and UDP", () => {
      reset();
      r.lb.addServices([
        { name: "web6", vip: VIP6, port: 443, check: "none" },
        { name: "dns", vip: VIP, port: 53, proto: "udp" },
      ]);
      r.lb.addBackends([
        { service: "web6", backend: "[fd00:2::1]:8443", mac: MACS[1], via: "back" },
        { service: "dns", backend: B[2], mac: MACS[2], via: "back" },
      ]);
      const o = send({ src: "fd00:3::1", dst: VIP6, sport: 40001, dport: 443 });
      assert.deepEqual([o.p.dst, o.p.dport, o.p.dmac], [canon("fd00:2::1"), 8443, MACS[1]]);
      assert.ok(o.p.csumOk);
      const back = send(
        { src: "fd00:2::1", dst: "fd00:3::1", sport: 8443, dport: 40001, flags: TCP_SYN | TCP_ACK },
        1,
      );
      assert.deepEqual([back.p.src, back.p.sport], [canon(VIP6), 443]);
      assert.ok(back.p.csumOk);
      const u = send({ proto: "udp", src: "198.18.3.9", dst: VIP, sport: 5353, dport: 53 });
      assert.deepEqual([u.p.dst, u.p.dport, u.verdict], [B[2], 53, "redirect"]);
      assert.ok(u.p.csumOk, "UDP checksum");
      const ub = send({ proto: "udp", src: B[2], dst: "198.18.3.9", sport: 53, dport: 5353 }, 1);
      assert.deepEqual([ub.p.src, ub.p.sport], [VIP, 53]);
      assert.ok(ub.p.csumOk);
    });

    test("DSR: only the MACs change; the backend answers by itself", () => {
      reset();
      web({ mode: "dsr" });
      r.lb.addBackends([{ service: "web", backend: B[1], mac: MACS[1], via: "front" }]);
      const o = send({ src: "198.18.3.1", dst: VIP, sport: 40000, dport: 80 });
      assert.equal(o.verdict, "redirect");
      assert.deepEqual(o.txPorts, [0], "one-armed: back out of the port it came in through");
      assert.deepEqual(
        [o.p.src, o.p.dst, o.p.dport, o.p.dmac, o.p.smac],
        ["198.18.3.1", VIP, 80, MACS[1], FRONT_MAC],
      );
      assert.ok(o.p.csumOk);
      assert.deepEqual(
        frame({ src: "198.18.3.1", dst: VIP, sport: 40000, dport: 80 }).subarray(12),
        o.frame.subarray(12),
        "the packet itself is untouched",
      );
      assert.equal(r.lb.listConnections()[0].mode, "dsr");
    });

    test("traffic that is not for a service goes to the host; a service without backends drops", () => {
      reset();
      web();
      assert.equal(r.run(arp()).verdict, "pass");
      assert.equal(
        send({ src: "198.18.3.1", dst: "198.18.1.1", dport: 80 }).verdict,
        "pass",
        "another address",
      );
      assert.equal(send({ src: "198.18.3.1", dst: VIP, dport: 81 }).verdict, "pass", "another port");
      assert.equal(
        send({ proto: "udp", src: "198.18.3.1", dst: VIP, dport: 80 }).verdict,
        "pass",
        "another protocol",
      );
      const none = send({ src: "198.18.3.1", dst: VIP, dport: 80 });
      assert.equal(none.verdict, "drop");
      assert.deepEqual(none.drops, [DROP_NO_BACKEND]);
    });

    test("connections are spread by weight", () => {
      reset();
      web();
      backend(0);
      backend(1);
      backend(2, { weight: 2 });
      const n = 4000;
      const counts = [0, 0, 0];
      for (const b of open(n)) counts[b]++;
      const shares = counts.map((c) => c / n);
      for (const [i, want] of [0.25, 0.25, 0.5].entries())
        assert.ok(Math.abs(shares[i] - want) < 0.04, `backend ${i}: share ${shares[i]} (want ${want})`);
      const rows = r.lb.listBackends();
      assert.deepEqual(
        rows.map((x) => Math.round(Number(x.share))),
        [25, 25, 50],
      );
    });

    test("Maglev: adding or removing a backend moves about its share of flows; established flows stay", () => {
      reset();
      web();
      for (const i of [0, 1, 2]) backend(i);
      const n = 3000;
      const first = open(n);
      // A fourth backend: established connections (ACKs of the open ones) keep theirs.
      backend(3);
      assert.deepEqual(open(n, [TCP_ACK]), first, "established flows stick to their backend");
      // New connections with the same tuples (the table flushed): about a quarter move, all to it.
      r.lb.deleteConnections({});
      const second = open(n);
      const moved = second.filter((b, i) => b !== first[i]);
      assert.ok(
        moved.length / n > 0.18 && moved.length / n < 0.32,
        `moved ${moved.length / n} (its share: 0.25)`,
      );
      assert.ok(
        moved.filter((b) => b === 3).length / moved.length > 0.97,
        "the moved flows went to the new backend",
      );
      // Removing one: its flows move, hardly any other.
      r.lb.deleteBackend({ service: "web", backend: `${B[1]}:8080` });
      r.lb.deleteConnections({});
      const third = open(n);
      const onB1 = second.filter((b) => b === 1).length;
      const others = second.map((b, i) => [b, third[i]]).filter(([b]) => b !== 1);
      const disturbed = others.filter(([a, b]) => a !== b).length;
      assert.ok(
        third.every((b) => b !== 1),
        "none to the removed backend",
      );
      assert.ok(
        disturbed / others.length < 0.03,
        `${disturbed} of ${others.length} flows of other backends moved`,
      );
      assert.ok(onB1 / n > 0.18 && onB1 / n < 0.32, `the removed backend had ${onB1 / n}`);
    });

    test("health checks take a failed backend out and put it back, established flows to others stay", async () => {
      reset();
      r.lb.addServices([
        { name: "web", vip: VIP, port: 80, check: "tcp", interval: 200, timeout: 100, rise: 2, fall: 2 },
      ]);
      for (const i of [0, 1, 2]) backend(i);
      const n = 600;
      const before = open(n);
      r.world.failing.add(`${B[1]}:8080`);
      await r.advance(200, 1);
      assert.equal(r.lb.listBackends()[1].state, "up", "one failure is not enough (fall=2)");
      await r.advance(200, 2);
      assert.equal(r.lb.listBackends()[1].state, "down");
      assert.ok(r.ctx.events.some((e) => e.kind === "backend.down" && e.message.includes(B[1])));
      // Established flows to healthy backends keep them; new connections avoid the failed one.
      const est = open(n, [TCP_ACK]);
      assert.deepEqual(
        est.filter((b, i) => before[i] !== 1),
        before.filter((b) => b !== 1),
      );
      r.lb.deleteConnections({});
      const after = open(n);
      assert.ok(
        after.every((b) => b !== 1),
        "no new connection to the failed backend",
      );
      assert.ok(
        after.every((b, i) => before[i] === 1 || b === before[i]),
        "connections of healthy backends are scheduled as before",
      );
      r.world.failing.clear();
      await r.advance(200, 3);
      assert.equal(r.lb.listBackends()[1].state, "up");
      assert.ok(r.ctx.events.some((e) => e.kind === "backend.up"));
      r.lb.deleteConnections({});
      assert.deepEqual(open(n), before, "recovered: the table is what it was");
    });

    test("a SYN on a closed connection's tuple is scheduled again; expired connections are collected", async () => {
      reset();
      web();
      backend(0);
      const c = { src: "198.18.3.1", dst: VIP, sport: 40000, dport: 80 };
      send({ ...c, flags: TCP_SYN });
      send({ ...c, flags: TCP_FIN | TCP_ACK });
      assert.equal(r.lb.listConnections()[0].state, "CLOSING");
      const again = send({ ...c, flags: TCP_SYN });
      assert.equal(again.verdict, "redirect");
      assert.equal(r.lb.stats().rescheduled >= 1, true);
      assert.equal(r.lb.listConnections()[0].state, "SYN");
      // tcpSyn is 1 s here: the unanswered connection expires and is collected (both entries).
      await new Promise((res) => setTimeout(res, 2100));
      assert.equal(r.lb.listConnections().length, 0);
      assert.equal(r.lb.collect(), 2);
      assert.equal([...r.t.map("lb_conns").keys()].length, 0);
    });

    test("backends without mac= are placed from their next hop, nudged until it is resolved", async () => {
      reset();
      web();
      r.lb.addBackends([{ service: "web", backend: B[3] }]);
      await r.advance(1000, 1);
      assert.equal(r.lb.listBackends()[0].state, "unresolved");
      assert.match(String(r.lb.listBackends()[0].problem), /no route/);
      r.world.hops.set(B[3], { dev: "back0" });
      await r.advance(1000, 1);
      assert.ok(r.world.nudged.includes(B[3]));
      r.world.hops.set(B[3], { dev: "back0", mac: MACS[3] });
      await r.advance(1000, 1);
      const row = r.lb.listBackends()[0];
      assert.deepEqual([row.state, row.via, row.mac], ["up", "back", MACS[3]]);
      const o = send({ src: "198.18.3.1", dst: VIP, sport: 40000, dport: 80 });
      assert.deepEqual([o.p.dst, o.p.dport, o.p.dmac, o.txPorts], [B[3], 80, MACS[3], [1]]);
    });

    test("a restarted control plane takes over: connections go on, backends keep their place", async () => {
      reset();
      web();
      r.lb.addBackends([{ service: "web", backend: B[3] }]);
      r.world.hops.set(B[3], { dev: "back0", mac: MACS[3] });
      await r.advance(1000, 1);
      const c = { src: "198.18.3.1", dst: VIP, sport: 40000, dport: 80 };
      assert.equal(send({ ...c, flags: TCP_SYN }).p.dmac, MACS[3]);
      // A new daemon: a fresh control plane over the same maps, its configuration replayed before
      // start, and no next hop known yet.
      const lb2 = new LoadBalancer(r.ctx, new FakeWorld());
      lb2.addServices([{ name: "web", vip: VIP, port: 80, check: "none" }]);
      lb2.addBackends([{ service: "web", backend: `${B[3]}:80` }]);
      lb2.start();
      try {
        const est = send({ ...c, flags: TCP_ACK });
        assert.deepEqual([est.p.dst, est.p.dmac], [B[3], MACS[3]], "the established connection goes on");
        const fresh = send({ ...c, sport: 40001, flags: TCP_SYN });
        assert.deepEqual(
          [fresh.verdict, fresh.p.dmac],
          ["redirect", MACS[3]],
          "new connections are not refused",
        );
        assert.equal(lb2.listBackends()[0].state, "up");
        assert.equal(lb2.listConnections().length, 2);
      } finally {
        lb2.destroy();
      }
    });
  });
}
