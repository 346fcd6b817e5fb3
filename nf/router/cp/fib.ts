// Keeps the data plane's longest-prefix-match tries equal to what the routes call for, changing
// only the entries that differ (so forwarding is never interrupted) and in batches.
import type { BpfMap } from "../../../src/bpf/map/map.js";
import type { Family } from "./addr.js";
import { fibKeySize, routeSize } from "./abi.js";
import { fibId, type FibEntry } from "./routes.js";

export class FibTables {
  /** What the kernel holds, by fibId(). */
  private readonly installed = new Map<string, Buffer>();

  /**
   * `maps` gives the trie of a family each time it is needed: a hot upgrade swaps the object
   * under the instance, so a map handle must never be kept. `changed` runs after every change
   * of the tries (the data plane's route cache follows it).
   */
  constructor(
    private readonly maps: (family: Family) => BpfMap,
    private readonly changed: () => void = () => {},
  ) {}

  private map(f: Family): BpfMap {
    return this.maps(f);
  }

  /** Reads what the tries hold (a restarted daemon adopting a running data plane). */
  load(): void {
    this.installed.clear();
    for (const f of [4, 6] as const)
      for (const [k, v] of this.map(f).entries()) this.installed.set(fibId(f, k), v);
  }

  get size(): number {
    return this.installed.size;
  }

  /** Makes the tries hold exactly `desired`: new and changed entries first, then removals. */
  sync(desired: ReadonlyMap<string, FibEntry>): { written: number; removed: number } {
    const put: Record<Family, { keys: Buffer[]; values: Buffer[] }> = {
      4: { keys: [], values: [] },
      6: { keys: [], values: [] },
    };
    for (const [id, e] of desired) {
      const cur = this.installed.get(id);
      if (cur && cur.equals(e.value)) continue;
      put[e.family].keys.push(e.key);
      put[e.family].values.push(e.value);
    }
    const del: Record<Family, Buffer[]> = { 4: [], 6: [] };
    for (const id of this.installed.keys()) {
      if (desired.has(id)) continue;
      const family = Number(id[0]) as Family;
      del[family].push(Buffer.from(id.slice(2), "hex"));
    }
    let written = 0;
    let removed = 0;
    for (const f of [4, 6] as const) {
      if (put[f].keys.length) {
        this.map(f).updateBatch(put[f].keys, put[f].values);
        put[f].keys.forEach((k, i) => this.installed.set(fibId(f, k), put[f].values[i]));
        written += put[f].keys.length;
      }
      for (const k of del[f]) {
        this.map(f).delete(k);
        this.installed.delete(fibId(f, k));
        removed++;
      }
    }
    if (written || removed) this.changed();
    return { written, removed };
  }

  /** Sets or (with undefined) removes the entry for one prefix. */
  set(family: Family, key: Buffer, value: Buffer | undefined): void {
    const id = fibId(family, key);
    const cur = this.installed.get(id);
    if (value) {
      if (cur?.equals(value)) return;
      this.map(family).update(key, value);
      this.installed.set(id, value);
      this.changed();
    } else if (cur) {
      this.map(family).delete(key);
      this.installed.delete(id);
      this.changed();
    }
  }

  /**
   * Writes many entries of one family at once (bulk route loads): keys and values back to back in
   * two flat buffers, written with one batched update.
   */
  putFlat(family: Family, keys: Buffer, values: Buffer): void {
    const ks = fibKeySize(family);
    const vs = routeSize(family);
    const n = keys.length / ks;
    if (!n) return;
    this.map(family).updateBatch(keys, values);
    for (let i = 0; i < n; i++)
      this.installed.set(
        fibId(family, keys.subarray(i * ks, (i + 1) * ks)),
        values.subarray(i * vs, (i + 1) * vs),
      );
    this.changed();
  }

  installedValue(family: Family, key: Buffer): Buffer | undefined {
    return this.installed.get(fibId(family, key));
  }
}
