// The control-flow graph of one function: basic blocks, reverse postorder, dominators, loop
// headers and merge nodes, and whether the graph is reducible (then it can be rebuilt as nested
// WebAssembly blocks and loops; otherwise the compiler falls back to a dispatch loop).
import { Class, JmpOp, Op } from "../../bpf/insn/opcodes.js";
import type { PreparedFunction, PreparedProgram } from "../prepare.js";

export interface BasicBlock {
  id: number;
  /** Instruction indices [start, end). */
  start: number;
  end: number;
  /** Successors: [] (exit), [next], [target] (ja), or [fallthrough, taken] (conditional). */
  succ: number[];
  kind: "exit" | "jump" | "cond" | "fall";
}

export interface Cfg {
  blocks: BasicBlock[];
  /** Block ids reachable from the entry, in reverse postorder. */
  rpo: number[];
  /** Position of each block in rpo (-1 when unreachable). */
  order: number[];
  idom: number[];
  /** Children in the dominator tree. */
  children: number[][];
  loopHeaders: Set<number>;
  /** Blocks entered by two or more forward edges. */
  merges: Set<number>;
  reducible: boolean;
}

export function isConditional(code: number): boolean {
  const cls = code & 7;
  if (cls !== Class.JMP && cls !== Class.JMP32) return false;
  if (code === Op.MAY_GOTO) return true;
  const op = code & 0xf0;
  return op !== JmpOp.JA && op !== JmpOp.CALL && op !== JmpOp.EXIT && op !== JmpOp.JCOND;
}

export function buildCfg(p: PreparedProgram, f: PreparedFunction): Cfg {
  const leaders = new Set<number>([f.start]);
  for (let i = f.start; i < f.end; i++) {
    const code = p.op[i];
    if (code === Op.EXIT || code === Op.JA || code === Op.JA32 || isConditional(code)) {
      if (i + 1 < f.end) leaders.add(i + 1);
      if (code !== Op.EXIT) leaders.add(p.target[i]);
    }
  }
  const starts = [...leaders].sort((a, b) => a - b);
  const blockAt = new Map<number, number>();
  const blocks: BasicBlock[] = starts.map((start, id) => {
    blockAt.set(start, id);
    return { id, start, end: starts[id + 1] ?? f.end, succ: [], kind: "fall" };
  });
  for (const b of blocks) {
    const last = b.end - 1;
    const code = p.op[last];
    if (code === Op.EXIT) b.kind = "exit";
    else if (code === Op.JA || code === Op.JA32) {
      b.kind = "jump";
      b.succ = [blockAt.get(p.target[last]) as number];
    } else if (isConditional(code)) {
      b.kind = "cond";
      b.succ = [blockAt.get(b.end) as number, blockAt.get(p.target[last]) as number];
    } else {
      b.succ = [blockAt.get(b.end) as number];
    }
  }

  // Reverse postorder, iteratively.
  const n = blocks.length;
  const order = new Array<number>(n).fill(-1);
  const post: number[] = [];
  const seen = new Uint8Array(n);
  const stack: [number, number][] = [[0, 0]];
  seen[0] = 1;
  while (stack.length) {
    const top = stack[stack.length - 1];
    const b = blocks[top[0]];
    if (top[1] < b.succ.length) {
      const s = b.succ[top[1]++];
      if (!seen[s]) {
        seen[s] = 1;
        stack.push([s, 0]);
      }
    } else {
      post.push(top[0]);
      stack.pop();
    }
  }
  const rpo = post.reverse();
  rpo.forEach((b, i) => (order[b] = i));

  // Dominators (Cooper, Harvey, Kennedy).
  const preds: number[][] = blocks.map(() => []);
  for (const b of rpo) for (const s of blocks[b].succ) preds[s].push(b);
  const idom = new Array<number>(n).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while (order[a] > order[b]) a = idom[a];
      while (order[b] > order[a]) b = idom[b];
    }
    return a;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (const b of rpo) {
      if (b === 0) continue;
      let d = -1;
      for (const q of preds[b]) if (idom[q] !== -1) d = d === -1 ? q : intersect(q, d);
      if (d !== idom[b]) {
        idom[b] = d;
        changed = true;
      }
    }
  }
  const dominates = (a: number, b: number): boolean => {
    for (let x = b; ; x = idom[x]) {
      if (x === a) return true;
      if (x === 0) return a === 0;
    }
  };
  const children: number[][] = blocks.map(() => []);
  for (const b of rpo) if (b !== 0) children[idom[b]].push(b);

  const loopHeaders = new Set<number>();
  const forwardIn = new Array<number>(n).fill(0);
  let reducible = true;
  for (const b of rpo) {
    for (const s of blocks[b].succ) {
      if (order[s] <= order[b]) {
        if (dominates(s, b)) loopHeaders.add(s);
        else reducible = false;
      } else forwardIn[s]++;
    }
  }
  const merges = new Set<number>();
  for (const b of rpo) if (forwardIn[b] >= 2) merges.add(b);
  return { blocks, rpo, order, idom, children, loopHeaders, merges, reducible };
}
