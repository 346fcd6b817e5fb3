// Maglev consistent hashing (Eisenbud et al., NSDI 2016) with weights: every backend has a
// permutation of the table's slots derived from its name alone, and the backends take turns
// claiming their next preferred free slot until the table is full. A backend's permutation does
// not depend on the others, so adding or removing one moves little more than its own share of
// slots. Weights: each round a backend earns its weight in credit and claims one slot per
// `maxWeight` of credit, so shares follow the weights.
import { createHash } from "node:crypto";

export interface MaglevBackend {
  /** What the permutation is derived from (stable across restarts and changes). */
  name: string;
  weight: number;
}

function permutation(name: string, size: number): { offset: number; skip: number } {
  const h = createHash("sha256").update(name).digest();
  return { offset: h.readUInt32LE(0) % size, skip: (h.readUInt32LE(4) % (size - 1)) + 1 };
}

/**
 * The lookup table: for each of `size` slots (a prime), the position in `backends` of the
 * backend that owns it. Backends with weight 0 get none; with none left, every slot is -1.
 */
export function maglevTable(backends: readonly MaglevBackend[], size: number): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const live = backends.map((b, i) => ({ ...b, i })).filter((b) => b.weight > 0);
  if (!live.length) return table;
  const perm = live.map((b) => permutation(b.name, size));
  const next = new Array<number>(live.length).fill(0);
  const credit = new Array<number>(live.length).fill(0);
  const maxWeight = Math.max(...live.map((b) => b.weight));
  let filled = 0;
  for (;;) {
    for (let j = 0; j < live.length; j++) {
      credit[j] += live[j].weight;
      while (credit[j] >= maxWeight) {
        credit[j] -= maxWeight;
        const { offset, skip } = perm[j];
        let c: number;
        do {
          c = (offset + next[j] * skip) % size;
          next[j]++;
        } while (table[c] >= 0);
        table[c] = live[j].i;
        if (++filled === size) return table;
      }
    }
  }
}
