// Loading programs, verifier failures, test runs, info and statistics, against the real kernel.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AttachType, MapType, ProgType, XdpAction } from "../../src/bpf/constants.js";
import { BpfError, NotSupportedError, VerifierError } from "../../src/bpf/errors.js";
import { BpfMap } from "../../src/bpf/map/map.js";
import { BpfProgram } from "../../src/bpf/prog/program.js";
import { enableStats } from "../../src/bpf/prog/stats.js";
import { programIds } from "../../src/bpf/sys/ids.js";
import {
  R0,
  R1,
  R2,
  R3,
  R4,
  addImm,
  call,
  exit,
  insn,
  jgtReg,
  ldMapFd,
  ldxW,
  movImm,
  movReg,
  program,
  returns,
  stxW,
} from "./asm.js";

const xdp = (insns: Buffer, name = "kt_xdp") =>
  BpfProgram.load({ type: ProgType.XDP, expectedAttachType: AttachType.XDP, insns, license: "GPL", name });

/** XDP: if the packet has a first byte, overwrite it with 0xab and pass, else drop. */
const markFirstByte = program(
  ldxW(R2, R1, 0), // data
  ldxW(R3, R1, 4), // data_end
  movReg(R4, R2),
  addImm(R4, 1),
  jgtReg(R4, R3, 3),
  insn(0x72, R2, 0, 0, 0xab), // *(u8 *)(r2 + 0) = 0xab
  movImm(R0, XdpAction.PASS),
  exit(),
  movImm(R0, XdpAction.DROP),
  exit(),
);

test("XDP test run: verdict, packet out, context out, repeat", () => {
  const p = xdp(markFirstByte);
  try {
    assert.equal(p.name, "kt_xdp");
    assert.equal(p.type, ProgType.XDP);
    assert.match(p.tag, /^[0-9a-f]{16}$/);
    const pkt = Buffer.alloc(64, 0x11);
    const r = p.testRun({ data: pkt });
    assert.equal(r.retval, XdpAction.PASS);
    assert.equal(r.data?.length, 64);
    assert.equal(r.data?.[0], 0xab);
    assert.equal(r.data?.[1], 0x11);
    // struct xdp_md in and out: data 0, data_end = packet size.
    const ctx = Buffer.alloc(24);
    ctx.writeUInt32LE(64, 4);
    const withCtx = p.testRun({ data: pkt, ctx });
    assert.equal(withCtx.ctx?.readUInt32LE(4), 64, "ctx out: data_end");
    const many = p.testRun({ data: pkt, repeat: 1000 });
    assert.equal(many.retval, XdpAction.PASS);
    assert.ok(many.durationNs > 0 && many.durationNs < 1e6, `${many.durationNs} ns per run`);
  } finally {
    p.close();
  }
});

test("TC (sched_cls) test run: __sk_buff in and out", () => {
  // r2 = skb->mark; skb->cb[0] = r2; return r2
  const p = BpfProgram.load({
    type: ProgType.SCHED_CLS,
    insns: program(ldxW(R2, R1, 8), stxW(R1, R2, 48), movReg(R0, R2), exit()),
    license: "GPL",
    name: "kt_tc",
  });
  try {
    const skb = Buffer.alloc(192); // struct __sk_buff
    skb.writeUInt32LE(0x1234, 8); // mark
    const pkt = Buffer.alloc(64);
    pkt.writeUInt16BE(0x0800, 12); // an Ethernet frame carrying IPv4
    const r = p.testRun({ data: pkt, ctx: skb });
    assert.equal(r.retval, 0x1234);
    assert.equal(r.ctx?.readUInt32LE(48), 0x1234, "cb[0] written by the program");
    assert.equal(r.ctx?.readUInt32LE(8), 0x1234, "mark kept");
    assert.equal(r.data?.length, 64);
  } finally {
    p.close();
  }
});

test("a rejected program is a VerifierError naming the instruction and the complaint", () => {
  // Instruction 1 reads beyond struct xdp_md.
  const bad = program(movImm(R2, 0), ldxW(R0, R1, 100), exit());
  assert.throws(
    () => xdp(bad, "kt_bad"),
    (e: unknown) => {
      assert.ok(e instanceof VerifierError, String(e));
      assert.equal(e.instruction, 1);
      assert.equal(e.program, "kt_bad");
      assert.equal(e.errno, 13, "EACCES");
      assert.match(e.message, /kt_bad/);
      assert.match(e.message, /instruction 1: \(61\) r0 = \*\(u32 \*\)\(r1 \+100\)/);
      assert.match(e.message, /invalid bpf_context access off=100 size=4/);
      assert.match(e.log, /processed \d+ insns/);
      return true;
    },
  );
  // Reading a register nobody wrote.
  assert.throws(
    () => xdp(program(movImm(R0, 0), movReg(R0, 5), exit())),
    (e: unknown) => e instanceof VerifierError && e.instruction === 1 && /R5 !read_ok/.test(e.message),
  );
});

test("a requested log is kept, and grows past its first buffer", () => {
  const p = xdp(returns(2));
  const small = BpfProgram.load({
    type: ProgType.SOCKET_FILTER,
    insns: returns(0),
    license: "GPL",
    logLevel: 1,
  });
  try {
    assert.match(small.verifierLog ?? "", /processed 2 insns/);
    assert.equal(p.verifierLog, undefined, "no log unless asked");
    // Level 2 logs every instruction: 4000 of them overflow a 64 KiB buffer.
    const body = Buffer.concat(Array.from({ length: 4000 }, (_, i) => movImm(R0, i)));
    const big = BpfProgram.load({
      type: ProgType.SOCKET_FILTER,
      insns: program(body, exit()),
      license: "GPL",
      logLevel: 2,
      logSize: 4096,
    });
    try {
      assert.ok((big.verifierLog ?? "").length > 64 * 1024, `${big.verifierLog?.length} bytes of log`);
      assert.match(big.verifierLog ?? "", /^0: /m);
      assert.match(big.verifierLog ?? "", /processed 4001 insns/);
    } finally {
      big.close();
    }
  } finally {
    small.close();
    p.close();
  }
});

test("info: ids, map ids, instruction counts; fromId reopens the same program", () => {
  const m = BpfMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
  // r1 = map; r2 = fp - 4 with *(u32 *)r2 = 0; call map_lookup_elem; return 0
  const insns = program(
    ldMapFd(R1, m.fd),
    movReg(R2, 10),
    addImm(R2, -4),
    insn(0x62, R2, 0, 0, 0), // *(u32 *)(r2 + 0) = 0
    call(1),
    returns(0),
  );
  const p = BpfProgram.load({ type: ProgType.SOCKET_FILTER, insns, license: "GPL", name: "kt_info" });
  try {
    const info = p.info();
    assert.equal(info.id, p.id);
    assert.equal(info.name, "kt_info");
    assert.deepEqual(info.mapIds, [m.id]);
    assert.equal(info.gplCompatible, true);
    assert.ok(info.jitedProgLen > 0, "JIT is on");
    assert.ok(info.verifiedInsns > 0);
    const xlated = p.xlatedInstructions();
    assert.equal(xlated.length, info.xlatedProgLen);
    assert.equal(xlated.length % 8, 0);
    assert.ok(xlated.length / 8 >= 7, `${xlated.length / 8} instructions after rewriting`);
    assert.ok([...programIds()].includes(p.id));
    const again = BpfProgram.fromId(p.id);
    try {
      assert.equal(again.tag, p.tag);
      assert.equal(again.name, "kt_info");
    } finally {
      again.close();
    }
  } finally {
    p.close();
    m.close();
  }
});

test("enableStats makes run counters move", () => {
  const p = xdp(returns(2));
  const stats = enableStats();
  try {
    const before = p.info();
    p.testRun({ data: Buffer.alloc(64), repeat: 100 });
    const after = p.info();
    assert.ok(after.runCnt - before.runCnt >= 100n, `run_cnt ${before.runCnt} -> ${after.runCnt}`);
    assert.ok(after.runTimeNs > before.runTimeNs);
  } finally {
    stats.close();
    p.close();
  }
});

test("loadAsync loads on the thread pool and gives the same program", async () => {
  const p = await BpfProgram.loadAsync({
    type: ProgType.XDP,
    expectedAttachType: AttachType.XDP,
    insns: markFirstByte,
    license: "GPL",
    name: "kt_async",
  });
  try {
    assert.equal(p.testRun({ data: Buffer.alloc(64) }).retval, XdpAction.PASS);
  } finally {
    p.close();
  }
  await assert.rejects(
    BpfProgram.loadAsync({ type: ProgType.XDP, insns: program(ldxW(R0, R1, 100), exit()), license: "GPL" }),
    VerifierError,
  );
});

test("missing features are NotSupportedError: unknown program type, helper unavailable to the type", () => {
  assert.throws(
    () => BpfProgram.load({ type: 999, insns: returns(0), license: "GPL" }),
    (e: unknown) => e instanceof NotSupportedError && /program type/.test(e.message),
  );
  // XDP programs cannot call bpf_skb_store_bytes (helper 9).
  assert.throws(
    () => xdp(program(call(9), returns(0))),
    (e: unknown) => e instanceof NotSupportedError && /skb_store_bytes/.test(e.message),
  );
  // A GPL-only helper from a non-GPL program is a verifier complaint, not a missing feature.
  assert.throws(
    () =>
      BpfProgram.load({ type: ProgType.XDP, insns: program(call(6), returns(0)), license: "Proprietary" }),
    (e: unknown) => e instanceof VerifierError && /GPL/.test(e.message),
  );
});

test("testRun with a too small output buffer says what to raise", () => {
  const p = xdp(markFirstByte);
  try {
    assert.throws(
      () => p.testRun({ data: Buffer.alloc(64), dataSizeOut: 16 }),
      (e: unknown) => e instanceof BpfError && e.errnoName === "ENOSPC" && /dataSizeOut/.test(e.message),
    );
  } finally {
    p.close();
  }
});
