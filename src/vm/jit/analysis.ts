// What the JIT knows statically about registers, so that accesses the kernel's verifier would
// prove safe compile to plain loads and stores: a forward dataflow over a function's blocks
// tracking context pointers (field accesses checked against the context's rights at compile time,
// the kernel's field rewriting), stack pointers, map pointers from lddw, and map value pointers from
// bpf_map_lookup_elem once null-checked (or from lddw of global data). Anything else is unknown
// and keeps its run-time check. The transfer rules only claim what both engines guarantee.
import { HelperId, MapFlags, MapType, Pseudo } from "../../bpf/constants.js";
import { LDDW } from "../../bpf/insn/instruction.js";
import { AluOp, Class, JmpOp, Mode, Op as BpfOp, Source, sizeBytes } from "../../bpf/insn/opcodes.js";
import type { AccessTable } from "../context/access.js";
import { socketAccess, tcAccess } from "../context/skb.js";
import { xdpAccess } from "../context/xdp.js";
import { CTX, FRAME_SIZE } from "../layout.js";
import type { VmMap } from "../maps/base.js";
import type { PreparedFunction, PreparedProgram } from "../prepare.js";
import type { Vm } from "../vm.js";
import type { Cfg } from "./cfg.js";

export type AbsVal =
  | { t: "top" }
  | { t: "ctx"; off: number }
  | { t: "stack"; off: number }
  | { t: "map"; m: VmMap }
  | { t: "val"; m: VmMap; off: number }
  | { t: "valnull"; m: VmMap }
  /** The packet's data pointer + off, and its end pointer (loaded from the context). */
  | { t: "pkt"; off: number }
  | { t: "pktend" };

const TOP: AbsVal = { t: "top" };

/** r0..r9, and how many bytes from the packet's data a comparison with its end has proved present. */
export interface RegState {
  r: AbsVal[];
  range: number;
}

/** Helpers that neither move the packet nor reach code that could (the rest invalidate packet pointers). */
const PACKET_SAFE = new Set<number>([
  HelperId.map_lookup_elem,
  HelperId.map_update_elem,
  HelperId.map_delete_elem,
  HelperId.map_push_elem,
  HelperId.map_pop_elem,
  HelperId.map_peek_elem,
  HelperId.map_lookup_percpu_elem,
  HelperId.ktime_get_ns,
  HelperId.ktime_get_boot_ns,
  HelperId.get_prandom_u32,
  HelperId.get_smp_processor_id,
  HelperId.trace_printk,
  HelperId.csum_diff,
  HelperId.perf_event_output,
  HelperId.ringbuf_output,
  HelperId.ringbuf_reserve,
  HelperId.ringbuf_submit,
  HelperId.ringbuf_discard,
  HelperId.redirect,
  HelperId.redirect_map,
  HelperId.fib_lookup,
  HelperId.skb_load_bytes,
  HelperId.spin_lock,
  HelperId.spin_unlock,
]);

/** Offsets of the data and data_end fields in each context. */
const PKT_FIELDS: Record<string, [number, number] | undefined> = { xdp: [0, 4], tc: [76, 80] };

/** Map types whose lookups return pointers to values of valueSize bytes in the map's own region. */
const VALUE_LOOKUPS = new Set<number>([
  MapType.ARRAY,
  MapType.PERCPU_ARRAY,
  MapType.HASH,
  MapType.PERCPU_HASH,
  MapType.LRU_HASH,
  MapType.LRU_PERCPU_HASH,
  MapType.LPM_TRIE,
]);

function same(a: AbsVal, b: AbsVal): boolean {
  if (a.t !== b.t) return false;
  switch (a.t) {
    case "top":
      return true;
    case "ctx":
    case "stack":
      return a.off === (b as typeof a).off;
    case "map":
    case "valnull":
      return a.m === (b as typeof a).m;
    case "val":
      return a.m === (b as typeof a).m && a.off === (b as typeof a).off;
    case "pkt":
      return a.off === (b as typeof a).off;
    case "pktend":
      return true;
  }
}

const meet = (a: RegState, b: RegState): RegState => ({
  r: a.r.map((v, i) => (same(v, b.r[i]) ? v : TOP)),
  range: Math.min(a.range, b.range),
});
const copy = (s: RegState): RegState => ({ r: [...s.r], range: s.range });
const equal = (a: RegState, b: RegState): boolean =>
  a.range === b.range && a.r.every((v, i) => same(v, b.r[i]));
const fresh = (): RegState => ({ r: new Array<AbsVal>(10).fill(TOP), range: 0 });

export function ctxAccessTable(p: PreparedProgram): AccessTable | undefined {
  return p.ctx === "xdp"
    ? xdpAccess
    : p.ctx === "tc"
      ? tcAccess
      : p.ctx === "socket"
        ? socketAccess
        : undefined;
}

/** How an access can be compiled without a run-time check. */
export type StaticAccess =
  { kind: "const"; addr: number } | { kind: "frame"; offset: number } | { kind: "reg"; offset: number };

export class Analysis {
  readonly #in = new Map<number, RegState>();
  readonly #ctx: AccessTable | undefined;
  readonly #valueMaps: VmMap[];

  constructor(
    readonly vm: Vm,
    readonly p: PreparedProgram,
    readonly f: PreparedFunction,
    readonly cfg: Cfg,
  ) {
    this.#ctx = ctxAccessTable(p);
    this.#valueMaps = vm.maps.filter((m) => m.directValueAddress() !== undefined);
    const init = fresh();
    // The entry function gets the context in r1, unless something else can call it.
    if (f.index === 0 && this.#ctx && !this.#entryReachedOtherwise()) init.r[1] = { t: "ctx", off: 0 };
    this.#solve(init);
  }

  #entryReachedOtherwise(): boolean {
    const p = this.p;
    for (let i = 0; i < p.n; i++) {
      const code = p.op[i];
      if ((code === BpfOp.CALL && p.src[i] === Pseudo.CALL) || (code === LDDW && p.src[i] === Pseudo.FUNC))
        if (p.target[i] === 0) return true;
    }
    return false;
  }

  #solve(init: RegState): void {
    const { cfg } = this;
    this.#in.set(0, init);
    for (let changed = true; changed;) {
      changed = false;
      for (const b of cfg.rpo) {
        const st = this.#in.get(b);
        if (!st) continue;
        const out = this.run(b, copy(st));
        const blk = cfg.blocks[b];
        blk.succ.forEach((s, k) => {
          const edge = this.#refine(b, k, out);
          const prev = this.#in.get(s);
          const next = prev ? meet(prev, edge) : edge;
          if (!prev || !equal(next, prev)) {
            this.#in.set(s, next);
            changed = true;
          }
        });
      }
    }
  }

  /** Register state at the start of block b (a copy the caller may update). */
  entry(b: number): RegState {
    const st = this.#in.get(b);
    return st ? copy(st) : fresh();
  }

  /** Walks block b's straight-line part from `st` (updated in place) and returns it. */
  run(b: number, st: RegState): RegState {
    const blk = this.cfg.blocks[b];
    const last = blk.kind === "fall" ? blk.end : blk.end - 1;
    for (let i = blk.start; i < last; i++) this.step(i, st);
    return st;
  }

  /**
   * What a conditional jump proves on each edge: a null check makes a lookup result a value
   * pointer; comparing a packet pointer with the packet's end proves bytes present (the verifier's
   * find_good_pkt_pointers()).
   */
  #refine(b: number, k: number, out: RegState): RegState {
    const blk = this.cfg.blocks[b];
    if (blk.kind !== "cond") return out;
    const i = blk.end - 1;
    const p = this.p;
    const code = p.op[i];
    if ((code & 7) !== Class.JMP) return out;
    const op = code & 0xf0;
    const taken = k === 1;
    const a = out.r[p.dst[i]];
    if (!(code & Source.X)) {
      if (p.imm[i] !== 0 || a?.t !== "valnull") return out;
      const nonNull = (op === JmpOp.JEQ && !taken) || (op === JmpOp.JNE && taken);
      const isNull = (op === JmpOp.JEQ && taken) || (op === JmpOp.JNE && !taken);
      if (!nonNull && !isNull) return out;
      const st = copy(out);
      st.r[p.dst[i]] = nonNull ? { t: "val", m: a.m, off: 0 } : TOP;
      return st;
    }
    const bv = p.src[i] === 10 ? TOP : out.r[p.src[i]];
    let proved: number | undefined;
    if (a?.t === "pkt" && bv?.t === "pktend") {
      // pkt + k OP end
      if (
        ((op === JmpOp.JGT || op === JmpOp.JGE) && !taken) ||
        ((op === JmpOp.JLT || op === JmpOp.JLE) && taken)
      )
        proved = a.off;
    } else if (a?.t === "pktend" && bv?.t === "pkt") {
      // end OP pkt + k
      if (
        ((op === JmpOp.JGT || op === JmpOp.JGE) && taken) ||
        ((op === JmpOp.JLT || op === JmpOp.JLE) && !taken)
      )
        proved = bv.off;
    }
    if (proved === undefined || proved <= out.range) return out;
    const st = copy(out);
    st.range = proved;
    return st;
  }

  #wide(i: number): AbsVal {
    const p = this.p;
    const v = p.wide[i];
    const src = p.src[i];
    if (src === 0 && !p.insns[i].ref) return TOP;
    if (v > 0xffff_ffffn) return TOP;
    const n = Number(v);
    const m = this.vm.mapAt(n);
    if (m) return { t: "map", m };
    for (const vm of this.#valueMaps) {
      const base = vm.directValueAddress() as number;
      if (n >= base && n < base + vm.valueSize) return { t: "val", m: vm, off: n - base };
    }
    return TOP;
  }

  /** The transfer function of instruction i. */
  step(i: number, st: RegState): void {
    const p = this.p;
    const r = st.r;
    const code = p.op[i];
    const cls = code & 7;
    const d = p.dst[i];
    switch (cls) {
      case Class.ALU64: {
        const op = code & 0xf0;
        const v = r[d];
        if (op === AluOp.MOV && code & Source.X && p.off[i] === 0) {
          r[d] = p.src[i] === 10 ? { t: "stack", off: 0 } : r[p.src[i]];
          return;
        }
        if ((op === AluOp.ADD || op === AluOp.SUB) && !(code & Source.X)) {
          const delta = op === AluOp.ADD ? p.imm[i] : -p.imm[i];
          if (v.t === "ctx" || v.t === "stack" || v.t === "val" || v.t === "pkt")
            r[d] = { ...v, off: v.off + delta };
          else r[d] = TOP;
          return;
        }
        r[d] = TOP;
        return;
      }
      case Class.ALU:
        r[d] = TOP;
        return;
      case Class.LDX: {
        // ctx->data and ctx->data_end: the packet's pointers.
        const base = p.src[i] === 10 ? TOP : r[p.src[i]];
        const fields = PKT_FIELDS[p.ctx];
        const size = sizeBytes(code & 0x18);
        if (base.t === "ctx" && fields && size === 4 && (code & 0xe0) === Mode.MEM) {
          const o = base.off + p.off[i];
          r[d] = o === fields[0] ? { t: "pkt", off: 0 } : o === fields[1] ? { t: "pktend" } : TOP;
        } else r[d] = TOP;
        return;
      }
      case Class.LD:
        if (code === LDDW) r[d] = this.#wide(i);
        else r[0] = TOP;
        return;
      case Class.STX:
        if ((code & 0xe0) === Mode.ATOMIC) {
          if (p.imm[i] === 0xf1) r[0] = TOP;
          else if (p.imm[i] & 1) r[p.src[i]] = TOP;
        }
        return;
      case Class.ST:
        return;
      default: {
        if (code !== BpfOp.CALL && code !== BpfOp.CALLX) return;
        const helper = code === BpfOp.CALL && p.src[i] === 0 ? p.imm[i] : -1;
        if (helper === HelperId.map_lookup_elem) {
          const m = r[1];
          r[0] = m.t === "map" && VALUE_LOOKUPS.has(m.m.type) ? { t: "valnull", m: m.m } : TOP;
        } else r[0] = TOP;
        if (!PACKET_SAFE.has(helper)) {
          // The packet may have moved: its pointers are stale, as the verifier rules.
          for (let k = 0; k < r.length; k++) if (r[k].t === "pkt" || r[k].t === "pktend") r[k] = TOP;
          st.range = 0;
        }
      }
    }
  }

  /** How to compile an access of `size` bytes at reg `base` + off, if it needs no run-time check. */
  staticAccess(
    st: RegState,
    base: number,
    off: number,
    size: number,
    write: boolean,
  ): StaticAccess | undefined {
    if (base === 10) return { kind: "frame", offset: off + FRAME_SIZE };
    const v = st.r[base];
    switch (v.t) {
      case "stack": {
        const o = v.off + off;
        return o >= -FRAME_SIZE && o + size <= 0 ? { kind: "frame", offset: o + FRAME_SIZE } : undefined;
      }
      case "ctx": {
        const o = v.off + off;
        const t = this.#ctx;
        if (!t || o < 0 || o >= t.size) return undefined;
        const bit = write ? size << 4 : size;
        return t.bytes[o] & bit ? { kind: "const", addr: CTX + o } : undefined;
      }
      case "val": {
        const o = v.off + off;
        if (o < 0 || o + size > v.m.valueSize) return undefined;
        if (write && v.m.flags & MapFlags.RDONLY_PROG) return undefined;
        return { kind: "reg", offset: off };
      }
      case "pkt": {
        const o = v.off + off;
        return o >= 0 && o + size <= st.range ? { kind: "reg", offset: off } : undefined;
      }
      default:
        return undefined;
    }
  }
}

export { sizeBytes };
