// The capture NF's control-plane logic without the kernel: where a capture's instances go (hook
// mode, direction, order) for every kind of target, the pcap format and its stream parser, the
// merged stream of two directions (time order, packet count, duration, wall-clock time), the
// one-line summaries, the configuration defaults and the trace records' grouping.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { captureConfig } from "../../../nf/capture/cp/capture.js";
import type { CaptureRecord } from "../../../nf/capture/cp/layout.js";
import {
  PCAP_MAGIC_MICRO,
  PCAP_MAGIC_NANO,
  PcapStreamParser,
  pcapHeader,
  pcapRecord,
} from "../../../nf/capture/cp/pcap.js";
import { placeCapture } from "../../../nf/capture/cp/placement.js";
import { PcapStream, realtimeOffsetNs, type RecordSource } from "../../../nf/capture/cp/session.js";
import { summarize } from "../../../nf/capture/cp/summary.js";
import {
  EV_TRACE,
  TracePoint,
  decodeTrace,
  describeTrace,
  groupTraces,
} from "../../../nf/capture/cp/trace.js";
import type { DesiredState, InstanceState } from "../../../src/core/state.js";
import { readPcap } from "../../../src/vm/io/pcap.js";
import { BCAST, TCP, arp, eth, icmp, ipv4, ipv6, tcp, udp } from "./corpus.js";

function inst(mode: InstanceState["mode"], extra: Partial<InstanceState> = {}): InstanceState {
  return { type: "x", version: "1.0.0", mode, config: {}, ports: {}, tables: {}, slot: 1, ...extra };
}

const STATE: DesiredState = {
  version: 1,
  instances: {
    br0: inst("tc", {
      ports: { p0: { index: 0, config: {}, peer: { iface: "veth0" } }, p1: { index: 1, config: {} } },
    }),
    r1: inst("xdp", { slot: 2, ports: { west: { index: 0, config: {}, peer: { iface: "veth1" } } } }),
    fw: inst("xdp-generic", {
      slot: 3,
      attachment: { target: { iface: "veth2" }, direction: "ingress", position: 0 },
    }),
  },
  nextLinkId: 0,
};

const exists = (n: string) => ["veth0", "veth1", "veth2", "veth3"].includes(n);

describe("capture placement", () => {
  test("at a port: both directions in the instance's hook, ingress first, egress last", () => {
    assert.deepEqual(placeCapture(STATE, { target: "r1:west", direction: "inout" }, exists), [
      { direction: "ingress", mode: "xdp", position: "first" },
      { direction: "egress", mode: "xdp", position: "last" },
    ]);
    assert.deepEqual(placeCapture(STATE, { target: "br0:p1", direction: "out" }, exists), [
      { direction: "egress", mode: "tc", position: "last" },
    ]);
  });

  test("at an interface: ingress joins what runs there (a port's instance, attachments); egress is tc", () => {
    assert.deepEqual(
      placeCapture(STATE, { target: "veth1", direction: "inout" }, exists).map((p) => p.mode),
      ["xdp", "tc"],
    );
    assert.deepEqual(
      placeCapture(STATE, { target: "veth2", direction: "in" }, exists).map((p) => p.mode),
      ["xdp-generic"],
    );
    assert.deepEqual(
      placeCapture(STATE, { target: "veth3", direction: "in" }, exists).map((p) => p.mode),
      ["tc"],
      "nothing there: tc, which works everywhere",
    );
    assert.deepEqual(
      placeCapture(STATE, { target: "veth3", direction: "in", mode: "xdp" }, exists).map((p) => p.mode),
      ["xdp"],
      "nothing there: any mode asked for",
    );
  });

  test("impossible requests name what is wrong", () => {
    assert.throws(
      () => placeCapture(STATE, { target: "nope:p0", direction: "in" }, exists),
      /no instance 'nope' to capture at \(instances: br0, fw, r1\)/,
    );
    assert.throws(
      () => placeCapture(STATE, { target: "br0:p7", direction: "in" }, exists),
      /br0 has no port 'p7' \(ports: p0, p1\)/,
    );
    assert.throws(
      () => placeCapture(STATE, { target: "eth9", direction: "in" }, exists),
      /interface 'eth9' does not exist/,
    );
    assert.throws(
      () => placeCapture(STATE, { target: "veth3", direction: "out", mode: "xdp" }, exists),
      /leaving interface veth3 can only be captured in tc mode/,
    );
    assert.throws(
      () => placeCapture(STATE, { target: "r1:west", direction: "in", mode: "tc" }, exists),
      /same chain as r1 \(xdp\): it must be xdp or xdp-generic, not tc/,
    );
    assert.throws(
      () => placeCapture(STATE, { target: "veth0", direction: "in", mode: "xdp" }, exists),
      /same chain as what is attached there \(tc\): it must be tc, not xdp/,
    );
  });
});

describe("pcap output", () => {
  const frame = eth(0x0800, ipv4(udp(1, 2), { proto: 17 }));

  test("what the writer produces is read back: header, times in µs or ns, cut lengths", () => {
    const t = 1_700_000_123_456_789_012n;
    for (const precision of ["micro", "nano"] as const) {
      const file = Buffer.concat([
        pcapHeader(100, precision),
        pcapRecord(t, frame, frame.length, precision),
        pcapRecord(t + 1000n, frame.subarray(0, 20), frame.length, precision),
      ]);
      assert.equal(file.readUInt32LE(0), precision === "nano" ? PCAP_MAGIC_NANO : PCAP_MAGIC_MICRO);
      assert.equal(file.readUInt32LE(16), 100, "snap length");
      assert.equal(file.readUInt32LE(20), 1, "LINKTYPE_ETHERNET");
      const pkts = [...readPcap(file)];
      assert.equal(pkts.length, 2);
      assert.equal(pkts[0].timeNs, precision === "nano" ? t : (t / 1000n) * 1000n);
      assert.deepEqual(pkts[0].data, frame);
      assert.deepEqual(pkts[1].data, frame.subarray(0, 20));
      assert.equal(pkts[1].origLen, frame.length);
    }
  });

  test("the stream parser passes on whole records only, however the bytes are cut", () => {
    const stream = Buffer.concat([
      pcapHeader(65535),
      ...[1, 2, 3].map((i) => pcapRecord(BigInt(i), frame, frame.length)),
    ]);
    for (const step of [1, 7, 16, 17, 100]) {
      const p = new PcapStreamParser();
      const pieces: Buffer[] = [];
      for (let i = 0; i < stream.length - 5; i += step)
        pieces.push(...p.push(stream.subarray(i, Math.min(i + step, stream.length - 5))));
      assert.equal(pieces.length, 3, `step ${step}: the header and two whole records; the cut third is held`);
      assert.equal(p.records, 2);
      assert.ok(p.leftover > 0);
      assert.deepEqual(Buffer.concat(pieces), stream.subarray(0, 24 + 2 * (16 + frame.length)));
      // The writer's way: one piece per chunk, the same bytes.
      const w = new PcapStreamParser();
      const whole: Buffer[] = [];
      for (let i = 0; i < stream.length - 5; i += step)
        whole.push(w.pushWhole(stream.subarray(i, Math.min(i + step, stream.length - 5))));
      assert.deepEqual(Buffer.concat(whole), Buffer.concat(pieces), `step ${step}: pushWhole`);
      assert.equal(w.records, 2);
    }
    assert.throws(() => new PcapStreamParser().push(Buffer.alloc(24, 1)), /not pcap/);
  });
});

class FakeSource implements RecordSource {
  queue: CaptureRecord[] = [];
  private wake: (() => void) | undefined;
  push(...r: CaptureRecord[]): void {
    this.queue.push(...r);
    this.wake?.();
  }
  drain(cb: (r: CaptureRecord) => void, limit = Infinity): number {
    const n = Math.min(limit, this.queue.length);
    this.queue.splice(0, n).forEach(cb);
    return n;
  }
  wait(): Promise<void> {
    return new Promise((r) => (this.wake = r));
  }
}

const rec = (tstamp: bigint, tag: number): CaptureRecord => ({
  tstamp,
  length: 60,
  ifindex: 1,
  data: Buffer.concat([Buffer.alloc(12), Buffer.from([0x88, 0xb5]), Buffer.from([tag])]),
});

describe("pcap stream of a capture", () => {
  test("two directions are merged in time order, with wall-clock times, until the count", async () => {
    const a = new FakeSource();
    const b = new FakeSource();
    const now = process.hrtime.bigint();
    a.push(rec(now + 10n, 1), rec(now + 30n, 3));
    b.push(rec(now + 20n, 2), rec(now + 40n, 4), rec(now + 50n, 5));
    const out: Buffer[] = [];
    const s = new PcapStream([a, b], { snaplen: 1000, precision: "nano", count: 4 });
    assert.equal(await s.run((c) => void out.push(c)), "count");
    const pkts = [...readPcap(Buffer.concat(out))];
    assert.deepEqual(
      pkts.map((p) => p.data[14]),
      [1, 2, 3, 4],
    );
    const wall = BigInt(Date.now()) * 1_000_000n;
    assert.ok(pkts[0].timeNs > wall - 5_000_000_000n && pkts[0].timeNs <= wall + 1_000_000_000n, "about now");
    assert.equal(pkts[1].timeNs - pkts[0].timeNs, 10n, "nanosecond spacing kept");
    assert.equal(s.packets, 4);
  });

  test("records that arrive later are streamed; stop() and a duration end the stream", async () => {
    const a = new FakeSource();
    const out: Buffer[] = [];
    const s = new PcapStream([a], { snaplen: 1000 });
    const done = s.run((c) => void out.push(c));
    await new Promise((r) => setTimeout(r, 20));
    a.push(rec(1n, 7));
    await new Promise((r) => setTimeout(r, 20));
    s.stop();
    assert.equal(await done, "stopped");
    assert.equal([...readPcap(Buffer.concat(out))].length, 1);
    const t0 = Date.now();
    assert.equal(
      await new PcapStream([new FakeSource()], { snaplen: 10, durationMs: 50 }).run(() => undefined),
      "duration",
    );
    assert.ok(Date.now() - t0 < 1000);
  });

  test("one ring goes straight from raw records to pcap, as the merging path writes it", async () => {
    const now = process.hrtime.bigint();
    // struct cap_record (time, length on the wire, captured, ifindex, pad) and the bytes.
    const raw = (r: CaptureRecord): Buffer => {
      const h = Buffer.alloc(24);
      h.writeBigUInt64LE(r.tstamp, 0);
      h.writeUInt32LE(r.length, 8);
      h.writeUInt32LE(r.data.length, 12);
      h.writeUInt32LE(r.ifindex, 16);
      return Buffer.concat([h, r.data]);
    };
    const recs = [1, 2, 3, 4, 5].map((i) => rec(now + BigInt(i) * 1_234_567_891n, i));
    class RawSource extends FakeSource {
      raws = [raw(recs[0]), Buffer.alloc(10), ...recs.slice(1).map(raw)]; // one too short: skipped
      drainRaw(cb: (b: Buffer) => void, limit = Infinity): number {
        const n = Math.min(limit, this.raws.length);
        this.raws.splice(0, n).forEach(cb);
        return n;
      }
    }
    for (const precision of ["micro", "nano"] as const) {
      const fast: Buffer[] = [];
      const fastStream = new PcapStream([new RawSource()], { snaplen: 1000, precision, count: 4 });
      assert.equal(await fastStream.run((c) => void fast.push(c)), "count");
      const slow: Buffer[] = [];
      const plain = new FakeSource();
      plain.push(...recs);
      await new PcapStream([plain], { snaplen: 1000, precision, count: 4 }).run((c) => void slow.push(c));
      const a = [...readPcap(Buffer.concat(fast))];
      const b = [...readPcap(Buffer.concat(slow))];
      assert.equal(a.length, 4);
      assert.equal(fastStream.packets, 4);
      assert.deepEqual(
        a.map((p) => [p.data.toString("hex"), p.origLen]),
        b.map((p) => [p.data.toString("hex"), p.origLen]),
      );
      // The two runs took their clock offsets moments apart; the spacing is the same (to the
      // microsecond a time is cut to).
      assert.ok(a[0].timeNs - b[0].timeNs < 5_000_000n && b[0].timeNs - a[0].timeNs < 5_000_000n);
      for (let i = 1; i < 4; i++) {
        const d = a[i].timeNs - a[0].timeNs - (b[i].timeNs - b[0].timeNs);
        assert.ok(
          d <= (precision === "nano" ? 0n : 1000n) && -d <= (precision === "nano" ? 0n : 1000n),
          `${d}`,
        );
      }
    }
  });

  test("the data plane's clock maps to wall-clock time", () => {
    const off = realtimeOffsetNs();
    const wall = BigInt(Date.now()) * 1_000_000n;
    const t = process.hrtime.bigint() + off;
    assert.ok(t > wall - 50_000_000n && t < wall + 50_000_000n);
  });
});

describe("one-line summaries and configuration", () => {
  test("summaries name the protocols, addresses, ports and flags", () => {
    const lines = [
      summarize(eth(0x0800, ipv4(tcp(40000, 80, TCP.SYN | TCP.ACK), { proto: 6 })), 54),
      summarize(eth(0x0800, ipv4(udp(5353, 53, Buffer.alloc(4)), { proto: 17 })), 46),
      summarize(eth(0x0800, ipv4(icmp(8, 0), { proto: 1 })), 58),
      summarize(eth(0x86dd, ipv6(udp(1, 2), { next: 17, src: "fd00::1", dst: "fd00:1::2" })), 70),
      summarize(eth(0x0806, arp(1, "198.18.0.1", "198.18.0.2"), { dst: BCAST, tags: [[0x8100, 10]] }), 46),
      summarize(eth(0x88cc, Buffer.alloc(10)), 24),
    ];
    assert.deepEqual(lines, [
      "IP 198.18.0.1.40000 > 198.18.0.2.80: Flags [S.], seq 1000, length 0",
      "IP 198.18.0.1.5353 > 198.18.0.2.53: UDP, length 4",
      "IP 198.18.0.1 > 198.18.0.2: ICMP type 8 code 0",
      "IP6 fd00::1.1 > fd00:1::2.2: UDP, length 8",
      "vlan 10, ARP, Request who-has 198.18.0.2 tell 198.18.0.1, length 32",
      "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 0x88cc, length 24",
    ]);
  });

  test("configuration defaults: every packet, 262144 bytes, capturing, not tracing", () => {
    assert.deepEqual(captureConfig({}), { filter: "", snaplen: 262144, capture: true, trace: false });
    assert.deepEqual(
      captureConfig({ filter: "tcp", snaplen: 64, capture: false, trace: true, session: "ab" }),
      {
        filter: "tcp",
        snaplen: 64,
        capture: false,
        trace: true,
        session: "ab",
      },
    );
  });

  test("trace records group into one path per packet (per CPU and trace id)", () => {
    const raw = (point: number, slot: number, port: number, id: number, cpu: number, arg = 0) => {
      const b = Buffer.alloc(32);
      b.writeUInt16LE(EV_TRACE, 0);
      b.writeUInt16LE(slot, 2);
      b.writeUInt16LE(port, 4);
      b.writeUInt16LE(point, 6);
      b.writeUInt32LE(arg, 12);
      b.writeUInt16LE(id, 24);
      b.writeUInt16LE(cpu, 26);
      return b;
    };
    const recs = [
      raw(TracePoint.START, 3, 0, 1, 0),
      raw(TracePoint.START, 3, 0, 1, 1),
      raw(TracePoint.NEXT, 3, 0, 1, 0),
      raw(TracePoint.NEXT, 3, 0, 1, 1),
      raw(TracePoint.ENTER, 1, 0, 1, 0),
      raw(TracePoint.DROP, 1, 0, 1, 1, 15),
      raw(TracePoint.TX, 1, 2, 1, 0),
      raw(TracePoint.IFACE, 1, 2, 1, 0, 9),
    ].map((b) => decodeTrace(b));
    assert.ok(recs.every((r) => r !== undefined));
    const paths = groupTraces(recs.filter((r) => r !== undefined));
    assert.deepEqual(
      paths.map((p) => describeTrace(p)),
      [
        "slot 3 start -> slot 3 next -> slot 1:0 enter -> slot 1:2 tx -> out of ifindex 9",
        "slot 3 start -> slot 3 next -> slot 1:0 drop (reason 15)",
      ],
    );
    const notTrace = Buffer.alloc(32);
    notTrace.writeUInt16LE(1, 0);
    assert.equal(decodeTrace(notTrace), undefined, "slow-path packets are not trace records");
  });
});
