// The firewall's data plane with its control plane, run alone with BPF_PROG_TEST_RUN in both hooks:
// rule order, every match field in both families, negation, counters, count rules, default
// policies, reject answers (TCP reset, ICMP and ICMPv6 unreachable), parsing corner cases.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { Drop } from "../../../nf/firewall/cp/abi.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { DUT_MAC, GEN_MAC, TCPF, decode, frame, ipPart } from "./frames.js";
import { openFirewall, type FwHarness } from "./harness.js";

for (const hook of ["xdp", "tc"] as const) {
  describe(`firewall data plane (${hook})`, () => {
    let bpffs: Bpffs;
    let h: FwHarness;
    before(async () => {
      bpffs = mountBpffs();
      h = await openFirewall(hook, bpffs.path, { conntrack: false });
    });
    after(() => {
      h?.close();
      bpffs?.cleanup();
    });
    beforeEach(async () => {
      h.configure({ policy: "accept", conntrack: false, nonIp: "accept", rejectRate: 0 });
      await h.fw.addRuleSet({ name: "t", rules: [] });
      for (const r of h.fw.listRules()) if (r.from === "rules") await h.fw.deleteRule({ id: r.id });
    });
    const load = (rules: Record<string, unknown>[]) => h.fw.addRuleSet({ name: "t", rules });
    const verdict = (o: Parameters<typeof frame>[0]) => h.run(frame(o)).verdict;

    test("the first rule in id order that matches decides", async () => {
      await load([
        { id: 20, action: "drop", proto: "udp" },
        { id: 10, action: "accept", proto: "udp", dport: 53 },
      ]);
      assert.equal(verdict({ dport: 53 }), "pass");
      assert.equal(verdict({ dport: 54 }), "drop");
      assert.equal(verdict({ proto: "tcp", dport: 53 }), "pass", "no rule: the default policy");
      const r = h.run(frame({ dport: 54 }));
      assert.deepEqual(r.drops, [Drop.RULE]);
    });

    test("nested prefixes: the most specific rule is not special, the order is", async () => {
      await load([
        { id: 10, action: "accept", src: "198.18.1.0/24" },
        { id: 20, action: "drop", src: "198.18.0.0/15" },
        { id: 30, action: "accept", src: "198.18.1.128/25" }, // after 10: never decides
        { id: 40, action: "drop", src: "fd00:1::/64" },
        { id: 50, action: "accept", src: "fd00::/8" },
      ]);
      assert.equal(verdict({ src: "198.18.1.200" }), "pass");
      assert.equal(verdict({ src: "198.18.2.1", dst: "198.18.1.1" }), "drop");
      assert.equal(verdict({ src: "198.19.255.1", dst: "198.18.1.1" }), "drop");
      assert.equal(verdict({ src: "198.20.0.1", dst: "198.18.1.1" }), "pass", "outside every prefix");
      assert.equal(verdict({ src: "fd00:1::5", dst: "fd00:2::1" }), "drop");
      assert.equal(verdict({ src: "fd00:3::5", dst: "fd00:2::1" }), "pass");
      assert.equal(verdict({ src: "fd01::1", dst: "fd00:2::1" }), "pass");
    });

    test("destination prefixes, lists and negation in both families", async () => {
      await load([
        { id: 10, action: "drop", dst: "!198.18.2.0/24,198.18.3.0/24" },
        { id: 20, action: "drop", dst: ["fd00:9::/32", "fd00:8::1"] },
      ]);
      assert.equal(verdict({ dst: "198.18.2.9" }), "pass");
      assert.equal(verdict({ dst: "198.18.3.9" }), "pass");
      assert.equal(verdict({ dst: "198.18.4.9" }), "drop");
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:9:1::1" }), "drop");
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:8::1" }), "drop");
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:8::2" }), "pass");
    });

    test("a rule with IPv4 addresses does not match IPv6 packets, and family restricts", async () => {
      await load([
        { id: 10, action: "drop", src: "!198.18.9.0/24" },
        { id: 20, action: "drop", family: "ipv6", proto: "udp", dport: 7 },
      ]);
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:2::1" }), "pass");
      assert.equal(verdict({ src: "198.18.1.1" }), "drop");
      assert.equal(verdict({ src: "198.18.9.1" }), "pass");
      assert.equal(verdict({ src: "198.18.9.1", dport: 7 }), "pass");
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:2::1", dport: 7 }), "drop");
    });

    test("protocols, port ranges, lists and negated ports", async () => {
      await load([
        { id: 10, action: "accept", proto: "tcp", dport: "22,80,8000-8099" },
        { id: 20, action: "drop", proto: "tcp" },
        { id: 30, action: "drop", proto: "udp", sport: "!1024-65535" },
        { id: 40, action: "drop", proto: "47" },
      ]);
      for (const p of [22, 80, 8000, 8050, 8099])
        assert.equal(verdict({ proto: "tcp", dport: p }), "pass", `tcp ${p}`);
      for (const p of [21, 81, 7999, 8100, 65535])
        assert.equal(verdict({ proto: "tcp", dport: p }), "drop", `tcp ${p}`);
      assert.equal(verdict({ proto: "udp", sport: 53 }), "drop");
      assert.equal(verdict({ proto: "udp", sport: 1024 }), "pass");
      assert.equal(verdict({ proto: 47 }), "drop");
      assert.equal(verdict({ proto: 50 }), "pass");
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:2::1", proto: "tcp", dport: 9 }), "drop");
    });

    test("ICMP and ICMPv6 types and codes", async () => {
      await load([
        { id: 10, action: "accept", proto: "icmp", icmpType: "echo-request" },
        { id: 20, action: "accept", proto: "icmpv6", icmpType: "echo-request" },
        { id: 30, action: "accept", proto: "icmp", icmpType: 3, icmpCode: "0-3" },
        { id: 40, action: "drop", proto: "icmp,icmpv6" },
      ]);
      assert.equal(verdict({ proto: "icmp", icmpType: 8 }), "pass");
      assert.equal(verdict({ proto: "icmp", icmpType: 0 }), "drop");
      assert.equal(verdict({ proto: "icmp", icmpType: 3, icmpCode: 3 }), "pass");
      assert.equal(verdict({ proto: "icmp", icmpType: 3, icmpCode: 4 }), "drop");
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:2::1", proto: "icmp", icmpType: 128 }), "pass");
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:2::1", proto: "icmp", icmpType: 8 }), "drop");
    });

    test("TCP flags", async () => {
      await load([
        { id: 10, action: "drop", proto: "tcp", tcpFlags: "syn,!ack" },
        { id: 20, action: "drop", proto: "tcp", tcpFlags: "fin,syn/fin,syn" },
      ]);
      assert.equal(verdict({ proto: "tcp", flags: TCPF.SYN }), "drop");
      assert.equal(verdict({ proto: "tcp", flags: TCPF.SYN | TCPF.ACK }), "pass");
      assert.equal(verdict({ proto: "tcp", flags: TCPF.ACK }), "pass");
      assert.equal(verdict({ proto: "tcp", flags: TCPF.SYN | TCPF.FIN | TCPF.ACK }), "drop");
    });

    test("per-rule packet and byte counters, and the policy's", async () => {
      await load([
        { id: 10, action: "count", proto: "udp" },
        { id: 20, action: "accept", proto: "udp", dport: 53 },
        { id: 30, action: "drop", proto: "udp" },
      ]);
      const f53 = frame({ dport: 53, payload: Buffer.alloc(20) });
      for (let i = 0; i < 3; i++) assert.equal(h.run(f53).verdict, "pass");
      assert.equal(verdict({ dport: 54 }), "drop");
      assert.equal(verdict({ proto: "tcp" }), "pass");
      const rows = new Map(h.fw.listRules().map((r) => [r.id, r]));
      assert.equal(rows.get(10)?.packets, 4, "count rules count and let the search go on");
      assert.equal(rows.get(20)?.packets, 3);
      assert.equal(rows.get(20)?.bytes, 3 * f53.length);
      assert.equal(rows.get(30)?.packets, 1);
      assert.ok((rows.get("policy")?.packets as number) >= 1);
    });

    test("counters stay with unchanged rules across rule-set changes; a changed rule starts again", async () => {
      await load([
        { id: 10, action: "drop", proto: "udp", dport: 1 },
        { id: 20, action: "drop", proto: "udp", dport: 2 },
      ]);
      h.run(frame({ dport: 1 }));
      h.run(frame({ dport: 2 }));
      await load([
        { id: 10, action: "drop", proto: "udp", dport: 1 },
        { id: 20, action: "drop", proto: "udp", dport: 3 },
        { id: 15, action: "accept", proto: "udp", dport: 9 },
      ]);
      const rows = new Map(h.fw.listRules().map((r) => [r.id, r]));
      assert.equal(rows.get(10)?.packets, 1);
      assert.equal(rows.get(20)?.packets, 0);
      assert.equal(rows.get(15)?.packets, 0);
      assert.equal(verdict({ dport: 2 }), "pass");
      assert.equal(verdict({ dport: 3 }), "drop");
    });

    test("default policies: accept, drop, reject", async () => {
      h.configure({ policy: "drop" });
      const r = h.run(frame());
      assert.equal(r.verdict, "drop");
      assert.deepEqual(r.drops, [Drop.POLICY]);
      h.configure({ policy: "reject" });
      assert.equal(h.run(frame({ proto: "tcp" })).verdict, "back");
      h.configure({ policy: "accept" });
      assert.equal(h.run(frame()).verdict, "pass");
    });

    test("frames that are not IP pass, or are dropped when configured", async () => {
      const arp = Buffer.concat([frame().subarray(0, 12), Buffer.from([0x08, 0x06]), Buffer.alloc(28)]);
      h.configure({ policy: "drop" });
      assert.equal(h.run(arp).verdict, "pass");
      h.configure({ nonIp: "drop" });
      assert.deepEqual(h.run(arp).drops, [Drop.NOT_IP]);
    });

    test("neighbour discovery passes before the rules unless filtered", async () => {
      h.configure({ policy: "drop" });
      const ns = frame({ src: "fe80::1", dst: "ff02::1:ff00:2", proto: "icmp", icmpType: 135 });
      assert.equal(h.run(ns).verdict, "pass");
      h.configure({ neighborDiscovery: "filter" });
      assert.equal(h.run(ns).verdict, "drop");
    });

    test("VLAN tags, IPv6 extension headers and later fragments", async () => {
      await load([
        { id: 10, action: "drop", proto: "udp", dport: 53 },
        { id: 20, action: "drop", proto: "udp", src: "198.18.7.0/24" },
      ]);
      assert.equal(verdict({ dport: 53, vlan: 10 }), "drop");
      assert.equal(verdict({ dport: 54, vlan: 10 }), "pass");
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:2::1", dport: 53, hopByHop: true }), "drop");
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:2::1", dport: 54, hopByHop: true }), "pass");
      // A later fragment has no ports: port rules cannot match it, address rules still do.
      assert.equal(verdict({ dport: 53, laterFragment: true }), "pass");
      assert.equal(verdict({ src: "198.18.7.1", laterFragment: true }), "drop");
      assert.equal(verdict({ src: "fd00:1::1", dst: "fd00:2::1", dport: 53, laterFragment: true }), "pass");
    });

    test("a malformed IP header is dropped as malformed", async () => {
      const bad = frame();
      bad[14] = 0x41; // IHL 1
      assert.deepEqual(h.run(bad).drops, [Drop.MALFORMED]);
    });

    test("reject TCP: a reset back to the sender, from the address it was sent to", async () => {
      await load([{ id: 10, action: "reject", proto: "tcp", dport: 23 }]);
      for (const [src, dst] of [
        ["198.18.1.1", "198.18.2.1"],
        ["fd00:1::1", "fd00:2::1"],
      ]) {
        const syn = frame({ src, dst, proto: "tcp", sport: 40001, dport: 23, flags: TCPF.SYN, seq: 5000 });
        const r = h.run(syn);
        assert.equal(r.verdict, "back", `${src}: sent back`);
        assert.deepEqual(r.drops, [Drop.REJECT]);
        const d = decode(r.data);
        assert.equal(d.srcMac, DUT_MAC);
        assert.equal(d.dstMac, GEN_MAC);
        assert.equal(d.proto, 6);
        assert.ok(d.checksumsOk, "IP and TCP checksums");
        assert.equal(d.l4.readUInt16BE(0), 23);
        assert.equal(d.l4.readUInt16BE(2), 40001);
        assert.equal(d.l4[13], TCPF.RST | TCPF.ACK);
        assert.equal(d.l4.readUInt32BE(8), 5001, "acknowledges the SYN");
        assert.equal(d.l4.length, 20);
        // An ACK is answered with a reset at the sequence number it acknowledged.
        const ack = frame({
          src,
          dst,
          proto: "tcp",
          sport: 40001,
          dport: 23,
          flags: TCPF.ACK,
          seq: 1,
          ack: 777,
        });
        const a = decode(h.run(ack).data);
        assert.equal(a.l4[13], TCPF.RST);
        assert.equal(a.l4.readUInt32BE(4), 777);
      }
      // No reset about a reset.
      assert.equal(verdict({ proto: "tcp", dport: 23, flags: TCPF.RST }), "drop");
    });

    test("reject UDP: ICMP and ICMPv6 port unreachable quoting the packet", async () => {
      await load([
        { id: 10, action: "reject", proto: "udp", dport: 69 },
        { id: 20, action: "reject", rejectWith: "admin-prohibited", proto: "udp", dport: 70 },
      ]);
      const f4 = frame({ dport: 69, payload: Buffer.alloc(30, 1), vlan: 5 });
      const r4 = h.run(f4);
      assert.equal(r4.verdict, "back");
      const d4 = decode(r4.data);
      assert.equal(d4.vlan, 5, "the tag stays");
      assert.equal(d4.src, "198.18.2.1");
      assert.equal(d4.dst, "198.18.1.1");
      assert.equal(d4.proto, 1);
      assert.ok(d4.checksumsOk);
      assert.deepEqual([d4.l4[0], d4.l4[1]], [3, 3]);
      assert.deepEqual(d4.l4.subarray(8), ipPart(f4), "quotes the whole (short) packet");
      const d4b = decode(h.run(frame({ dport: 70 })).data);
      assert.deepEqual([d4b.l4[0], d4b.l4[1]], [3, 13]);

      const f6 = frame({ src: "fd00:1::1", dst: "fd00:2::1", dport: 69, payload: Buffer.alloc(200, 2) });
      const d6 = decode(h.run(f6).data);
      assert.equal(d6.proto, 58);
      assert.ok(d6.checksumsOk);
      assert.deepEqual([d6.l4[0], d6.l4[1]], [1, 4]);
      assert.deepEqual(d6.l4.subarray(8), ipPart(f6).subarray(0, 128), "quotes the first 128 bytes");
    });

    test("rejects are rate limited: over the limit the packet is only dropped", async () => {
      await load([{ id: 10, action: "reject", proto: "udp" }]);
      h.configure({ rejectRate: 1, rejectBurst: 2 });
      const verdicts = Array.from({ length: 5 }, () => h.run(frame()).verdict);
      assert.deepEqual(verdicts.slice(0, 2), ["back", "back"]);
      assert.deepEqual(verdicts.slice(2), ["drop", "drop", "drop"]);
    });
  });
}
