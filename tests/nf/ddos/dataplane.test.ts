// The DDoS mitigator's data plane, run alone with BPF_PROG_TEST_RUN in both hooks and driven by
// its real control plane: prefix drops and allows (longest match, IPv4 and IPv6, VLAN-tagged),
// the per-source rate limit, TCP and fragment sanity, and SYN cookies: the SYN-ACK built in the
// data plane is checked field by field and its cookie by the kernel's own check.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { arpFrame } from "../../helpers/packets.js";
import {
  CLIENT_MAC,
  SERVER_MAC,
  TCP,
  longText,
  parseTcp,
  synFrame,
  tcpFrame,
  udpFragment4,
  udpFrame,
} from "./frames.js";
import { CookieOracle, openDdos, type DdosHarness } from "./harness.js";

const Drop = {
  MALFORMED: 0,
  SRC: 1,
  DST: 2,
  RATE: 3,
  SYN_COOKIE: 4,
  TCP_FLAGS: 5,
  FRAGMENT: 6,
  NOT_IP: 7,
} as const;

const C4 = "198.18.0.1";
const S4 = "198.18.0.2";
const C6 = "fd00::1";
const S6 = "fd00::2";

/** The client's ACK completing the handshake a SYN-ACK started. */
function ackFor(synAck: ReturnType<typeof parseTcp>, client: string, server: string): Buffer {
  return tcpFrame({
    src: client,
    dst: server,
    sport: synAck.dport,
    dport: synAck.sport,
    flags: TCP.ACK,
    seq: synAck.ack,
    ack: (synAck.seq + 1) >>> 0,
  });
}

for (const hook of ["xdp", "tc"] as const) {
  describe(`ddos data plane (${hook})`, () => {
    let bpffs: Bpffs;
    let h: DdosHarness;
    let oracle: CookieOracle;
    before(async () => {
      bpffs = mountBpffs();
      h = await openDdos(hook, bpffs.path);
      oracle = await CookieOracle.open();
    });
    after(() => {
      oracle?.close();
      h?.close();
      bpffs?.cleanup();
    });
    /** Every test starts from the default configuration and no prefixes. */
    const reset = (config: Record<string, unknown> = {}) => {
      h.ctx.config = {};
      h.configure(config);
      for (const side of ["src", "dst"] as const)
        for (const e of h.d.listSingles(side)) h.d.deleteSingle(side, { prefix: e.prefix });
      for (const l of h.d.listLists()) h.d.deleteList({ name: l.name });
      h.t.map("ddos_rate").deleteBatch([...h.t.map("ddos_rate").keys()]);
      h.t.map("ddos_syn").deleteBatch([...h.t.map("ddos_syn").keys()]);
      const stats = h.t.map("ddos_stats");
      for (const k of stats.keys())
        stats.updatePerCpu(
          k,
          (stats.lookupPerCpu(k) ?? []).map(() => Buffer.alloc(8)),
        );
    };

    test("traffic nothing matches goes on unchanged; non-IP goes on unless told to drop it", () => {
      reset();
      const f = udpFrame({ src: C4, dst: S4 });
      const r = h.run(f);
      assert.equal(r.verdict, "pass");
      assert.deepEqual(r.data, f);
      assert.equal(h.run(arpFrame()).verdict, "pass");
      h.configure({ nonIp: "drop" });
      const a = h.run(arpFrame());
      assert.equal(a.verdict, "drop");
      assert.deepEqual(a.drops, [Drop.NOT_IP]);
    });

    test("truncated and inconsistent IP headers are dropped as malformed", () => {
      reset();
      const f = udpFrame({ src: C4, dst: S4 });
      const short = f.subarray(0, 38); // a whole IP header (TC test runs need one), the datagram cut
      assert.deepEqual(h.run(short).drops, [Drop.MALFORMED]);
      const lying = Buffer.from(f);
      lying.writeUInt16BE(1400, 16); // total length beyond the frame
      assert.deepEqual(h.run(lying).drops, [Drop.MALFORMED]);
      const v6 = udpFrame({ src: C6, dst: S6 });
      assert.deepEqual(h.run(v6.subarray(0, 58)).drops, [Drop.MALFORMED]);
    });

    test("source prefixes drop, the longest match decides, allow exempts; per-prefix hits", () => {
      reset({ rate: 1, burst: 1 });
      h.d.addSingle("src", { prefix: "198.18.0.0/16" });
      h.d.addSingle("src", { prefix: "198.18.0.0/24", action: "allow" });
      h.d.addSingle("src", { prefix: "fd00::/16" });
      const blocked = h.run(udpFrame({ src: "198.18.7.7", dst: S4 }));
      assert.equal(blocked.verdict, "drop");
      assert.deepEqual(blocked.drops, [Drop.SRC]);
      // Allowed: not even the one-packet-per-second rate limit applies to it.
      for (let i = 0; i < 5; i++) assert.equal(h.run(udpFrame({ src: C4, dst: S4 })).verdict, "pass");
      assert.deepEqual(h.run(udpFrame({ src: C6, dst: S6 })).drops, [Drop.SRC]);
      assert.equal(h.run(udpFrame({ src: "fd01::1", dst: S6 })).verdict, "pass");
      const rows = Object.fromEntries(h.d.listSingles("src").map((e) => [e.prefix, e.packets]));
      assert.deepEqual(rows, { "198.18.0.0/16": 1, "198.18.0.0/24": 5, "fd00::/16": 1 });
    });

    test("destination prefixes drop; a VLAN-tagged frame is looked up the same", () => {
      reset();
      h.d.addSingle("dst", { prefix: "198.18.9.0/24" });
      h.d.addSingle("dst", { prefix: "fd00:9::/32" });
      assert.deepEqual(h.run(udpFrame({ src: C4, dst: "198.18.9.200" })).drops, [Drop.DST]);
      assert.deepEqual(h.run(udpFrame({ src: C4, dst: "198.18.9.200", vlan: 7 })).drops, [Drop.DST]);
      assert.deepEqual(h.run(udpFrame({ src: C6, dst: "fd00:9:0:1::5" })).drops, [Drop.DST]);
      assert.equal(h.run(udpFrame({ src: C4, dst: "198.18.10.1" })).verdict, "pass");
    });

    test("a list drops all its prefixes; deleting it lets them through again", () => {
      reset();
      const prefixes = Array.from({ length: 5000 }, (_, i) => `198.19.${i >> 6}.${(i & 63) * 4}/30`);
      h.d.addList({
        name: "bad",
        side: "src",
        prefixes: `# generated\n${prefixes.join("\n")}\nfd00:66::/48 ; v6`,
      });
      assert.deepEqual(h.run(udpFrame({ src: "198.19.20.5", dst: S4 })).drops, [Drop.SRC]);
      assert.deepEqual(h.run(udpFrame({ src: "fd00:66::9", dst: S6 })).drops, [Drop.SRC]);
      assert.equal(h.run(udpFrame({ src: "198.19.200.1", dst: S4 })).verdict, "pass");
      const [l] = h.d.listLists();
      assert.deepEqual(
        { ...l, loaded: undefined },
        {
          name: "bad",
          side: "src",
          action: "drop",
          ipv4: 5000,
          ipv6: 1,
          packets: 2,
          loaded: undefined,
        },
      );
      h.d.deleteList({ name: "bad" });
      assert.equal(h.run(udpFrame({ src: "198.19.20.5", dst: S4 })).verdict, "pass");
    });

    test("the rate limit lets a source's burst through, then drops; IPv6 sources share their /64", () => {
      reset({ rate: 1, burst: 5 }); // slow enough that no token comes back during the test
      const verdicts = Array.from({ length: 20 }, () => h.run(udpFrame({ src: C4, dst: S4 })).verdict);
      assert.deepEqual(verdicts, [...Array(5).fill("pass"), ...Array(15).fill("drop")]);
      assert.equal(
        h.run(udpFrame({ src: "198.18.0.3", dst: S4 })).verdict,
        "pass",
        "another source has its own bucket",
      );
      const v6 = ["fd00:1::1", "fd00:1::2", "fd00:1::3", "fd00:1::4", "fd00:1::5", "fd00:1::6"].map(
        (src) => h.run(udpFrame({ src, dst: S6 })).verdict,
      );
      assert.deepEqual(v6, ["pass", "pass", "pass", "pass", "pass", "drop"]);
      const sources = h.d.listSources();
      assert.deepEqual(sources, [
        { source: C4, passed: 5, dropped: 15 },
        { source: "fd00:1::/64", passed: 5, dropped: 1 },
      ]);
      assert.equal(h.d.stats().rate_limited, 16n);
    });

    test("impossible TCP flags are dropped (unless tcpFlags is off); fragments when told", () => {
      reset();
      for (const flags of [TCP.SYN | TCP.FIN, TCP.SYN | TCP.RST, TCP.FIN, 0])
        assert.deepEqual(
          h.run(tcpFrame({ src: C4, dst: S4, flags })).drops,
          [Drop.TCP_FLAGS],
          `flags ${flags}`,
        );
      assert.equal(h.run(tcpFrame({ src: C4, dst: S4, flags: TCP.FIN | TCP.ACK })).verdict, "pass");
      h.configure({ tcpFlags: false });
      assert.equal(h.run(tcpFrame({ src: C4, dst: S4, flags: TCP.SYN | TCP.FIN })).verdict, "pass");
      const frag = udpFragment4({ src: C4, dst: S4 });
      assert.equal(h.run(frag).verdict, "pass");
      h.configure({ fragments: "drop" });
      assert.deepEqual(h.run(frag).drops, [Drop.FRAGMENT]);
    });

    for (const [family, client, server] of [
      ["IPv4", C4, S4],
      ["IPv6", C6, S6],
    ] as const)
      test(`SYN cookies (${family}): the first SYN primes the server, later ones are answered with a valid cookie`, () => {
        reset({ synCookies: "always" });
        const first = h.run(synFrame({ src: client, dst: server, sport: 41000, seq: 5000 }));
        assert.equal(first.verdict, "pass", "the first SYN to a destination reaches its server");
        const syn = synFrame({ src: client, dst: server, sport: 41001, seq: 0xfffffff0 });
        const r = h.run(syn);
        assert.equal(r.verdict, "back");
        assert.deepEqual(r.drops, [Drop.SYN_COOKIE]);
        const a = parseTcp(r.data);
        assert.equal(a.checksumsOk, true, "IP and TCP checksums");
        assert.deepEqual(
          { dstMac: a.dstMac, srcMac: a.srcMac, src: a.src, dst: a.dst, sport: a.sport, dport: a.dport },
          {
            dstMac: CLIENT_MAC,
            srcMac: SERVER_MAC,
            src: longText(server),
            dst: longText(client),
            sport: 80,
            dport: 41001,
          },
        );
        assert.equal(a.flags, TCP.SYN | TCP.ACK);
        assert.equal(a.ack, 0xfffffff1, "acknowledges the SYN");
        assert.equal(a.mss, family === "IPv4" ? 1460 : 1440, "the MSS the cookie encodes");
        assert.equal(a.ttl, 64);
        assert.equal(a.length, 14 + (family === "IPv4" ? 20 : 40) + 24);
        assert.equal(oracle.valid(ackFor(a, client, server)), true, "the kernel accepts the cookie");
        const forged = ackFor({ ...a, seq: a.seq ^ 0x55 }, client, server);
        assert.equal(oracle.valid(forged), false, "and refuses another number");
        // The ACK itself goes on to the server.
        assert.equal(h.run(ackFor(a, client, server)).verdict, "pass");
        const [svc] = h.d.listSyn();
        assert.equal(svc.port, 80);
        assert.equal(svc.cookies, 1);
        assert.equal(svc.passed, 1);
      });

    test("SYN cookies behind a VLAN tag keep the tag; SYNs with IP options go on", () => {
      reset({ synCookies: "always" });
      h.run(synFrame({ src: C4, dst: S4 }));
      const r = h.run(synFrame({ src: C4, dst: S4, vlan: 12, sport: 42000 }));
      assert.equal(r.verdict, "back");
      assert.equal(r.data.readUInt16BE(12), 0x8100);
      assert.equal(r.data.readUInt16BE(14), 12);
      const a = parseTcp(r.data, 18);
      assert.equal(a.checksumsOk, true);
      assert.equal(a.dport, 42000);
      const withOptions = tcpFrame(
        { src: C4, dst: S4, sport: 42001, flags: TCP.SYN },
        Buffer.from([1, 1, 1, 0]),
      );
      assert.equal(h.run(withOptions).verdict, "pass");
      assert.equal(h.d.stats().syn_unanswerable, 1n);
    });

    test("auto mode hands the threshold on and answers the excess; unprotected ports are left alone", () => {
      reset({ synCookies: "auto", synThreshold: 3, synPorts: [443, "8000-8010"] });
      const v = Array.from(
        { length: 6 },
        (_, i) => h.run(synFrame({ src: C4, dst: S4, dport: 8005, sport: 43000 + i })).verdict,
      );
      assert.deepEqual(v, ["pass", "pass", "pass", "back", "back", "back"]);
      assert.equal(
        h.run(synFrame({ src: C4, dst: S4, dport: 80 })).verdict,
        "pass",
        "port 80 is not protected",
      );
      assert.equal(
        h.run(synFrame({ src: C4, dst: "198.18.0.9", dport: 443 })).verdict,
        "pass",
        "another destination",
      );
      const s = h.d.stats();
      assert.equal(s.syn_passed, 4n);
      assert.equal(s.syn_cookie, 3n);
    });

    test("counters: everything handed on or dropped is counted by why", () => {
      reset();
      h.d.addSingle("dst", { prefix: "198.18.200.0/24" });
      h.run(udpFrame({ src: C4, dst: S4 }));
      h.run(udpFrame({ src: C4, dst: "198.18.200.1" }));
      h.run(udpFrame({ src: C4, dst: "198.18.200.2" }));
      const s = h.d.stats();
      assert.equal(s.passed, 1n);
      assert.equal(s.dst_blocked, 2n);
      const rows = h.d.listStats();
      assert.deepEqual(
        rows.find((r) => r.counter === "dst_blocked"),
        { counter: "dst_blocked", packets: 2 },
      );
    });
  });
}
