// The helpers of the bpf_conformance plugins (uBPF's test helpers), so that its test programs that
// call helpers 0..5 run here as they do in uBPF: gather_bytes, memfrob, no_op, sqrti, strcmp_ext
// and unwind (which returns its argument).
import type { HelperDef, HelperSet } from "./types.js";
import type { HelperEnv } from "./env.js";
import { StopRun } from "./env.js";

function cstrlen(env: HelperEnv, i: number): number {
  const start = env.ptr(i, 1, false, `string argument ${i}`);
  for (let a = start; ; a++) {
    env.checkRange(a, 1, false, `string argument ${i}`);
    if (env.mem.u8[a] === 0) return a - start;
  }
}

const defs: HelperDef[] = [
  {
    id: 0,
    name: "gather_bytes",
    fn: (env) =>
      ((env.arg(1) & 0xffn) << 32n) |
      ((env.arg(2) & 0xffn) << 24n) |
      ((env.arg(3) & 0xffn) << 16n) |
      ((env.arg(4) & 0xffn) << 8n) |
      (env.arg(5) & 0xffn),
  },
  {
    id: 1,
    name: "memfrob",
    fn: (env) => {
      const len = env.num(2);
      const p = env.ptr(1, len, true, "buffer");
      for (let k = 0; k < len; k++) env.mem.u8[p + k] ^= 42;
      return 0;
    },
  },
  { id: 2, name: "no_op", fn: () => 0 },
  {
    id: 3,
    name: "sqrti",
    fn: (env) => {
      const v = env.arg(1);
      // Integer square root (floor), exact for the whole 64-bit range.
      let x = BigInt(Math.floor(Math.sqrt(Number(v))));
      while (x * x > v) x--;
      while ((x + 1n) * (x + 1n) <= v) x++;
      return x;
    },
  },
  {
    id: 4,
    name: "strcmp_ext",
    fn: (env) => {
      const a = env.u32(1);
      const b = env.u32(2);
      cstrlen(env, 1);
      cstrlen(env, 2);
      for (let k = 0; ; k++) {
        const x = env.mem.u8[a + k];
        const y = env.mem.u8[b + k];
        if (x !== y || x === 0) return x - y;
      }
    },
  },
  {
    id: 5,
    name: "unwind",
    // uBPF's unwind extension: a zero result ends the program with r0 = 0.
    fn: (env) => {
      if (env.arg(1) === 0n) throw new StopRun(0n);
      return env.arg(1);
    },
  },
];

export const conformanceHelpers: HelperSet = new Map(defs.map((d) => [d.id, d]));
