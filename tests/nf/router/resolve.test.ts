// Next-hop resolution end to end between the data plane (run with BPF_PROG_TEST_RUN) and the
// control plane (fed the data plane's slow-path records, with a stand-in InstanceContext): the
// unresolved packet is queued and sent on once the neighbour answers, failures are counted and
// answered with ICMP, queues are bounded, learned neighbours are re-confirmed or forgotten.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TcAction, XdpAction } from "../../../src/bpf/constants.js";
import { FrameworkDrop } from "../../../src/core/dataplane/abi.js";
import { CpReason, Drop } from "../../../nf/router/cp/abi.js";
import {
  MAC_H1,
  MAC_P0,
  MAC_P1,
  arp,
  eth,
  icmp6,
  ip6,
  ipv4,
  ipv4ChecksumsOk,
  ipv6,
  mac,
  naFrame,
  openRig,
  runAndDeliver,
  slowPath,
  udpPayload,
  type Rig,
} from "./support.js";

const MAC_X = "02:00:00:00:0c:07";
const BCAST = "ff:ff:ff:ff:ff:ff";
const ZERO = "00:00:00:00:00:00";

function cpDrops(rig: Rig, reason: number): bigint {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(reason);
  return rig.t.map("rtr_cp_drops").lookup(b)?.readBigUInt64LE(0) ?? 0n;
}

const toV4 = (dst: string, id: number) =>
  eth(MAC_P0, MAC_H1, 0x0800, ipv4({ src: "198.18.1.1", dst, id }, udpPayload(40)));

for (const hook of ["xdp", "tc"] as const) {
  const REDIRECT = hook === "xdp" ? XdpAction.REDIRECT : TcAction.REDIRECT;
  const DROP = hook === "xdp" ? XdpAction.DROP : TcAction.SHOT;

  describe(`router next-hop resolution (${hook})`, () => {
    let rig: Rig;
    before(async () => {
      rig = await openRig(hook);
    });
    after(() => rig.close());

    test("IPv4: the packet waits in the control plane while it asks, then leaves with the answer", () => {
      const r = rig.t.run(toV4("198.18.2.7", 1), 0);
      assert.equal(r.retval, DROP);
      assert.deepEqual(r.drops, [FrameworkDrop.TO_CP]);
      const [rec, ...more] = slowPath(rig);
      assert.equal(more.length, 0);
      assert.equal(rec.reason, CpReason.RESOLVE);
      assert.equal(rec.port, 0);
      assert.equal(rec.user, 1, "the egress port");
      assert.deepEqual(
        rec.data,
        eth(
          MAC_P0,
          MAC_H1,
          0x0800,
          ipv4({ src: "198.18.1.1", dst: "198.18.2.7", id: 1, ttl: 63 }, udpPayload(40)),
        ),
        "TTL already decremented",
      );

      rig.router.packet(rec);
      assert.deepEqual(rig.ctx.takeSent(), [
        { port: 1, frame: eth(BCAST, MAC_P1, 0x0806, arp(1, MAC_P1, "198.18.2.254", ZERO, "198.18.2.7")) },
      ]);
      assert.equal(rig.router.neighList().find((n) => n.address === "198.18.2.7")?.state, "incomplete");

      runAndDeliver(rig, toV4("198.18.2.7", 2), 0);
      assert.deepEqual(rig.ctx.takeSent(), [], "one question per next hop");
      assert.deepEqual(rig.router.resolver.waiting, { nextHops: 1, packets: 2 });

      const reply = eth(MAC_P1, MAC_X, 0x0806, arp(2, MAC_X, "198.18.2.7", MAC_P1, "198.18.2.254"));
      const rr = runAndDeliver(rig, reply, 1);
      assert.deepEqual(rr.drops, [FrameworkDrop.TO_CP], "the reply goes to the control plane");
      const sent = rig.ctx.takeSent();
      assert.deepEqual(
        sent,
        [1, 2].map((id) => ({
          port: 1,
          frame: eth(
            MAC_X,
            MAC_P1,
            0x0800,
            ipv4({ src: "198.18.1.1", dst: "198.18.2.7", id, ttl: 63 }, udpPayload(40)),
          ),
        })),
      );
      assert.deepEqual(rig.router.resolver.waiting, { nextHops: 0, packets: 0 });

      const direct = rig.t.run(toV4("198.18.2.7", 3), 0);
      assert.equal(direct.retval, REDIRECT, "resolved: forwarded in the kernel");
      assert.deepEqual(direct.data.subarray(0, 12), Buffer.concat([mac(MAC_X), mac(MAC_P1)]));
      const n = rig.router.neighList().find((x) => x.address === "198.18.2.7");
      assert.equal(n?.state, "reachable");
      assert.ok(
        typeof n?.age === "number" && n.age >= 0 && n.age < 5,
        `age on the data plane's clock (${String(n?.age)})`,
      );
    });

    test("IPv6: a neighbour solicitation to the solicited-node group, the advertisement releases the queue", () => {
      const frame = (id: number) =>
        eth(MAC_P0, MAC_H1, 0x86dd, ipv6({ src: "fd00:1::1", dst: "fd00:2::7" }, udpPayload(id)));
      runAndDeliver(rig, frame(10), 0);
      const body = Buffer.concat([Buffer.alloc(4), ip6("fd00:2::7"), Buffer.from([1, 1]), mac(MAC_P1)]);
      const ns = eth(
        "33:33:ff:00:00:07",
        MAC_P1,
        0x86dd,
        ipv6(
          { src: "fd00:2::fe", dst: "ff02::1:ff00:7", hlim: 255, next: 58 },
          icmp6("fd00:2::fe", "ff02::1:ff00:7", 135, 0, body),
        ),
      );
      assert.deepEqual(rig.ctx.takeSent(), [{ port: 1, frame: ns }]);

      const na = naFrame(MAC_X, "fd00:2::7", MAC_P1, "fd00:2::fe");
      assert.deepEqual(runAndDeliver(rig, na, 1).drops, [FrameworkDrop.TO_CP]);
      assert.deepEqual(rig.ctx.takeSent(), [
        {
          port: 1,
          frame: eth(
            MAC_X,
            MAC_P1,
            0x86dd,
            ipv6({ src: "fd00:1::1", dst: "fd00:2::7", hlim: 63 }, udpPayload(10)),
          ),
        },
      ]);
      assert.equal(rig.t.run(frame(11), 0).retval, REDIRECT);
    });

    test("a next hop that never answers: three tries, then the packets are counted and their senders told", () => {
      const before = cpDrops(rig, Drop.UNRESOLVED);
      const t0 = rig.clock.ms;
      runAndDeliver(rig, toV4("198.18.2.9", 20), 0);
      assert.equal(rig.ctx.takeSent().length, 1);
      rig.clock.ms = t0 + 500;
      rig.router.resolver.tick();
      assert.equal(rig.ctx.takeSent().length, 0, "not before the retransmit time");
      rig.clock.ms = t0 + 1000;
      rig.router.resolver.tick();
      rig.clock.ms = t0 + 2000;
      rig.router.resolver.tick();
      const asks = rig.ctx.takeSent();
      assert.equal(asks.length, 2);
      for (const a of asks)
        assert.deepEqual(
          a.frame,
          eth(BCAST, MAC_P1, 0x0806, arp(1, MAC_P1, "198.18.2.254", ZERO, "198.18.2.9")),
        );

      rig.clock.ms = t0 + 3000;
      rig.router.resolver.tick();
      const [err, ...rest] = rig.ctx.takeSent();
      assert.equal(rest.length, 0);
      assert.equal(err.port, 0, "back out of the port the packet came in");
      const out = err.frame;
      assert.deepEqual(out.subarray(0, 14), eth(MAC_H1, MAC_P0, 0x0800, Buffer.alloc(0)));
      const ip = out.subarray(14);
      assert.deepEqual([...ip.subarray(12, 20)], [198, 18, 1, 254, 198, 18, 1, 1]);
      assert.deepEqual([ip[20], ip[21]], [3, 1], "host unreachable");
      assert.deepEqual(
        ip.subarray(28),
        ipv4({ src: "198.18.1.1", dst: "198.18.2.9", id: 20, ttl: 63 }, udpPayload(40)),
      );
      assert.ok(ipv4ChecksumsOk(ip));
      assert.equal(cpDrops(rig, Drop.UNRESOLVED), before + 1n, "counted as dropped, reason unresolved");
      assert.ok(rig.ctx.events.some((e) => e.kind === "neigh.failed" && e.message.includes("198.18.2.9")));
      assert.equal(
        rig.router.neighList().find((n) => n.address === "198.18.2.9"),
        undefined,
        "forgotten: the next packet asks again",
      );

      runAndDeliver(rig, toV4("198.18.2.9", 21), 0);
      assert.equal(rig.ctx.takeSent().length, 1);
    });

    test("a neighbour that asks for the router meanwhile releases its queue (learned in the kernel)", () => {
      runAndDeliver(rig, toV4("198.18.2.8", 30), 0);
      rig.ctx.takeSent();
      const ask = eth(BCAST, MAC_X, 0x0806, arp(1, MAC_X, "198.18.2.8", ZERO, "198.18.2.254"));
      assert.equal(rig.t.run(ask, 1).retval, REDIRECT, "answered in the data plane");
      rig.router.resolver.tick();
      assert.deepEqual(rig.ctx.takeSent(), [
        {
          port: 1,
          frame: eth(
            MAC_X,
            MAC_P1,
            0x0800,
            ipv4({ src: "198.18.1.1", dst: "198.18.2.8", id: 30, ttl: 63 }, udpPayload(40)),
          ),
        },
      ]);
    });

    test("announcements update known neighbours only", () => {
      const ask = eth(BCAST, MAC_H1, 0x0806, arp(1, MAC_H1, "198.18.1.1", ZERO, "198.18.1.254"));
      rig.t.run(ask, 0);
      const moved = "02:00:00:00:0d:01";
      const garp = eth(BCAST, moved, 0x0806, arp(1, moved, "198.18.1.1", ZERO, "198.18.1.1"));
      assert.deepEqual(runAndDeliver(rig, garp, 0).drops, [FrameworkDrop.TO_CP]);
      assert.equal(rig.router.neighList().find((n) => n.address === "198.18.1.1")?.mac, moved);
      const stranger = eth(BCAST, moved, 0x0806, arp(1, moved, "198.18.1.77", ZERO, "198.18.1.77"));
      assert.deepEqual(
        runAndDeliver(rig, stranger, 0).drops,
        [Drop.NOT_FOR_ROUTER],
        "strangers stay in the kernel",
      );
      assert.equal(
        rig.router.neighList().find((n) => n.address === "198.18.1.77"),
        undefined,
      );
    });

    test("learned neighbours are re-confirmed with unicast probes, and forgotten when silent", () => {
      for (const [h, m] of [
        ["198.18.1.31", "02:00:00:00:0e:31"],
        ["198.18.1.32", "02:00:00:00:0e:32"],
      ])
        rig.t.run(eth(BCAST, m, 0x0806, arp(1, m, h, ZERO, "198.18.1.254")), 0);
      const real = rig.router.nowNs;
      rig.router.nowNs = () => real() + 31_000_000_000n;
      try {
        rig.router.resolver.age();
        const states = rig.router.neighList().filter((n) => String(n.address).startsWith("198.18.1.3"));
        assert.deepEqual(states.map((n) => n.state).sort(), ["probe", "probe"]);
        const t0 = rig.clock.ms;
        rig.router.resolver.tick();
        // (every learned neighbour is due; these two are the ones looked at)
        const probes = rig.ctx
          .takeSent()
          .filter(
            (s) =>
              s.frame.readUInt16BE(12) === 0x0806 &&
              s.frame[38 + 2] === 1 &&
              s.frame[41] >= 31 &&
              s.frame[41] <= 32,
          )
          .sort((a, b) => a.frame[41] - b.frame[41]);
        assert.deepEqual(
          probes.map((p) => p.frame),
          [
            eth("02:00:00:00:0e:31", MAC_P0, 0x0806, arp(1, MAC_P0, "198.18.1.254", ZERO, "198.18.1.31")),
            eth("02:00:00:00:0e:32", MAC_P0, 0x0806, arp(1, MAC_P0, "198.18.1.254", ZERO, "198.18.1.32")),
          ],
          "unicast to the known MAC",
        );
        runAndDeliver(
          rig,
          eth(
            MAC_P0,
            "02:00:00:00:0e:31",
            0x0806,
            arp(2, "02:00:00:00:0e:31", "198.18.1.31", MAC_P0, "198.18.1.254"),
          ),
          0,
        );
        for (const dt of [1000, 2000, 3000]) {
          rig.clock.ms = t0 + dt;
          rig.router.resolver.tick();
        }
        const left = rig.router.neighList().filter((n) => String(n.address).startsWith("198.18.1.3"));
        assert.deepEqual(
          left.map((n) => [n.address, n.state]),
          [["198.18.1.31", "reachable"]],
        );
        assert.ok(
          rig.ctx.events.some((e) => e.kind === "neigh.expired" && e.message.includes("198.18.1.32")),
        );
      } finally {
        rig.router.nowNs = real;
      }
    });
  });

  describe(`router limits (${hook})`, () => {
    let rig: Rig;
    before(async () => {
      rig = await openRig(hook, { config: { neighQueueLength: 2, icmpRate: 1, icmpBurst: 2 } });
    });
    after(() => rig.close());

    test("a full queue: the overflow is counted, then the data plane drops without asking", () => {
      for (let id = 1; id <= 3; id++) runAndDeliver(rig, toV4("198.18.2.50", id), 0);
      assert.deepEqual(rig.router.resolver.waiting, { nextHops: 1, packets: 2 });
      assert.equal(cpDrops(rig, Drop.UNRESOLVED), 1n);
      const r = rig.t.run(toV4("198.18.2.50", 4), 0);
      assert.equal(r.retval, DROP);
      assert.deepEqual(r.drops, [Drop.UNRESOLVED]);
      assert.equal(slowPath(rig).length, 0);
      rig.ctx.takeSent();
      runAndDeliver(rig, eth(MAC_P1, MAC_X, 0x0806, arp(2, MAC_X, "198.18.2.50", MAC_P1, "198.18.2.254")), 1);
      assert.deepEqual(
        rig.ctx.takeSent().map((s) => s.frame.readUInt16BE(18)),
        [1, 2],
        "the queued packets, in order",
      );
      assert.equal(rig.t.run(toV4("198.18.2.50", 5), 0).retval, REDIRECT);
    });

    test("ICMP errors are rate-limited in the data plane", () => {
      const ttl1 = eth(
        MAC_P0,
        MAC_H1,
        0x0800,
        ipv4({ src: "198.18.1.1", dst: "198.18.2.1", ttl: 1 }, udpPayload(10)),
      );
      const verdicts = [1, 2, 3].map(() => rig.t.run(ttl1, 0));
      assert.deepEqual(
        verdicts.map((v) => v.retval),
        [REDIRECT, REDIRECT, DROP],
      );
      for (const v of verdicts) assert.deepEqual(v.drops, [Drop.TTL], "counted either way");
    });
  });
}
