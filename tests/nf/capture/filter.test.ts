// tcpdump expressions, compiled by tcpdump, translated into eBPF and run by the kernel on a corpus
// of frames, must select exactly the frames `tcpdump -r` selects: in XDP, in TC, and in TC from
// the capture NF's buffer (where it puts a VLAN tag back). Plus the classic-BPF checks, the
// translation's edge cases, and expressions tcpdump refuses.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MapType } from "../../../src/bpf/constants.js";
import { BpfMap } from "../../../src/bpf/map/map.js";
import type { BpfProgram } from "../../../src/bpf/prog/program.js";
import { possibleCpus } from "../../../src/bpf/sys/cpus.js";
import {
  CBPF_MAX_INSNS,
  FilterError,
  checkProgram,
  formatDecimal,
  parseDecimal,
  type CbpfInsn,
} from "../../../nf/capture/cp/cbpf.js";
import { loadFilterSync } from "../../../nf/capture/cp/filter-program.js";
import { CAP_MAX, RECORD_HEADER } from "../../../nf/capture/cp/layout.js";
import { compileExpression } from "../../../nf/capture/cp/tcpdump.js";
import { translate } from "../../../nf/capture/cp/translate.js";
import { corpus } from "./corpus.js";
import { TcpdumpOracle } from "./oracle.js";

const EXPRESSIONS = [
  "",
  "ip",
  "ip6",
  "arp",
  "tcp",
  "udp",
  "icmp",
  "icmp6",
  "tcp port 80",
  "port 53",
  "udp dst port 53",
  "tcp src port 443 or tcp dst port 443",
  "portrange 1000-2000",
  "tcp dst portrange 8000-9000",
  "host 198.18.0.1",
  "src host 198.18.0.2 and dst host 198.18.0.1",
  "dst net 198.18.1.0/24",
  "net 198.19.0.0/16",
  "ip6 host fd00::1",
  "net fd00:1::/32",
  "ip6 dst net fd00::/64 and udp",
  "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
  "tcp[13] & 7 != 0",
  "tcp[tcpflags] & tcp-urg != 0",
  "icmp[icmptype] == icmp-echo",
  "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
  "icmp6 and ip6[40] == 128",
  "ip proto 47 or ip proto 132",
  "ip[6:2] & 0x1fff != 0",
  "ip[6] & 0x20 != 0",
  "ip[8] < 10",
  "ip[1] == 0x10",
  "ip[2:2] > 576",
  "ip[0] & 0xf > 5",
  "greater 1000",
  "less 60",
  "len > 200 and len < 600",
  "vlan",
  "vlan 10",
  "vlan 20 and udp port 53",
  "vlan and ip6",
  "vlan 100 and vlan 10",
  "ether host 01:00:5e:00:00:fb",
  "ether broadcast",
  "ether multicast",
  "ether proto 0x88cc",
  "ether[0] & 1 == 0 and ip",
  "ip multicast",
  "ip6 multicast",
  "llc",
  "not ip and not ip6",
  "(tcp port 80 or tcp port 443) and not src net 198.18.1.0/24",
  "udp[4:2] > 100",
  "ip[2:2] / 100 > 5",
  "ip[2:2] % 7 == 3",
  "ip[2:2] / ip[1] > 10",
  "ip[2:2] * 3 - 60 > 500",
  "(ip[0] & 0xf) << 2 == 20",
  "ip[8] << ip[1] != 0",
  "ip[2:2] >> ip[1] > 1",
  "(ip[2:2] ^ 0xff) & 0xf0 == 0x40",
  "ip[2:2] | 1 == 0x3d",
  "-ip[8] & 0xff == 0xc0",
  "ether[4000] == 1 or ether[50000] == 0",
  "tcp[20:4] == 0x020405b4",
  "ip6[6] == 6 or ip6[6] == 0",
];

type Verdict = { accepted: boolean; value: number };

describe("capture filters against tcpdump", () => {
  const frames = corpus();
  let oracle: TcpdumpOracle;
  let cpuMap: BpfMap;
  let scratchMap: BpfMap;
  const cpus = possibleCpus();

  /** tcpdump's selections and compilations, made up front and in parallel (tcpdump starts slowly). */
  const wanted = new Map<string, number[]>();
  const compiledFor = new Map<string, CbpfInsn[]>();

  before(async () => {
    oracle = new TcpdumpOracle(frames.map((f) => f.frame));
    const queue = [...EXPRESSIONS];
    const worker = async () => {
      for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
        const [want, compiled] = await Promise.all([oracle.select(e), compileExpression(e, 65535)]);
        wanted.set(e, want);
        compiledFor.set(e, compiled.program);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    cpuMap = BpfMap.create({
      type: MapType.PERCPU_ARRAY,
      keySize: 4,
      valueSize: 24,
      maxEntries: 1,
      name: "t_cap_cpu",
    });
    scratchMap = BpfMap.create({
      type: MapType.PERCPU_ARRAY,
      keySize: 4,
      valueSize: RECORD_HEADER + CAP_MAX,
      maxEntries: 1,
      name: "t_cap_scratch",
    });
  });
  after(() => {
    oracle?.close();
    cpuMap?.close();
    scratchMap?.close();
  });

  const key0 = Buffer.alloc(4);
  /** Test runs need at least an Ethernet header; shorter frames are only filtered from the buffer. */
  const runnable = (f: Buffer) => f.length >= 14;
  /** TC test runs also need a whole IPv4 / IPv6 header when the EtherType says IP. */
  const tcRunnable = (f: Buffer) => {
    if (f.length < 14) return false;
    const type = f.readUInt16BE(12);
    return type === 0x0800 ? f.length >= 34 : type === 0x86dd ? f.length >= 54 : true;
  };

  function runPacket(prog: BpfProgram, frame: Buffer): Verdict {
    const r = prog.testRun({ data: frame });
    return { accepted: r.retval !== 0, value: r.retval };
  }

  /** The NF's buffered path: the frame in the scratch buffer, buffered = 1; a dummy packet runs. */
  function runBuffered(prog: BpfProgram, frame: Buffer): Verdict {
    const st = Buffer.alloc(24);
    st.writeUInt32LE(0xdead, 0);
    st.writeUInt32LE(1, 4);
    st.writeUInt32LE(frame.length, 8);
    st.writeUInt32LE(frame.length, 12);
    cpuMap.updatePerCpu(
      key0,
      Array.from({ length: cpus }, () => st),
    );
    const sc = Buffer.alloc(RECORD_HEADER + CAP_MAX);
    frame.copy(sc, RECORD_HEADER);
    scratchMap.updatePerCpu(
      key0,
      Array.from({ length: cpus }, () => sc),
    );
    const r = prog.testRun({ data: Buffer.alloc(64) });
    const stored = (cpuMap.lookupPerCpu(key0) ?? []).map((v) => v.readUInt32LE(0));
    assert.ok(stored.includes(r.retval), "the verdict is also stored in the NF's per-CPU state");
    return { accepted: r.retval !== 0, value: r.retval };
  }

  for (const expr of EXPRESSIONS) {
    test(`'${expr}'`, async () => {
      const want = wanted.get(expr) ?? [];
      const compiled = { program: compiledFor.get(expr) ?? [] };
      const variants: [string, BpfProgram, (p: BpfProgram, f: Buffer) => Verdict, (f: Buffer) => boolean][] =
        [];
      const progs: BpfProgram[] = [];
      try {
        for (const hook of ["xdp", "tc"] as const) {
          const p = loadFilterSync(compiled.program, { hook }).program;
          progs.push(p);
          variants.push([hook, p, runPacket, hook === "tc" ? tcRunnable : runnable]);
        }
        const b = loadFilterSync(compiled.program, {
          hook: "tc",
          maps: { cpu: cpuMap.fd, scratch: scratchMap.fd },
        }).program;
        progs.push(b);
        variants.push(["tc buffered", b, runBuffered, () => true]);
        for (const [name, prog, runOne, applies] of variants) {
          const got: number[] = [];
          frames.forEach((f, i) => {
            if (!applies(f.frame)) return;
            const v = runOne(prog, f.frame);
            if (v.accepted) {
              got.push(i);
              assert.equal(v.value, 65535, `${name}: an accepted frame keeps the snap length (${f.name})`);
            }
          });
          const expected = want.filter((i) => applies(frames[i].frame));
          const names = (ids: number[]) => ids.map((i) => frames[i].name);
          assert.deepEqual(
            names(got),
            names(expected),
            `${name}: selected frames differ from tcpdump's\n  extra: ${names(got.filter((i) => !expected.includes(i))).join(", ")}\n  missing: ${names(expected.filter((i) => !got.includes(i))).join(", ")}`,
          );
        }
      } finally {
        for (const p of progs) p.close();
      }
    });
  }

  test("the corpus exercises the filters: most expressions select some frames and reject others", async () => {
    let mixed = 0;
    for (const expr of ["tcp port 80", "vlan 10", "ip[2:2] / ip[1] > 10", "icmp6 and ip6[40] == 128"]) {
      const n = (await oracle.select(expr)).length;
      if (n > 0 && n < frames.length) mixed++;
      else console.log(`'${expr}' selects ${n} of ${frames.length} frames`);
    }
    assert.equal(mixed, 4);
  });
});

describe("classic BPF checks and translation", () => {
  const ins = (code: number, jt: number, jf: number, k: number): CbpfInsn => ({ code, jt, jf, k });

  test("tcpdump -ddd text round-trips and malformed text is refused with the line", () => {
    const prog = [ins(0x28, 0, 0, 12), ins(0x15, 0, 1, 0x800), ins(0x06, 0, 0, 262144), ins(0x06, 0, 0, 0)];
    assert.deepEqual(parseDecimal(formatDecimal(prog)), prog);
    assert.throws(() => parseDecimal("2\n6 0 0 1\n"), /first line '2', 1 instructions follow/);
    assert.throws(() => parseDecimal("1\n6 0 zero 1\n"), /instruction 0: '6 0 zero 1'/);
    assert.throws(() => parseDecimal(""), FilterError);
  });

  test("programs the kernel's classic checker refuses are refused, naming the instruction", () => {
    assert.throws(() => checkProgram([]), /empty/);
    assert.throws(() => checkProgram([ins(0x28, 0, 0, 12)]), /does not end with a return/);
    assert.throws(
      () => checkProgram([ins(0x15, 5, 0, 1), ins(0x06, 0, 0, 1)]),
      /instruction 0.*jumps to 6, past the end/,
    );
    assert.throws(
      () => checkProgram([ins(0x34, 0, 0, 0), ins(0x06, 0, 0, 1)]),
      /instruction 0.*division by the constant 0/,
    );
    assert.throws(() => checkProgram([ins(0x60, 0, 0, 16), ins(0x16, 0, 0, 0)]), /scratch word 16/);
    assert.throws(
      () => checkProgram([ins(0x20, 0, 0, 0xfffff000 + 0x2c), ins(0x16, 0, 0, 0)]),
      /instruction 0.*ancillary data/,
    );
    assert.throws(() => checkProgram([ins(0xff, 0, 0, 0), ins(0x06, 0, 0, 1)]), /instruction 0 \(code 255\)/);
    const big = Array.from({ length: CBPF_MAX_INSNS + 1 }, () => ins(0x06, 0, 0, 1));
    assert.throws(() => checkProgram(big), /4097 classic BPF instructions; at most 4096/);
  });

  test("instructions nothing reaches are left out (the kernel refuses unreachable code)", () => {
    // ret #1, then a load and a return that nothing jumps to.
    const prog = [ins(0x06, 0, 0, 1), ins(0x28, 0, 0, 12), ins(0x06, 0, 0, 0)];
    assert.equal(translate(prog, { hook: "xdp" }).length, translate([prog[0]], { hook: "xdp" }).length);
    const p = loadFilterSync(prog, { hook: "xdp" }).program;
    try {
      assert.equal(p.testRun({ data: Buffer.alloc(64) }).retval, 1);
    } finally {
      p.close();
    }
  });

  test("a filter too long for 16-bit jumps is assembled with 32-bit jumps and still loads", () => {
    // ldh [12]; then 2,040 loads each followed by a compare that goes on either way; ip: ret #99.
    const n = 2040;
    const prog: CbpfInsn[] = [];
    for (let i = 0; i < n; i++) prog.push(ins(0x28, 0, 0, (i % 40) + 14), ins(0x15, 0, 0, i));
    prog.push(ins(0x28, 0, 0, 12), ins(0x15, 0, 1, 0x800), ins(0x06, 0, 0, 99), ins(0x06, 0, 0, 0));
    const cpus = possibleCpus();
    const cpu = BpfMap.create({ type: MapType.PERCPU_ARRAY, keySize: 4, valueSize: 24, maxEntries: 1 });
    const scratch = BpfMap.create({
      type: MapType.PERCPU_ARRAY,
      keySize: 4,
      valueSize: RECORD_HEADER + CAP_MAX,
      maxEntries: 1,
    });
    const opts = { hook: "tc", maps: { cpu: cpu.fd, scratch: scratch.fd } } as const;
    const insns = translate(prog, opts);
    assert.ok(insns.length > 0x8000, `${insns.length} eBPF instructions`);
    assert.ok(
      insns.some((i) => i.code === 0x06),
      "32-bit jumps (gotol) are used",
    );
    const p = loadFilterSync(prog, opts).program;
    try {
      const ipFrame = Buffer.concat([Buffer.alloc(12), Buffer.from([8, 0]), Buffer.alloc(50)]);
      const other = Buffer.concat([Buffer.alloc(12), Buffer.from([0x86, 0xdd]), Buffer.alloc(50)]);
      assert.equal(p.testRun({ data: ipFrame }).retval, 99);
      assert.equal(p.testRun({ data: other }).retval, 0);
      // The same from the buffer.
      const st = Buffer.alloc(24);
      st.writeUInt32LE(1, 4);
      st.writeUInt32LE(64, 8);
      st.writeUInt32LE(64, 12);
      cpu.updatePerCpu(
        Buffer.alloc(4),
        Array.from({ length: cpus }, () => st),
      );
      const sc = Buffer.alloc(RECORD_HEADER + CAP_MAX);
      ipFrame.copy(sc, RECORD_HEADER);
      scratch.updatePerCpu(
        Buffer.alloc(4),
        Array.from({ length: cpus }, () => sc),
      );
      assert.equal(p.testRun({ data: other }).retval, 99);
    } finally {
      p.close();
      cpu.close();
      scratch.close();
    }
  });

  test("expressions tcpdump refuses are refused with its reason and the expression", async () => {
    await assert.rejects(compileExpression("tcp port"), /filter 'tcp port': .*syntax error/);
    await assert.rejects(compileExpression("port 99999"), /filter 'port 99999': illegal port number 99999/);
    await assert.rejects(compileExpression("-w /tmp/x"), /filter '-w \/tmp\/x': .*syntax error/);
    await assert.rejects(compileExpression("tcp", 0), /snap length 0/);
    await assert.rejects(compileExpression("x".repeat(9000)), /9000 characters: at most 8192/);
  });
});
