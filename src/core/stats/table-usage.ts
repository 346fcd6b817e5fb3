// How full an instance's tables are: entries in the map behind each table of the manifest against
// its capacity (max_entries). Only maps that hold keys can be more or less full (hashes, LRU
// hashes, LPM tries); arrays always hold max_entries and are left out.
import { MapType } from "../../bpf/constants.js";
import { BatchCursor } from "../../bpf/map/batch.js";
import type { BpfMap } from "../../bpf/map/map.js";

const KEYED = new Set<number>([
  MapType.HASH,
  MapType.PERCPU_HASH,
  MapType.LRU_HASH,
  MapType.LRU_PERCPU_HASH,
  MapType.LPM_TRIE,
  MapType.HASH_OF_MAPS,
]);
const BATCHED = new Set<number>([
  MapType.HASH,
  MapType.PERCPU_HASH,
  MapType.LRU_HASH,
  MapType.LRU_PERCPU_HASH,
]);
const BATCH = 1024;

export interface TableUsage {
  table: string;
  entries: number;
  capacity: number;
}

export const hasUsage = (m: BpfMap): boolean => KEYED.has(m.type);

/** Entries in a keyed map: batched lookups for hashes (a few syscalls), a key walk otherwise. */
export function countEntries(m: BpfMap): number {
  if (BATCHED.has(m.type)) {
    const cursor = new BatchCursor();
    const out = m.batchBuffers(BATCH);
    let n = 0;
    while (!cursor.done) n += m.lookupBatch(cursor, BATCH, out).count;
    return n;
  }
  let n = 0;
  let k: Buffer | undefined = m.nextKey(null);
  // A map that changes under the walk could cycle; it never holds more than max_entries.
  while (k && n < m.maxEntries) {
    n++;
    k = m.nextKey(k);
  }
  return n;
}
