// The NAT's data plane with its control plane, through BPF_PROG_TEST_RUN in both hooks: source NAT
// with port preservation and collision-free allocation, pools, masquerade, destination NAT and port
// forwarding, ICMP echo identifiers, NAT66 and NPTv6, replies translated back by a second instance
// of the zone, checksums (checked from scratch), exhaustion, a full table, timeouts and collection.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { parseAddr } from "../../../nf/nat/cp/addr.js";
import {
  CFG_SIZE,
  CT_ENTRY_SIZE,
  CT_KEY_SIZE,
  RULES_SIZE,
  SESS_SIZE,
  TUPLE_SIZE,
} from "../../../nf/nat/cp/abi.js";
import {
  canon,
  frame,
  icmpError,
  parse,
  quotedOf,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  type Pkt,
} from "./frames.js";
import { openNat, type Hook, type NatRig } from "./support.js";

const DROP_NO_PORT = 1;
const DROP_FULL = 2;

for (const hook of ["xdp", "tc"] as Hook[]) {
  describe(`nat data plane (${hook})`, () => {
    let fs: Bpffs;
    let out: NatRig; // where connections leave (rules)
    let back: NatRig; // where replies come in (same zone, no rules)

    before(async () => {
      fs = mountBpffs();
      out = await openNat(hook, { timeouts: { udp: 1, icmp: 1 } }, { bpffs: fs, slot: 1, name: "out" });
      back = await openNat(hook, {}, { bpffs: fs, slot: 2, name: "in" });
    });
    after(() => {
      back?.close();
      out?.close();
      fs?.cleanup();
    });

    const reset = () => {
      for (const r of out.nat.listRules()) out.nat.deleteRule({ id: r.id });
      out.nat.deleteSessions({});
    };
    const send = (r: NatRig, p: Pkt | Buffer) => r.run(Buffer.isBuffer(p) ? p : frame(p));
    /** The reply to a translated packet, as it arrives from the other side. */
    const reply = (
      p: { src: string; dst: string; sport: number; dport: number },
      proto: Pkt["proto"],
      extra: Partial<Pkt> = {},
    ) =>
      send(back, {
        proto,
        src: p.dst,
        dst: p.src,
        sport: p.dport,
        dport: p.sport,
        id: p.sport,
        reply: true,
        flags: TCP_SYN | TCP_ACK,
        ...extra,
      });

    test("source NAT keeps the port, translates replies back, checksums stay right", () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", src: "198.18.1.0/24", to: "198.18.2.254" });
      for (const proto of ["tcp", "udp"] as const) {
        const o = send(out, { proto, src: "198.18.1.1", dst: "198.18.2.1", sport: 40000, dport: 80 });
        assert.equal(o.verdict, "pass");
        assert.deepEqual([o.p.src, o.p.sport, o.p.dst, o.p.dport], ["198.18.2.254", 40000, "198.18.2.1", 80]);
        assert.ok(o.p.csumOk, `${proto}: checksums after SNAT`);
        const r = reply(o.p, proto);
        assert.equal(r.verdict, "pass");
        assert.deepEqual([r.p.src, r.p.sport, r.p.dst, r.p.dport], ["198.18.2.1", 80, "198.18.1.1", 40000]);
        assert.ok(r.p.csumOk, `${proto}: checksums of the reply`);
        // Later packets of the connection, both ways, take the same mapping.
        const o2 = send(out, {
          proto,
          src: "198.18.1.1",
          dst: "198.18.2.1",
          sport: 40000,
          dport: 80,
          flags: TCP_ACK,
        });
        assert.equal(o2.p.src, "198.18.2.254");
      }
      // Not from the rule's prefix: untouched.
      const other = send(out, { proto: "udp", src: "198.18.3.1", dst: "198.18.2.1" });
      assert.equal(other.p.src, "198.18.3.1");
      const rows = out.nat.listSessions();
      const tcp = rows.find((r) => r.proto === "tcp");
      assert.equal(tcp?.src, "198.18.1.1:40000");
      assert.equal(tcp?.newSrc, "198.18.2.254:40000");
      assert.equal(tcp?.state, "ESTABLISHED", "SYN, SYN-ACK, ACK: the handshake is through");
      assert.equal(rows.find((r) => r.proto === "udp")?.state, "replied");
      // The ingress instance of the zone sees the same mappings.
      assert.equal(back.nat.listSessions().length, rows.length);
    });

    test("established segments skip conntrack's update, FIN and RST still move the state at once", () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", to: "198.18.2.254" });
      const c = { src: "198.18.1.1", dst: "198.18.2.1", sport: 41000, dport: 80 };
      const state = () => out.nat.listSessions().find((r) => r.proto === "tcp")?.state;
      const o = send(out, { proto: "tcp", ...c, flags: TCP_SYN });
      reply(o.p, "tcp");
      // Several segments each way: from the second on, the mapping skips conntrack's update.
      for (let i = 0; i < 3; i++) {
        assert.equal(send(out, { proto: "tcp", ...c, flags: TCP_ACK }).p.src, "198.18.2.254");
        assert.equal(reply(o.p, "tcp", { flags: TCP_ACK }).p.dst, "198.18.1.1");
      }
      assert.equal(state(), "ESTABLISHED");
      const fin = send(out, { proto: "tcp", ...c, flags: TCP_FIN | TCP_ACK });
      assert.ok(fin.p.csumOk);
      assert.equal(state(), "FIN_WAIT", "a FIN goes through conntrack");
      assert.equal(reply(o.p, "tcp", { flags: TCP_ACK }).p.dst, "198.18.1.1");
      assert.equal(state(), "CLOSE_WAIT", "and so does the next segment the other way");
      reply(o.p, "tcp", { flags: TCP_RST });
      assert.equal(state(), "CLOSE", "an RST too");
    });

    test("TCP segments that open nothing pass untranslated; a mapping needs a SYN", () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", to: "198.18.2.254" });
      const ack = send(out, { proto: "tcp", src: "198.18.1.1", dst: "198.18.2.1", flags: TCP_ACK });
      assert.equal(ack.p.src, "198.18.1.1");
      assert.equal(out.nat.listSessions().length, 0);
    });

    test("ports are allocated without collisions, per destination, and run out cleanly", () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", src: "198.18.1.0/24", to: "198.18.2.254:5000-5001" });
      const seen = new Set<number>();
      for (const host of ["198.18.1.1", "198.18.1.2"]) {
        const o = send(out, { proto: "udp", src: host, dst: "198.18.2.1", sport: 40000, dport: 53 });
        assert.equal(o.verdict, "pass");
        assert.ok(o.p.sport >= 5000 && o.p.sport <= 5001, `port ${o.p.sport} in range`);
        assert.ok(!seen.has(o.p.sport), "no two connections share an outside port");
        seen.add(o.p.sport);
        assert.ok(o.p.csumOk);
        const r = reply(o.p, "udp");
        assert.equal(r.p.dst, host, "the reply finds its own host");
        assert.equal(r.p.dport, 40000);
      }
      const third = send(out, {
        proto: "udp",
        src: "198.18.1.3",
        dst: "198.18.2.1",
        sport: 40000,
        dport: 53,
      });
      assert.equal(third.verdict, "drop");
      assert.deepEqual(third.drops, [DROP_NO_PORT]);
      // Another destination: the same outside ports serve again.
      const elsewhere = send(out, {
        proto: "udp",
        src: "198.18.1.3",
        dst: "198.18.2.2",
        sport: 40000,
        dport: 53,
      });
      assert.equal(elsewhere.verdict, "pass");
      assert.equal(out.nat.stats().noFreePort, 1);
    });

    test("a pool gives each inside host one address", () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", to: "198.18.2.10-198.18.2.13" });
      for (const host of ["198.18.1.1", "198.18.1.2", "198.18.1.3"]) {
        const addrs = new Set<string>();
        for (let port = 1; port <= 4; port++) {
          const o = send(out, { proto: "udp", src: host, dst: `198.18.2.${port}`, sport: 40000 + port });
          addrs.add(o.p.src);
        }
        assert.equal(addrs.size, 1, `${host} -> ${[...addrs].join(",")}`);
        assert.match([...addrs][0], /^198\.18\.2\.1[0-3]$/);
      }
    });

    test("ICMP echo identifiers are mapped and replies come back", () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", to: "198.18.2.254" });
      const a = send(out, { proto: "icmp", src: "198.18.1.1", dst: "198.18.2.1", id: 77 });
      const b = send(out, { proto: "icmp", src: "198.18.1.2", dst: "198.18.2.1", id: 77 });
      assert.equal(a.p.sport, 77, "the first keeps its identifier");
      assert.notEqual(b.p.sport, 77, "the second gets another");
      assert.ok(a.p.csumOk && b.p.csumOk);
      const rb = reply(b.p, "icmp");
      assert.deepEqual([rb.p.dst, rb.p.sport], ["198.18.1.2", 77]);
      assert.ok(rb.p.csumOk);
    });

    test("ICMP errors about mapped connections reach the inside host, the quote translated back", () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", src: "198.18.1.0/24", to: "198.18.2.254:6000-6010" });
      out.nat.addRule({ id: 20, type: "snat", src: "fd00:1::/64", to: "[fd00:2::fe]:6000-6010" });
      const cases = [
        ["198.18.1.1", "198.18.3.1", "198.18.2.9"],
        ["fd00:1::1", "fd00:3::1", "fd00:2::9"],
      ] as const;
      for (const [inside, remote, router] of cases)
        for (const proto of ["udp", "tcp", "icmp"] as const) {
          const what = `${proto} from ${inside}`;
          const o = send(out, { proto, src: inside, dst: remote, sport: 40000, dport: 53, id: 99 });
          assert.ok(o.p.sport >= 6000 && o.p.sport <= 6010, `${what}: mapped`);
          const own = proto === "icmp" ? [99, 99] : [40000, 53];
          // A router on the way: too big, time exceeded; the remote itself: unreachable.
          for (const [from, type] of [
            [router, undefined],
            [router, inside.includes(":") ? 3 : 11],
            [remote, undefined],
          ] as const) {
            const e = send(back, icmpError({ src: from, dst: o.p.src, quoted: o.frame, type }));
            assert.equal(e.verdict, "pass");
            assert.deepEqual(
              [e.p.src, e.p.dst],
              [canon(from), canon(inside)],
              `${what}: the error's addresses`,
            );
            assert.ok(e.p.csumOk, `${what}: the error's checksums`);
            const q = parse(quotedOf(e.frame));
            assert.deepEqual(
              [q.src, q.sport, q.dst, q.dport],
              [canon(inside), own[0], canon(remote), own[1]],
              `${what}: the quote as the inside host sent it`,
            );
            assert.ok(q.csumOk, `${what}: the quote's checksums`);
          }
          // A quote cut after 8 bytes of TCP (without its checksum) is translated too.
          const cut = send(
            back,
            icmpError({
              src: router,
              dst: o.p.src,
              quoted: o.frame,
              quote: (inside.includes(":") ? 40 : 20) + 8,
            }),
          );
          assert.equal(cut.p.dst, canon(inside));
          assert.ok(cut.p.csumOk, `${what}: a short quote's checksums`);
        }
      assert.equal(back.nat.stats().icmpErrors, 24);
      // An error about nothing mapped passes as it is.
      const stray = frame({ proto: "udp", src: "198.18.2.254", dst: "198.18.3.1", sport: 7000, dport: 53 });
      const e = send(back, icmpError({ src: "198.18.2.9", dst: "198.18.2.254", quoted: stray }));
      assert.equal(e.p.dst, "198.18.2.254");
      assert.equal(back.nat.stats().icmpErrors, 24);
    });

    test("destination NAT and port forwarding, with replies from the inside server", () => {
      reset();
      out.nat.addRule({
        id: 20,
        type: "dnat",
        dst: "198.18.2.254",
        proto: "tcp",
        dport: "8080",
        to: "198.18.1.10:80",
      });
      out.nat.addRule({
        id: 30,
        type: "dnat",
        dst: "198.18.2.254",
        proto: "udp",
        dport: "6000-6009",
        to: "198.18.1.11:7000-7009",
      });
      const o = send(out, {
        proto: "tcp",
        src: "198.18.2.1",
        dst: "198.18.2.254",
        sport: 50000,
        dport: 8080,
      });
      assert.deepEqual([o.p.dst, o.p.dport, o.p.src, o.p.sport], ["198.18.1.10", 80, "198.18.2.1", 50000]);
      assert.ok(o.p.csumOk);
      const r = reply(o.p, "tcp");
      assert.deepEqual(
        [r.p.src, r.p.sport],
        ["198.18.2.254", 8080],
        "the server's answer comes from the public address",
      );
      assert.ok(r.p.csumOk);
      const u = send(out, {
        proto: "udp",
        src: "198.18.2.1",
        dst: "198.18.2.254",
        sport: 50000,
        dport: 6003,
      });
      assert.deepEqual([u.p.dst, u.p.dport], ["198.18.1.11", 7003], "a range maps onto a range");
      const miss = send(out, { proto: "tcp", src: "198.18.2.1", dst: "198.18.2.254", dport: 22 });
      assert.equal(miss.p.dst, "198.18.2.254");
    });

    test("masquerade follows the interface's address", () => {
      reset();
      out.nat.addRule({ id: 10, type: "masquerade", out: "wan0" });
      assert.match(String(out.nat.listRules()[0].address), /^none/);
      assert.equal(send(out, { proto: "udp", src: "198.18.1.1", dst: "198.18.2.1" }).p.src, "198.18.1.1");
      out.ifaddrs.set("wan0", parseAddr("198.18.2.77") as never);
      out.nat.tick();
      assert.equal(
        send(out, { proto: "udp", src: "198.18.1.1", dst: "198.18.2.1", sport: 41000 }).p.src,
        "198.18.2.77",
      );
      out.ifaddrs.delete("wan0");
      out.nat.tick();
    });

    test("IPv6: stateful NAT66 and checksum-neutral prefix translation", () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", src: "fd00:1::/64", to: "fd00:2::fe" });
      const o = send(out, { proto: "tcp", src: "fd00:1::1", dst: "fd00:2::1", sport: 40000, dport: 443 });
      assert.deepEqual([o.p.src, o.p.sport], [canon("fd00:2::fe"), 40000]);
      assert.ok(o.p.csumOk);
      const r = reply(o.p, "tcp");
      assert.equal(r.p.dst, canon("fd00:1::1"));
      assert.ok(r.p.csumOk);
      const i = send(out, { proto: "icmp", src: "fd00:1::1", dst: "fd00:2::1", id: 5 });
      assert.equal(i.p.src, canon("fd00:2::fe"));
      assert.ok(i.p.csumOk);

      reset();
      out.nat.addRule({ id: 10, type: "npt", src: "fd00:1:2::/48", to: "fd00:99:7::/48" });
      back.nat.addRule({ id: 10, type: "npt", src: "fd00:1:2::/48", to: "fd00:99:7::/48" });
      const before = frame({
        proto: "udp",
        src: "fd00:1:2:3::42",
        dst: "fd00:2::1",
        sport: 1111,
        dport: 2222,
      });
      const n = out.run(before);
      assert.ok(n.p.src.startsWith("fd00:99:7:"), n.p.src);
      assert.ok(n.p.csumOk, "prefix translation leaves every checksum right");
      assert.equal(
        n.frame.readUInt16BE(14 + 40 + 6),
        before.readUInt16BE(14 + 40 + 6),
        "without touching the UDP checksum",
      );
      assert.equal(n.p.src.split(":").slice(4).join(":"), "0:0:0:42", "the interface identifier stays");
      const back6 = back.run(
        frame({ proto: "udp", src: "fd00:2::1", dst: n.p.src, sport: 2222, dport: 1111 }),
      );
      assert.equal(back6.p.dst, canon("fd00:1:2:3::42"), "and back to the inside address");
      assert.ok(back6.p.csumOk);
      assert.equal(out.nat.listSessions().length, 0, "stateless");
      back.nat.deleteRule({ id: 10 });
    });

    test("UDP without a checksum stays without one", () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", to: "198.18.2.254" });
      const o = send(out, { proto: "udp", src: "198.18.1.1", dst: "198.18.2.1", noCsum: true });
      assert.equal(o.p.src, "198.18.2.254");
      assert.equal(o.p.udpCsum, 0);
      assert.ok(o.p.csumOk, "the IPv4 header checksum is right");
    });

    test("mappings expire with their connection's timeout and are collected", async () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", to: "198.18.2.254" });
      send(out, { proto: "udp", src: "198.18.1.1", dst: "198.18.2.1", sport: 42000 });
      assert.equal(out.nat.listSessions().length, 1);
      assert.equal(out.nat.collect(), 0, "alive: kept");
      await new Promise((r) => setTimeout(r, 1300)); // udp timeout 1 s
      assert.equal(out.nat.listSessions().length, 0, "expired: not listed");
      assert.equal(out.nat.collect(), 1, "and collected");
      // A reply to the expired mapping is no longer translated.
      const r = send(back, { proto: "udp", src: "198.18.2.1", dst: "198.18.2.254", sport: 53, dport: 42000 });
      assert.equal(r.p.dst, "198.18.2.254");
    });

    test("a port held by an expired connection is taken over before collection", async () => {
      reset();
      out.nat.addRule({ id: 10, type: "snat", to: "198.18.2.254:5000" });
      const from = (host: string) =>
        send(out, { proto: "udp", src: host, dst: "198.18.2.1", sport: 42000, dport: 53 });
      assert.equal(from("198.18.1.1").p.sport, 5000);
      assert.deepEqual(from("198.18.1.2").drops, [DROP_NO_PORT], "the only port is taken");
      await new Promise((r) => setTimeout(r, 1300)); // udp timeout 1 s; no collection runs
      const o = from("198.18.1.2");
      assert.equal(o.verdict, "pass");
      assert.equal(o.p.sport, 5000);
      assert.equal(out.nat.stats().reclaimed, 1);
      const sessions = out.nat.listSessions();
      assert.deepEqual(
        sessions.map((x) => x.src),
        ["198.18.1.2:42000"],
        "the old mapping is gone, both ways",
      );
      const r = send(back, { proto: "udp", src: "198.18.2.1", dst: "198.18.2.254", sport: 53, dport: 5000 });
      assert.equal(r.p.dst, "198.18.1.2", "replies reach the new owner");
      assert.equal(out.nat.collect(), 0, "nothing left to collect");
    });
  });
}

describe("nat data plane: layouts", () => {
  test("the control plane's record sizes are the object's", async () => {
    const r = await openNat("tc", { zone: "abi" });
    try {
      const size = (m: string) => {
        const i = r.t.map(m).info();
        return [i.keySize, i.valueSize];
      };
      assert.deepEqual(size("nat_sess_view"), [TUPLE_SIZE, SESS_SIZE]);
      assert.deepEqual(size("nat_ct_view"), [CT_KEY_SIZE, CT_ENTRY_SIZE]);
      assert.deepEqual(size("nat_rules")[1], RULES_SIZE);
      assert.deepEqual(size("nat_cfg")[1], CFG_SIZE);
    } finally {
      r.close();
    }
  });
});

describe("nat data plane: a full table", () => {
  test("new connections beyond maxConnections are dropped as table_full", async () => {
    const r = await openNat("xdp", { maxConnections: 16, zone: "small" });
    try {
      r.nat.addRule({ id: 1, type: "snat", to: "198.18.2.254" });
      const verdicts = Array.from({ length: 17 }, (_, i) =>
        r.run(frame({ proto: "udp", src: "198.18.1.1", dst: "198.18.2.1", sport: 30000 + i })),
      );
      assert.ok(verdicts.slice(0, 16).every((v) => v.verdict === "pass"));
      assert.equal(verdicts[16].verdict, "drop");
      assert.deepEqual(verdicts[16].drops, [DROP_FULL]);
    } finally {
      r.close();
    }
  });
});
