// Memory safety and helper behaviour of both engines on programs that try what the kernel's
// verifier would refuse: writing the context's read-only fields, read-only global data, a ring
// buffer record after submitting it, the packet past its end, the runtime's own tables; calling
// a program's entry indirectly, tail-calling with a forged context. Each stops with a precise
// fault and leaves the runtime usable. Also: fib_lookup, perf event output, trace_printk.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MapFlags, MapType, ProgType } from "../../src/bpf/constants.js";
import { VmFault } from "../../src/bpf/errors.js";
import { assemble } from "../../src/bpf/insn/index.js";
import { CTX, REGIONS } from "../../src/vm/layout.js";
import { PerfEventArrayMap } from "../../src/vm/maps/perf.js";
import type { VmMap } from "../../src/vm/maps/base.js";
import type { ContextKind } from "../../src/vm/prepare.js";
import type { EngineName, VmOptions } from "../../src/vm/vm.js";
import { Vm } from "../../src/vm/vm.js";
import { udp4Frame } from "../helpers/packets.js";
import { ENGINES } from "./engines.js";

function load(
  asm: string,
  ctx: ContextKind,
  engine: EngineName,
  maps: (vm: Vm) => VmMap[] = () => [],
  opts: VmOptions = {},
) {
  const vm = new Vm({ engine, ...opts });
  const m = maps(vm);
  const prog = vm.loadProgram(assemble(asm), {
    name: "t",
    ctx,
    type: ctx === "xdp" ? ProgType.XDP : ProgType.SCHED_CLS,
    maps: m,
  });
  return { vm, prog, maps: m };
}

function fault(fn: () => unknown): VmFault {
  try {
    fn();
  } catch (e) {
    if (e instanceof VmFault) return e;
    throw e;
  }
  assert.fail("the run did not fault");
}

for (const engine of ENGINES) {
  test(`[${engine}] context fields: read-only, whole-word, inside the structure`, () => {
    const frame = udp4Frame(64);
    // xdp_md.data is read-only.
    let t = load("mov %r2, 1\nstxw [%r1+0], %r2\nmov %r0, 2\nexit", "xdp", engine);
    const f = fault(() => t.prog.run({ data: frame }));
    assert.equal(f.kind, "memory");
    assert.equal(f.access?.write, true);
    assert.equal(f.access?.region, "context");
    assert.equal(f.instruction, 1);
    // Narrow loads of xdp_md fields are refused (the kernel wants 4 bytes)...
    t = load("ldxb %r0, [%r1+12]\nexit", "xdp", engine);
    assert.equal(fault(() => t.prog.run({ data: frame })).kind, "memory");
    // ...as are reads past it.
    t = load("ldxw %r0, [%r1+24]\nexit", "xdp", engine);
    assert.match(fault(() => t.prog.run({ data: frame })).message, /invalid read of 4 bytes/);
    // __sk_buff: mark is writable from TC, pkt_type is not; narrow loads of protocol are fine.
    t = load("stw [%r1+8], 9\nldxh %r0, [%r1+16]\nexit", "tc", engine);
    const r = t.prog.run({ data: frame });
    assert.equal(r.retval, 0x0008, "ETH_P_IP in network order");
    t = load("stw [%r1+4], 1\nmov %r0, 0\nexit", "tc", engine);
    assert.equal(fault(() => t.prog.run({ data: frame })).access?.region, "context");
    // The runtime is still usable after a fault.
    assert.equal(load("mov %r0, 2\nexit", "xdp", engine).prog.run({ data: frame }).retval, 2);
  });

  test(`[${engine}] read-only global data, map values, the runtime's tables`, () => {
    const maps = (vm: Vm): VmMap[] => [
      vm.createMap({
        type: MapType.ARRAY,
        keySize: 4,
        valueSize: 8,
        maxEntries: 1,
        flags: MapFlags.RDONLY_PROG,
        name: ".rodata",
      }),
    ];
    const frame = udp4Frame(64);
    let t = load("lddw %r1, map_val(map_by_fd(0))\nldxdw %r0, [%r1+0]\nexit", "xdp", engine, maps);
    assert.equal(t.prog.run({ data: frame }).r0, 0n, "reads are fine");
    t = load("lddw %r1, map_val(map_by_fd(0))\nstdw [%r1+0], 1\nmov %r0, 0\nexit", "xdp", engine, maps);
    assert.match(
      fault(() => t.prog.run({ data: frame })).message,
      /invalid write of 8 bytes at 0x[0-9a-f]+: values of map '.rodata'/,
    );
    // A forged pointer into the region table, the context's rights or the map headers.
    for (const addr of [REGIONS, CTX + 0x400, 0x5_0000]) {
      t = load(`lddw %r1, ${addr}\nstdw [%r1+0], 0\nmov %r0, 0\nexit`, "xdp", engine, maps);
      assert.equal(fault(() => t.prog.run({ data: frame })).kind, "memory", `0x${addr.toString(16)}`);
    }
    // Past the packet's end, and before its start.
    t = load("ldxw %r2, [%r1+4]\nldxw %r0, [%r2+0]\nexit", "xdp", engine);
    assert.match(
      fault(() => t.prog.run({ data: frame })).access?.region ?? "",
      /just past the end of packet/,
    );
    t = load("ldxw %r2, [%r1+0]\nldxb %r0, [%r2-1]\nexit", "xdp", engine);
    assert.equal(fault(() => t.prog.run({ data: frame })).kind, "memory");
  });

  test(`[${engine}] ring buffer records: writable until submitted, released at the end`, () => {
    const maps = (vm: Vm): VmMap[] => [
      vm.createMap({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096, name: "rb" }),
    ];
    const reserve =
      "lddw %r1, map_by_fd(0)\nmov %r2, 8\nmov %r3, 0\ncall 131\njeq %r0, 0, out\nmov %r6, %r0\nstdw [%r6+0], 7\n";
    let t = load(
      `${reserve}mov %r1, %r6\nmov %r2, 0\ncall 132\nstdw [%r6+0], 8\nout:\nmov %r0, 0\nexit`,
      "xdp",
      engine,
      maps,
    );
    assert.match(fault(() => t.prog.run({ data: udp4Frame(64) })).message, /invalid write/, "after submit");
    t = load(`${reserve}out:\nmov %r0, 0\nexit`, "xdp", engine, maps);
    const held = fault(() => t.prog.run({ data: udp4Frame(64) }));
    assert.equal(held.kind, "unreleased-reference");
    t = load(`${reserve}mov %r1, %r6\nmov %r2, 0\ncall 132\nout:\nmov %r0, 0\nexit`, "xdp", engine, maps);
    t.prog.run({ data: udp4Frame(64) });
    const rb = t.maps[0] as import("../../src/vm/maps/ringbuf.js").RingBufMap;
    assert.deepEqual(rb.drain(), [Buffer.from([7, 0, 0, 0, 0, 0, 0, 0])]);
  });

  test(`[${engine}] indirect calls of an entry, forged contexts in tail calls`, () => {
    const frame = udp4Frame(64);
    // callx to CODE_BASE + 0: the program's own entry, which expects the context in r1.
    let t = load("lddw %r2, 0x100000000\ncall %r2\nexit", "xdp", engine);
    assert.match(fault(() => t.prog.run({ data: frame })).message, /neither a function nor a helper/);
    const maps = (vm: Vm): VmMap[] => [
      vm.createMap({ type: MapType.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2, name: "jmp" }),
    ];
    t = load(
      "mov %r1, %r10\nlddw %r2, map_by_fd(0)\nmov %r3, 0\ncall 12\nmov %r0, 1\nexit",
      "xdp",
      engine,
      maps,
    );
    assert.match(fault(() => t.prog.run({ data: frame })).message, /not the program's context/);
  });

  test(`[${engine}] fib_lookup, perf event output and trace_printk`, () => {
    const lines: string[] = [];
    const fib = {
      routes: [
        { prefix: "198.18.0.0/24", ifindex: 3 },
        { prefix: "0.0.0.0/0", ifindex: 4, gateway: "198.18.1.1" },
      ],
      neighbors: [{ ip: "198.18.0.2", mac: "02:00:00:00:00:0b" }],
      interfaces: [
        { ifindex: 3, mac: "02:00:00:00:00:03" },
        { ifindex: 4, mac: "02:00:00:00:00:04", mtu: 1000 },
      ],
    };
    // params on the stack: family AF_INET, tot_len, ipv4_dst from r6.
    const lookup = (dst: number, totLen: number): string =>
      `mov %r2, %r10\nadd %r2, -64\nstdw [%r2+0], 0\nstdw [%r2+8], 0\nstdw [%r2+16], 0\nstdw [%r2+24], 0\nstdw [%r2+32], 0\nstdw [%r2+40], 0\nstdw [%r2+48], 0\nstdw [%r2+56], 0\nstb [%r2+0], 2\nsth [%r2+6], ${totLen}\nstw [%r2+32], ${dst}\nmov %r3, 64\nmov %r4, 0\ncall 69\n`;
    const ip = (a: number[]): number => Buffer.from(a).readUInt32LE(0);
    const run = (asm: string): bigint =>
      load(asm, "xdp", engine, () => [], { fib, printk: (l) => lines.push(l) }).prog.run({
        data: udp4Frame(64),
      }).r0;
    assert.equal(run(`${lookup(ip([198, 18, 0, 2]), 100)}exit`), 0n, "SUCCESS");
    assert.equal(run(`${lookup(ip([198, 18, 0, 2]), 100)}ldxw %r0, [%r10-56]\nexit`), 3n, "egress ifindex");
    assert.equal(
      run(`${lookup(ip([198, 18, 0, 2]), 100)}ldxb %r0, [%r10-1]\nexit`),
      0x0bn,
      "dmac from the neighbour",
    );
    assert.equal(run(`${lookup(ip([198, 18, 0, 9]), 100)}exit`), 7n, "NO_NEIGH");
    assert.equal(
      run(`${lookup(ip([198, 20, 0, 1]), 1400)}exit`),
      8n,
      "FRAG_NEEDED over the gateway route's MTU",
    );
    // perf_event_output: -ENOENT without a reader, the sample with one.
    const vm = new Vm({ engine });
    const perf = vm.createMap({
      type: MapType.PERF_EVENT_ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: 1,
      name: "events",
    });
    const prog = vm.loadProgram(
      assemble(
        "stdw [%r10-8], 0x2a\nlddw %r2, map_by_fd(0)\nlddw %r3, 0x4ffffffff\nmov %r4, %r10\nadd %r4, -8\nmov %r5, 8\ncall 25\nexit",
      ),
      { name: "perf", ctx: "xdp", type: ProgType.XDP, maps: [perf] },
    );
    assert.equal(prog.run({ data: udp4Frame(64) }).r0, BigInt.asUintN(64, -2n));
    const samples: Buffer[] = [];
    (perf as PerfEventArrayMap).open(0, (s) => samples.push(s));
    assert.equal(prog.run({ data: udp4Frame(64) }).r0, 0n);
    assert.deepEqual(
      samples[0],
      Buffer.concat([Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0]), udp4Frame(64).subarray(0, 4)]),
    );
    // trace_printk with a string argument.
    const printk = load(
      "stdw [%r10-16], 0\nstw [%r10-16], 0x6b6f\nlddw %r1, 0x0064253d6e207325\nstxdw [%r10-8], %r1\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, %r10\nadd %r3, -16\nmov %r4, 42\ncall 6\nexit",
      "xdp",
      engine,
      () => [],
      { printk: (l) => lines.push(l) },
    );
    printk.prog.run({ data: udp4Frame(64) });
    assert.equal(lines.at(-1), "ok n=42");
  });
}
