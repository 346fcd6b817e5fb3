// Helpers that are not about maps or packets: time, randomness, the CPU, trace_printk, bpf_loop,
// spin locks (single-threaded runs hold them trivially) and tail calls.
import { HelperId, MapType } from "../../bpf/constants.js";
import { E2BIG, EINVAL, ENOENT } from "../../bpf/sys/errno.js";
import { CTX } from "../layout.js";
import { SlotArrayMap } from "../maps/array.js";
import type { HelperEnv } from "./env.js";
import { formatPrintk } from "./printk.js";
import type { HelperDef } from "./types.js";

/** The kernel's MAX_TAIL_CALL_CNT: tail calls a run may make. */
export const MAX_TAIL_CALLS = 33;
/** BPF_MAX_LOOPS: iterations bpf_loop accepts. */
const MAX_LOOPS = 1 << 23;

function cstring(env: HelperEnv, addr: number, max: number): string {
  const u8 = env.mem.u8;
  let end = addr;
  while (end < addr + max && u8[end] !== 0) end++;
  return Buffer.from(u8.subarray(addr, end)).toString("latin1");
}

/** A format string argument: `size` readable bytes, NUL-terminated inside them. */
function format(env: HelperEnv): string | undefined {
  const size = env.num(2);
  if (size === 0 || size === Infinity) return undefined;
  const at = env.ptr(1, size, false, "format");
  if (env.mem.u8[at + size - 1] !== 0 && !env.mem.u8.subarray(at, at + size).includes(0)) return undefined;
  return cstring(env, at, size);
}

/** %s arguments: strings in program-readable memory, up to the first NUL or the region's end. */
function stringAt(env: HelperEnv, addr: bigint): string {
  if (addr > 0xffff_ffffn) return "(invalid)";
  let a = Number(addr);
  let s = "";
  for (let i = 0; i < 256 && env.vm.canAccess(a, 1, false); i++, a++) {
    const c = env.mem.u8[a];
    if (c === 0) return s;
    s += String.fromCharCode(c);
  }
  return env.vm.canAccess(a, 1, false) || s.length ? s : "(invalid)";
}

function printk(env: HelperEnv, fmt: string, arg: (i: number) => bigint | undefined): number {
  const line = formatPrintk(fmt, { arg, string: (a) => stringAt(env, a) });
  env.vm.options.printk?.(line);
  return line.length;
}

const tracePrintk = (env: HelperEnv): number => {
  const fmt = format(env);
  if (fmt === undefined) return -EINVAL;
  return printk(env, fmt, (i) => (i < 3 ? env.arg(3 + i) : undefined));
};

const traceVprintk = (env: HelperEnv): number => {
  const fmt = format(env);
  if (fmt === undefined) return -EINVAL;
  const len = env.num(4);
  if (len % 8 || len > 12 * 8) return -EINVAL;
  const data = env.ptrOrNull(3, len, false, "arguments");
  return printk(env, fmt, (i) => (i * 8 < len ? env.mem.getU64(data + i * 8) : undefined));
};

const loop = (env: HelperEnv): number => {
  const n = env.num(1);
  if (env.arg(4) !== 0n) return -EINVAL;
  // The verifier inlines bpf_loop; its inlined check sets a 32-bit -E2BIG.
  if (n > MAX_LOOPS) return -E2BIG >>> 0;
  const cb = env.arg(2);
  const ctx = env.arg(3);
  for (let i = 0; i < n; i++) if (env.vm.callCode(cb, [BigInt(i), ctx]) !== 0n) return i + 1;
  return n;
};

const spinLock = (env: HelperEnv): number => {
  env.ptr(1, 4, true, "lock");
  return 0;
};

/** bpf_tail_call(ctx, prog_array, index): on success the engines jump; on failure r0 is left alone. */
const tailCall = (env: HelperEnv): number => {
  const m = env.map(2);
  if (!(m instanceof SlotArrayMap) || m.type !== MapType.PROG_ARRAY)
    env.fault(`map '${m.name}' is not a prog array`);
  const index = env.u32(3);
  const run = env.run;
  // The target starts with r1 = ctx; only the program's own context may be passed on.
  if (run.kind !== "raw" && env.arg(1) !== BigInt(CTX))
    env.fault("the first argument is not the program's context");
  if (!m.present(index) || run.tailCalls >= MAX_TAIL_CALLS) return -ENOENT;
  const target = env.vm.programs[m.slotU32(index)];
  if (!target || target.prepared.ctx !== run.prog.prepared.ctx) return -ENOENT;
  run.tailCalls++;
  env.vm.requestTailCall(target);
  return 0;
};

const now = (env: HelperEnv): bigint => env.vm.options.now?.() ?? process.hrtime.bigint();

export const miscHelpers: HelperDef[] = [
  { id: HelperId.ktime_get_ns, name: "ktime_get_ns", fn: now },
  { id: HelperId.ktime_get_boot_ns, name: "ktime_get_boot_ns", fn: now },
  { id: HelperId.ktime_get_coarse_ns, name: "ktime_get_coarse_ns", fn: now },
  { id: HelperId.ktime_get_tai_ns, name: "ktime_get_tai_ns", fn: now },
  {
    id: HelperId.get_prandom_u32,
    name: "get_prandom_u32",
    fn: (env) => (env.vm.options.random?.() ?? Math.floor(Math.random() * 0x1_0000_0000)) >>> 0,
  },
  { id: HelperId.get_smp_processor_id, name: "get_smp_processor_id", fn: (env) => env.vm.currentCpu },
  { id: HelperId.get_numa_node_id, name: "get_numa_node_id", fn: () => 0 },
  { id: HelperId.trace_printk, name: "trace_printk", fn: tracePrintk },
  { id: HelperId.trace_vprintk, name: "trace_vprintk", fn: traceVprintk },
  { id: HelperId.loop, name: "loop", fn: loop },
  { id: HelperId.spin_lock, name: "spin_lock", fn: spinLock },
  { id: HelperId.spin_unlock, name: "spin_unlock", fn: spinLock },
  { id: HelperId.tail_call, name: "tail_call", fn: tailCall },
];
