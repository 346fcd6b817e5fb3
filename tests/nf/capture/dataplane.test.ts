// The capture NF's data plane and control plane, run alone with BPF_PROG_TEST_RUN in both hooks:
// packets enter through the framework's stub, cross a capture instance and a wire instance and
// leave; the capture records exactly what its filter selects, up to the snap length, passes every
// packet on unchanged, swaps filters without compiling C, counts, refuses bad filters by capturing
// nothing, and switches the per-packet trace on for what it selects.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TcAction, XdpAction } from "../../../src/bpf/constants.js";
import { Jump, Maps, type CaptureRecord } from "../../../nf/capture/cp/layout.js";
import { describeTrace, groupTraces } from "../../../nf/capture/cp/trace.js";
import { TCP, eth, icmp, ipv4, ipv6, tcp, udp } from "./corpus.js";
import { OUT_IFINDEX, openCaptureRig, type CaptureRig } from "./support.js";

const HTTP_SYN = eth(0x0800, ipv4(tcp(40000, 80, TCP.SYN), { proto: 6 }));
const HTTP_DATA = eth(0x0800, ipv4(tcp(40000, 80, TCP.ACK, Buffer.alloc(400, 7)), { proto: 6 }));
const DNS = eth(0x0800, ipv4(udp(33000, 53), { proto: 17 }));
const PING6 = eth(0x86dd, ipv6(Buffer.from([128, 0, 0, 0, 0, 1, 0, 1]), { next: 58 }));
const PING = eth(0x0800, ipv4(icmp(8, 0), { proto: 1 }));

function records(rig: CaptureRig): CaptureRecord[] {
  const reader = readers.get(rig);
  const out: CaptureRecord[] = [];
  reader?.drain((r) => out.push(r));
  return out;
}
const readers = new Map<CaptureRig, ReturnType<CaptureRig["cp"]["openReader"]>>();

for (const hook of ["xdp", "tc"] as const) {
  const ONWARD = hook === "xdp" ? XdpAction.REDIRECT : TcAction.REDIRECT;

  describe(`capture data plane (${hook})`, () => {
    let rig: CaptureRig;
    before(async () => {
      rig = await openCaptureRig(hook, { filter: "tcp port 80" });
      readers.set(rig, rig.cp.openReader());
    });
    after(() => rig?.close());

    const configure = async (c: Record<string, unknown>) => {
      rig.ctx.config = { ...rig.ctx.config, ...c };
      await rig.cp.apply(rig.ctx.config);
    };

    test("records exactly the packets the filter selects, and every packet goes on unchanged", () => {
      const before = rig.wireTx();
      const frames = [HTTP_SYN, DNS, HTTP_DATA, PING6, PING];
      for (const f of frames) assert.equal(rig.send(f), ONWARD, "on to the wire instance and out");
      assert.equal(rig.wireTx() - before, BigInt(frames.length), "all of them reached the next instance");
      const got = records(rig);
      assert.deepEqual(
        got.map((r) => r.data),
        [HTTP_SYN, HTTP_DATA],
        "the two port-80 packets, whole",
      );
      assert.deepEqual(
        got.map((r) => r.length),
        [HTTP_SYN.length, HTTP_DATA.length],
      );
      assert.ok(got[0].tstamp > 0n && got[1].tstamp >= got[0].tstamp, "monotonic timestamps");
      assert.equal(rig.cp.status.state, "active");
      assert.ok((rig.cp.status.classic ?? 0) > 0 && (rig.cp.status.ebpf ?? 0) > 0);
    });

    test("the snap length cuts what is kept; the length on the wire stays", async () => {
      await configure({ snaplen: 60 });
      rig.send(HTTP_DATA);
      const [r] = records(rig);
      assert.equal(r.data.length, 60);
      assert.deepEqual(r.data, HTTP_DATA.subarray(0, 60));
      assert.equal(r.length, HTTP_DATA.length);
      await configure({ snaplen: 262144 });
    });

    test("a new filter is one prog-array update: the next packet is filtered by it", async () => {
      const jump = rig.ctx.map(Maps.jump);
      const key = Buffer.from([Jump.FILTER, 0, 0, 0]);
      const old = jump.lookup(key)?.readUInt32LE(0);
      await configure({ filter: "icmp or icmp6" });
      assert.notEqual(jump.lookup(key)?.readUInt32LE(0), old, "another filter program in the slot");
      for (const f of [HTTP_SYN, PING, DNS, PING6]) rig.send(f);
      assert.deepEqual(
        records(rig).map((r) => r.data),
        [PING, PING6],
      );
      await configure({ filter: "" });
      for (const f of [HTTP_SYN, DNS]) rig.send(f);
      assert.equal(records(rig).length, 2, "an empty expression selects everything");
      await configure({ filter: "tcp port 80" });
    });

    test("counters: seen, selected, recorded", () => {
      const s0 = rig.cp.stats();
      for (const f of [HTTP_SYN, DNS, DNS, HTTP_DATA]) rig.send(f);
      const s1 = rig.cp.stats();
      assert.equal(s1.seen - s0.seen, 4n);
      assert.equal(s1.matched - s0.matched, 2n);
      assert.equal(s1.captured - s0.captured, 2n);
      assert.equal(s1.lost - s0.lost, 0n);
      records(rig);
    });

    test("capture: false passes everything on and records nothing", async () => {
      await configure({ capture: false });
      assert.equal(rig.cp.status.state, "off");
      const s0 = rig.cp.stats();
      assert.equal(rig.send(HTTP_SYN), ONWARD);
      assert.equal(records(rig).length, 0);
      assert.equal(rig.cp.stats().seen, s0.seen, "not even filtered");
      await configure({ capture: true });
      assert.equal(rig.cp.status.state, "active");
    });

    test("a filter that does not compile: nothing is captured, the error says why, traffic flows", async () => {
      await configure({ filter: "tcp port eighty" });
      assert.equal(rig.cp.status.state, "error");
      assert.match(rig.cp.status.error ?? "", /filter 'tcp port eighty': .*eighty/);
      assert.ok(rig.ctx.events.some((e) => e.kind === "capture.filter-error" && /eighty/.test(e.message)));
      assert.equal(rig.send(HTTP_SYN), ONWARD);
      assert.equal(records(rig).length, 0);
      await configure({ filter: "tcp port 80" });
      rig.send(HTTP_SYN);
      assert.equal(records(rig).length, 1);
    });

    test("a second reader of the same instance is refused", () => {
      assert.throws(() => rig.cp.openReader(), /already being read/);
    });

    test("trace: the selected packets' path through the framework is recorded, the others' is not", async () => {
      await configure({ trace: true });
      rig.traces();
      rig.send(DNS);
      assert.deepEqual(rig.traces(), [], "not selected: not traced");
      rig.send(HTTP_SYN);
      rig.send(DNS); // the next packet starts untraced again
      const paths = groupTraces(rig.traces());
      assert.equal(paths.length, 1, "one traced packet");
      const names = {
        instance: (s: number) => ({ 1: "cap0", 2: "w0" })[s],
        port: (s: number, p: number) => (s === 2 ? `p${p}` : undefined),
      };
      assert.equal(
        describeTrace(paths[0], names),
        `cap0 start -> cap0 next -> w0:p0 enter -> w0:p1 tx -> out of ifindex ${OUT_IFINDEX}`,
      );
      const [start] = paths[0];
      assert.equal(start.length, HTTP_SYN.length);
      assert.deepEqual(
        paths[0].map((r) => r.hops),
        [1, 1, 2, 2, 2],
        "hop counts: capture was the first instance, wire the second",
      );
      records(rig);
      await configure({ trace: false });
      rig.send(HTTP_SYN);
      assert.deepEqual(rig.traces(), []);
      records(rig);
    });

    test("after a hot upgrade the recorder slot follows the instance's new program", () => {
      const jump = rig.ctx.map(Maps.jump);
      const key = Buffer.from([Jump.RECORD, 0, 0, 0]);
      const id = jump.lookup(key)?.readUInt32LE(0);
      assert.equal(id, rig.ctx.program("capture_record").id);
      jump.delete(key); // as if the slot held an older program
      rig.cp.refreshRecorder();
      assert.equal(jump.lookup(key)?.readUInt32LE(0), id);
      rig.send(HTTP_SYN);
      assert.equal(records(rig).length, 1);
    });
  });
}
