// The prefix tries behind ddos_pfx4 / ddos_pfx6 (maps of maps, one slot per side). A change of a
// list builds a whole new trie, filled with one batched update and carrying the hit counters of
// the one in force, and swaps it in with one update of the outer map: the data plane sees the old
// prefixes or the new ones, never a mix. Single prefixes are changed in place, one element each.
import { MapFlags, MapType } from "../../../src/bpf/constants.js";
import { BpfMap } from "../../../src/bpf/map/map.js";
import {
  MAX_PREFIXES,
  PFX_VAL_SIZE,
  SIDE_SLOT,
  decodePfxVal,
  lpmKey,
  lpmKeySize,
  pfxVal,
  u32,
  type Side,
} from "./abi.js";
import type { Family, Prefix } from "./prefix.js";

/** One element of a trie as read back. */
export interface TrieElement {
  family: Family;
  addr: Buffer;
  len: number;
  action: number;
  packets: bigint;
}

const outerName = (family: Family) => (family === 4 ? "ddos_pfx4" : "ddos_pfx6");

export class Tries {
  /** Open handles of the tries in force, by side and family. */
  private readonly open = new Map<string, BpfMap>();

  /** `map` gives the instance's maps by name (fresh each time: an upgrade replaces the handles). */
  constructor(private readonly map: (name: string) => BpfMap) {}

  /** The trie in force for a side and family, if there is one. */
  current(side: Side, family: Family): BpfMap | undefined {
    const key = `${side}${family}`;
    const id = this.map(outerName(family)).lookup(u32(SIDE_SLOT[side]))?.readUInt32LE(0) ?? 0;
    const have = this.open.get(key);
    if (have && have.id === id) return have;
    have?.close();
    this.open.delete(key);
    if (!id) return undefined;
    const m = BpfMap.fromId(id);
    this.open.set(key, m);
    return m;
  }

  /** Every element of the trie in force (read element by element: tries have no batch lookup). */
  *elements(side: Side, family: Family): IterableIterator<TrieElement> {
    const m = this.current(side, family);
    if (!m) return;
    for (const [k, v] of m.entriesBatched(1024)) {
      const { action, packets } = decodePfxVal(v);
      yield { family, addr: Buffer.from(k.subarray(4)), len: k.readUInt32LE(0), action, packets };
    }
  }

  /**
   * Puts a new trie holding exactly `prefixes` (with `actions`, abi Action codes) in force for a
   * side and family (or none when there are none), each prefix keeping the hit count it had.
   */
  replace(side: Side, family: Family, prefixes: readonly Prefix[], actions: readonly number[]): void {
    const old = this.current(side, family);
    const outer = this.map(outerName(family));
    const slot = u32(SIDE_SLOT[side]);
    if (!prefixes.length) {
      if (old) outer.delete(slot);
      this.forget(side, family);
      return;
    }
    const counts = new Map<string, bigint>();
    if (old)
      for (const [k, v] of old.entriesBatched(1024)) {
        const { packets } = decodePfxVal(v);
        if (packets) counts.set(k.toString("hex"), packets);
      }
    const ks = lpmKeySize(family);
    const keys = Buffer.alloc(prefixes.length * ks);
    const values = Buffer.alloc(prefixes.length * PFX_VAL_SIZE);
    prefixes.forEach((p, i) => {
      lpmKey(family, p.addr, p.len, keys, i * ks);
      const hits = counts.size ? (counts.get(keys.toString("hex", i * ks, (i + 1) * ks)) ?? 0n) : 0n;
      pfxVal(actions[i], hits, values, i * PFX_VAL_SIZE);
    });
    const trie = BpfMap.create({
      type: MapType.LPM_TRIE,
      keySize: ks,
      valueSize: PFX_VAL_SIZE,
      maxEntries: MAX_PREFIXES,
      flags: MapFlags.NO_PREALLOC,
      name: `ddos_${side}${family}`,
    });
    try {
      trie.updateBatch(keys, values);
      outer.update(slot, u32(trie.fd));
    } catch (e) {
      trie.close();
      throw e;
    }
    this.forget(side, family);
    this.open.set(`${side}${family}`, trie);
  }

  /**
   * Sets one prefix's action in the trie in force (Action.NONE removes it). `present`: the trie
   * holds this very prefix now, whose hits are kept (a lookup of a prefix that is there finds it,
   * not a shorter one covering it).
   */
  set(side: Side, family: Family, prefix: Prefix, action: number, present: boolean): void {
    const m = this.current(side, family);
    if (!m) {
      if (action) this.replace(side, family, [prefix], [action]);
      return;
    }
    const key = lpmKey(family, prefix.addr, prefix.len);
    if (!action) {
      m.delete(key);
      return;
    }
    const found = present ? m.lookup(key) : undefined;
    m.update(key, pfxVal(action, found ? decodePfxVal(found).packets : 0n));
  }

  /** The hit count of a prefix the trie in force holds. */
  hits(side: Side, family: Family, prefix: Prefix): bigint {
    const m = this.current(side, family);
    if (!m) return 0n;
    const key = lpmKey(family, prefix.addr, prefix.len);
    const v = m.lookup(key);
    return v ? decodePfxVal(v).packets : 0n;
  }

  private forget(side: Side, family: Family): void {
    const key = `${side}${family}`;
    this.open.get(key)?.close();
    this.open.delete(key);
  }

  close(): void {
    for (const m of this.open.values()) m.close();
    this.open.clear();
  }
}
