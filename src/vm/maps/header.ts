// The header every map has in the linear memory. Its address is the map pointer programs hold
// (lddw of a map); the JIT's map helpers read the fields they need from it.
export const MapHeader = {
  TYPE: 0,
  KEY_SIZE: 4,
  VALUE_SIZE: 8,
  MAX_ENTRIES: 12,
  /** Map id inside the runtime. */
  ID: 16,
  FLAGS: 20,
  /** Arrays: first value. Hash maps: bucket array. */
  DATA: 24,
  /** Hash maps: number of buckets - 1. */
  MASK: 28,
  /** Hash maps: first element. */
  ELEMS: 32,
  /** Hash maps: bytes per element. */
  ELEM_SIZE: 36,
  /** Hash maps: offset of the value inside an element. */
  VALUE_OFFSET: 40,
  /** Bytes between the values of two CPUs (and, for arrays, between elements of one CPU). */
  STRIDE: 44,
  /** Hash maps: elements in use. */
  COUNT: 48,
  /** Hash maps: free list head (element index + 1, 0 = empty). */
  FREE: 52,
  /** Number of per-CPU slots (1 for maps that are not per-CPU). */
  CPUS: 56,
  /** LRU maps: eviction clock hand. */
  HAND: 60,
  SIZE: 64,
} as const;
