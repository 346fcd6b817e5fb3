// The address space of the userspace runtime: one linear memory (a WebAssembly.Memory, shared by
// the interpreter and the JIT) holding everything a program can point at. Pointers the programs see
// are offsets into it, so they always fit in 32 bits; the first 64 KiB are never mapped, so NULL
// and small integers are never valid pointers.

/** Nothing below this address is ever accessible: NULL and small integers fault. */
export const NULL_GUARD = 0x1_0000;

/** Runtime scratch state shared between JavaScript and WebAssembly (not accessible to programs). */
export const SCRATCH = 0x1_0000;
/** Helper calls: r0 (the result) at +0, r1..r5 at +8..+40, the caller's frame pointer at +48. */
export const HELPER_ARGS = SCRATCH;
export const HELPER_FP = SCRATCH + 48;
/** Instruction index of the current helper call (for error messages). */
export const HELPER_PC = SCRATCH + 56;
/** Packet bounds (u32 each): data_meta, data, data_end, hard start, hard end. */
export const PKT_META = SCRATCH + 64;
export const PKT_DATA = SCRATCH + 68;
export const PKT_END = SCRATCH + 72;
export const PKT_HARD_START = SCRATCH + 76;
export const PKT_HARD_END = SCRATCH + 80;
/** Fault record written by the WebAssembly checker before it traps. */
export const FAULT_ADDR = SCRATCH + 96; // u64
export const FAULT_SIZE = SCRATCH + 104; // u32
export const FAULT_WRITE = SCRATCH + 108; // u32
export const FAULT_PC = SCRATCH + 112; // u32
export const FAULT_KIND = SCRATCH + 116; // u32, FaultCode
/** Remaining instruction budget (i64). */
export const BUDGET = SCRATCH + 128;
/** Pending tail call: table index + 1 of the target (0 = none), and tail calls made this run. */
export const TAIL_TARGET = SCRATCH + 136;
export const TAIL_COUNT = SCRATCH + 140;
/** Current call depth (frames in use, 1 for the entry). */
export const CALL_DEPTH = SCRATCH + 144;
/** Number of entries in the region table. */
export const REGION_COUNT = SCRATCH + 148;
/** Program id of the running program (changes on tail calls). */
export const CURRENT_PROG = SCRATCH + 152;
/** Current CPU (per-CPU maps, smp_processor_id). */
export const CURRENT_CPU = SCRATCH + 156;

/** Full r0 of the last JIT run (i64). */
export const R0_OUT = SCRATCH + 168;
/** Maps of the runtime by id (header addresses), for the JIT's map helpers to validate map pointers. */
export const MAP_COUNT = SCRATCH + 176;
export const MAP_TABLE = SCRATCH + 0x200;
export const MAX_MAPS = (0x1000 - 0x200) / 4;

/** Codes of FAULT_KIND. */
export const FaultCode = { MEMORY: 1, BUDGET: 2, CALL_DEPTH: 3, HELPER: 4 } as const;

/** The region table the checkers scan (see regions.ts): REGION_SIZE bytes per entry. */
export const REGIONS = 0x1_1000;
export const REGION_SIZE = 32;
export const MAX_REGIONS = 2048;

/** The context structure (xdp_md, __sk_buff, or the input memory of a raw program). */
export const CTX = 0x2_1000;
export const CTX_SIZE = 0x400;
/** Per-byte access rights of the context (see context/access.ts). */
export const CTX_PERM = 0x2_1400;

/** Stack frames, growing down from STACK_TOP: frame k's frame pointer is STACK_TOP - k * FRAME_SIZE. */
export const FRAME_SIZE = 512;
export const MAX_FRAMES = 8;
export const STACK_TOP = 0x2_4000;
export const STACK_BOTTOM = STACK_TOP - MAX_FRAMES * FRAME_SIZE;

/** The packet buffer: headroom, frame and tailroom of one packet. */
export const PACKET = 0x2_4000;
export const PACKET_CAPACITY = 0x2_0000;

/** Maps, global data and input memory are allocated from here up. */
export const HEAP = 0x5_0000;

/** Addresses of functions (lddw BPF_PSEUDO_FUNC): above 4 GiB, so never a memory address. */
export const CODE_BASE = 0x1_0000_0000n;

export const PAGE = 0x1_0000;
