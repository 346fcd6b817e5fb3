// Connection tracking in the data plane (px_conntrack.h through the firewall), in both hooks: the
// TCP state machine seen from rules on `state`, UDP and ICMP pseudo-connections, ICMP errors
// related to tracked connections, invalid packets, dropped packets leaving no state, a zone shared
// by two instances, expiry and garbage collection.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { collectExpired } from "../../../nf/firewall/cp/conntrack.js";
import { BpfMap } from "../../../src/bpf/map/map.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { TCPF, frame, ipPart } from "./frames.js";
import { openFirewall, type FwHarness } from "./harness.js";

const CLIENT = "198.18.1.1";
const SERVER = "198.18.2.1";

/** A client's firewall: established and related traffic passes, new connections only to port 80. */
const STATEFUL = [
  { id: 10, action: "accept", state: "established,related" },
  { id: 20, action: "accept", proto: "tcp", dport: 80, state: "new" },
  { id: 30, action: "accept", proto: "udp", dport: 53, state: "new" },
  { id: 40, action: "accept", proto: "icmp,icmpv6", state: "new" },
  { id: 50, action: "drop", state: "invalid" },
];

for (const hook of ["xdp", "tc"] as const) {
  describe(`firewall connection tracking (${hook})`, () => {
    let bpffs: Bpffs;
    let h: FwHarness;
    before(async () => {
      bpffs = mountBpffs();
      h = await openFirewall(hook, bpffs.path, { policy: "drop", zone: `z${hook}` });
      await h.fw.addRuleSet({ name: "main", rules: STATEFUL });
    });
    after(() => {
      h?.close();
      bpffs?.cleanup();
    });
    beforeEach(() => {
      h.fw.deleteConnections({});
    });

    const conn = (where: Record<string, unknown>) =>
      h.fw.listConnections().find((c) => Object.entries(where).every(([k, v]) => c[k] === v));

    test("a TCP connection: SYN new, SYN-ACK and the rest established, through FIN to TIME_WAIT", () => {
      const c = { src: CLIENT, dst: SERVER, proto: "tcp" as const, sport: 41000, dport: 80 };
      const s = { src: SERVER, dst: CLIENT, proto: "tcp" as const, sport: 80, dport: 41000 };
      assert.equal(h.run(frame({ ...c, flags: TCPF.SYN })).verdict, "pass");
      assert.equal(conn({ sport: 41000 })?.state, "SYN_SENT");
      assert.equal(conn({ sport: 41000 })?.src, CLIENT, "listed as opened: from the client");
      assert.equal(h.run(frame({ ...s, flags: TCPF.SYN | TCPF.ACK })).verdict, "pass", "the reply");
      assert.equal(conn({ sport: 41000 })?.state, "SYN_RECV");
      assert.equal(h.run(frame({ ...c, flags: TCPF.ACK })).verdict, "pass");
      assert.equal(conn({ sport: 41000 })?.state, "ESTABLISHED");
      assert.equal(conn({ sport: 41000 })?.replied, true);
      assert.equal(
        h.run(frame({ ...s, flags: TCPF.ACK | TCPF.PSH, payload: Buffer.alloc(100) })).verdict,
        "pass",
      );
      assert.equal(h.run(frame({ ...c, flags: TCPF.FIN | TCPF.ACK })).verdict, "pass");
      assert.equal(conn({ sport: 41000 })?.state, "FIN_WAIT");
      assert.equal(h.run(frame({ ...s, flags: TCPF.FIN | TCPF.ACK })).verdict, "pass");
      assert.equal(conn({ sport: 41000 })?.state, "LAST_ACK");
      assert.equal(h.run(frame({ ...c, flags: TCPF.ACK })).verdict, "pass");
      assert.equal(conn({ sport: 41000 })?.state, "TIME_WAIT");
      // The same tuple may open again.
      assert.equal(h.run(frame({ ...c, flags: TCPF.SYN })).verdict, "pass");
      assert.equal(conn({ sport: 41000 })?.state, "SYN_SENT");
      assert.equal(conn({ sport: 41000 })?.replied, false);
    });

    test("a reset closes; packets that fit no connection are invalid", () => {
      const c = { src: CLIENT, dst: SERVER, proto: "tcp" as const, sport: 41001, dport: 80 };
      assert.equal(h.run(frame({ ...c, flags: TCPF.ACK })).verdict, "drop", "an ACK without a connection");
      assert.equal(conn({ sport: 41001 }), undefined, "invalid packets leave nothing behind");
      assert.equal(h.run(frame({ ...c, flags: TCPF.SYN })).verdict, "pass");
      assert.equal(
        h.run(frame({ ...c, flags: TCPF.SYN | TCPF.ACK })).verdict,
        "drop",
        "a SYN-ACK from the side that sent the SYN",
      );
      assert.equal(
        h.run(
          frame({
            src: SERVER,
            dst: CLIENT,
            proto: "tcp",
            sport: 80,
            dport: 41001,
            flags: TCPF.RST | TCPF.ACK,
          }),
        ).verdict,
        "pass",
      );
      assert.equal(conn({ sport: 41001 })?.state, "CLOSE");
      assert.equal(h.run(frame({ ...c, flags: 0 })).verdict, "drop", "a segment with no flags");
    });

    test("dropped packets open nothing: a SYN to a closed port leaves no entry", () => {
      assert.equal(
        h.run(frame({ src: CLIENT, dst: SERVER, proto: "tcp", sport: 41002, dport: 81 })).verdict,
        "drop",
      );
      assert.equal(conn({ sport: 41002 }), undefined);
      assert.equal(
        h.run(
          frame({
            src: SERVER,
            dst: CLIENT,
            proto: "tcp",
            sport: 81,
            dport: 41002,
            flags: TCPF.SYN | TCPF.ACK,
          }),
        ).verdict,
        "drop",
      );
    });

    test("UDP: the first packet is new, the reply and everything after established", () => {
      for (const [a, b] of [
        [CLIENT, SERVER],
        ["fd00:1::1", "fd00:2::1"],
      ]) {
        assert.equal(h.run(frame({ src: a, dst: b, sport: 5353, dport: 53 })).verdict, "pass");
        assert.equal(conn({ src: a, sport: 5353 })?.state, "unreplied");
        assert.equal(h.run(frame({ src: a, dst: b, sport: 5353, dport: 53 })).verdict, "pass", "still new");
        assert.equal(h.run(frame({ src: b, dst: a, sport: 53, dport: 5353 })).verdict, "pass", "the answer");
        assert.equal(conn({ src: a, sport: 5353 })?.state, "replied");
        assert.equal(
          h.run(frame({ src: b, dst: a, sport: 53, dport: 5354 })).verdict,
          "drop",
          "another port",
        );
      }
    });

    test("ICMP echo: request new, reply established; a reply without a request is invalid", () => {
      for (const [a, b] of [
        [CLIENT, SERVER],
        ["fd00:1::1", "fd00:2::1"],
      ]) {
        const v6 = a.includes(":");
        const reply = { src: b, dst: a, proto: "icmp" as const, icmpType: v6 ? 129 : 0, icmpId: 99 };
        assert.equal(h.run(frame({ ...reply, icmpId: 98 })).verdict, "drop");
        assert.equal(
          h.run(frame({ src: a, dst: b, proto: "icmp", icmpType: v6 ? 128 : 8, icmpId: 99 })).verdict,
          "pass",
        );
        assert.equal(conn({ src: a, id: 99 })?.state, "unreplied");
        assert.equal(h.run(frame(reply)).verdict, "pass");
        assert.equal(conn({ src: a, id: 99 })?.state, "replied");
      }
    });

    test("ICMP errors about a tracked connection are related; others are invalid", () => {
      const out = frame({ src: CLIENT, dst: SERVER, sport: 6000, dport: 53 });
      assert.equal(h.run(out).verdict, "pass");
      const err = (quoted: Buffer) =>
        frame({ src: SERVER, dst: CLIENT, proto: "icmp", icmpType: 3, icmpCode: 3, payload: ipPart(quoted) });
      assert.equal(h.run(err(out)).verdict, "pass", "port unreachable about the tracked flow");
      const other = frame({ src: CLIENT, dst: SERVER, sport: 6001, dport: 53 });
      assert.equal(h.run(err(other)).verdict, "drop", "about a flow never seen");
      // IPv6: packet too big about a tracked TCP connection.
      const syn = frame({ src: "fd00:1::1", dst: "fd00:2::1", proto: "tcp", sport: 42000, dport: 80 });
      assert.equal(h.run(syn).verdict, "pass");
      const ptb = frame({
        src: "fd00:2::1",
        dst: "fd00:1::1",
        proto: "icmp",
        icmpType: 2,
        payload: ipPart(syn),
      });
      assert.equal(h.run(ptb).verdict, "pass");
    });

    test("expired connections count as gone, and the collector deletes them", () => {
      const out = frame({ src: CLIENT, dst: SERVER, sport: 7000, dport: 53 });
      const back = frame({ src: SERVER, dst: CLIENT, sport: 53, dport: 7000 });
      assert.equal(h.run(out).verdict, "pass");
      // Age every entry past its deadline.
      const ct = zoneTable(h);
      for (const [k, v] of ct.entriesBatched()) {
        v.writeBigUInt64LE(1n, 0);
        ct.update(k, v);
      }
      assert.equal(h.run(back).verdict, "drop", "the reply of an expired flow is new, and not allowed");
      assert.equal(h.fw.listConnections().length, 0, "expired entries are not listed");
      assert.ok(collectExpired(h.ctx.map("fw_cfg").id, true) >= 1);
      assert.equal([...ct.entriesBatched()].length, 0);
      ct.close();
    });

    test("tracking off: every packet is untracked", async () => {
      h.configure({ conntrack: false });
      try {
        await h.fw.addRule({ id: 5, action: "accept", state: "untracked", proto: "udp", dport: 9 });
        assert.equal(h.run(frame({ dport: 9 })).verdict, "pass");
        assert.equal(h.run(frame({ src: SERVER, dst: CLIENT, sport: 53, dport: 5353 })).verdict, "drop");
        assert.equal(h.fw.listConnections().length, 0);
      } finally {
        await h.fw.deleteRule({ id: 5 });
        h.configure({ conntrack: true });
      }
    });
  });
}

/** The zone table an instance points at (its fw_ct_ref holds the table's id). */
function zoneTable(h: FwHarness): BpfMap {
  const id = h.ctx.map("fw_ct_ref").lookup(Buffer.alloc(4))?.readUInt32LE(0) ?? 0;
  return BpfMap.fromId(id);
}

describe("conntrack zones", () => {
  let bpffs: Bpffs;
  let inbound: FwHarness;
  let outbound: FwHarness;
  let other: FwHarness;
  before(async () => {
    bpffs = mountBpffs();
    // One instance per direction at one point, sharing a zone: only outbound connections may open.
    outbound = await openFirewall("tc", bpffs.path, { zone: "edge" }, { slot: 1, name: "fw-out" });
    inbound = await openFirewall(
      "tc",
      bpffs.path,
      { zone: "edge", policy: "drop" },
      { slot: 2, name: "fw-in" },
    );
    other = await openFirewall(
      "tc",
      bpffs.path,
      { zone: "lab", policy: "drop" },
      { slot: 3, name: "fw-other" },
    );
    for (const h of [inbound, other])
      await h.fw.addRuleSet({ name: "in", rules: [{ action: "accept", state: "established,related" }] });
  });
  after(() => {
    for (const h of [inbound, outbound, other]) h?.close();
    bpffs?.cleanup();
  });

  test("an instance sees the connections another instance of its zone let through", () => {
    const syn = frame({ src: CLIENT, dst: SERVER, proto: "tcp", sport: 43000, dport: 22 });
    const synack = frame({
      src: SERVER,
      dst: CLIENT,
      proto: "tcp",
      sport: 22,
      dport: 43000,
      flags: TCPF.SYN | TCPF.ACK,
    });
    assert.equal(inbound.run(synack).verdict, "drop", "no connection yet");
    assert.equal(outbound.run(syn).verdict, "pass");
    assert.equal(inbound.run(synack).verdict, "pass", "the reply of a connection opened outbound");
    assert.equal(other.run(synack).verdict, "drop", "another zone knows nothing of it");
    assert.equal(inbound.fw.listConnections().length, outbound.fw.listConnections().length);
    assert.equal(other.fw.listConnections().length, 0);
  });

  test("moving an instance to another zone points it at that zone's table", () => {
    const syn = frame({ src: CLIENT, dst: SERVER, proto: "tcp", sport: 43001, dport: 22 });
    const synack = frame({
      src: SERVER,
      dst: CLIENT,
      proto: "tcp",
      sport: 22,
      dport: 43001,
      flags: TCPF.SYN | TCPF.ACK,
    });
    assert.equal(outbound.run(syn).verdict, "pass");
    other.configure({ zone: "edge" });
    assert.equal(other.run(synack).verdict, "pass");
    other.configure({ zone: "lab" });
  });
});
