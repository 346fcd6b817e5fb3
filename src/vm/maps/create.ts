// Creating a map of the runtime from its type, with the kernel's checks of the attributes
// (BPF_MAP_CREATE's EINVALs) so that a map that would not load in the kernel does not load here.
import { MapFlags, MapType, mapTypeName } from "../../bpf/constants.js";
import { BpfError, PlexusBpfError } from "../../bpf/errors.js";
import { EINVAL } from "../../bpf/sys/errno.js";
import { ArrayMap, SlotArrayMap } from "./array.js";
import type { MapHost, VmMap, VmMapOptions } from "./base.js";
import { BloomFilterMap } from "./bloom.js";
import { HashMap } from "./hash.js";
import { LpmTrieMap } from "./lpm.js";
import { PerfEventArrayMap } from "./perf.js";
import { QueueMap } from "./queue.js";
import { RingBufMap } from "./ringbuf.js";

const invalid = (o: VmMapOptions, why: string): never => {
  throw new BpfError("BPF_MAP_CREATE", EINVAL, `${mapTypeName(o.type)} map ${o.name ?? ""}: ${why}`);
};

function check(o: VmMapOptions): void {
  const { type, keySize, valueSize, maxEntries } = o;
  if (maxEntries === 0 && type !== MapType.PERF_EVENT_ARRAY) invalid(o, "max entries is 0");
  switch (type) {
    case MapType.ARRAY:
    case MapType.PERCPU_ARRAY:
    case MapType.PROG_ARRAY:
    case MapType.ARRAY_OF_MAPS:
    case MapType.DEVMAP:
    case MapType.CPUMAP:
    case MapType.XSKMAP:
    case MapType.PERF_EVENT_ARRAY:
      if (keySize !== 4) invalid(o, "arrays have 4-byte keys");
      break;
    case MapType.QUEUE:
    case MapType.STACK:
    case MapType.BLOOM_FILTER:
    case MapType.RINGBUF:
      if (keySize !== 0) invalid(o, "this map type takes no key");
      break;
    case MapType.LPM_TRIE:
      if (keySize < 5 || keySize > 260) invalid(o, "LPM keys are a u32 prefix length and 1 to 256 bytes");
      if (!((o.flags ?? 0) & MapFlags.NO_PREALLOC)) invalid(o, "LPM tries must be created with NO_PREALLOC");
      break;
    default:
      if (keySize === 0) invalid(o, "key size is 0");
  }
  if (type === MapType.RINGBUF) {
    if (valueSize !== 0) invalid(o, "ring buffers have no value size");
    if (maxEntries & (maxEntries - 1) || maxEntries % 4096)
      invalid(o, "size must be a power of 2 and of pages");
  } else if (valueSize === 0 && type !== MapType.PERF_EVENT_ARRAY) invalid(o, "value size is 0");
  if (
    (type === MapType.PROG_ARRAY || type === MapType.ARRAY_OF_MAPS || type === MapType.HASH_OF_MAPS) &&
    valueSize !== 4
  )
    invalid(o, "values are 4-byte program or map ids");
}

export function createVmMap(host: MapHost, o: VmMapOptions): VmMap {
  check(o);
  switch (o.type) {
    case MapType.HASH:
    case MapType.PERCPU_HASH:
    case MapType.LRU_HASH:
    case MapType.LRU_PERCPU_HASH:
    case MapType.HASH_OF_MAPS:
    case MapType.DEVMAP_HASH:
      return new HashMap(host, o);
    case MapType.ARRAY:
    case MapType.PERCPU_ARRAY:
      return new ArrayMap(host, o);
    case MapType.PROG_ARRAY:
    case MapType.ARRAY_OF_MAPS:
    case MapType.DEVMAP:
    case MapType.CPUMAP:
    case MapType.XSKMAP:
      return new SlotArrayMap(host, o);
    case MapType.PERF_EVENT_ARRAY:
      return new PerfEventArrayMap(host, { ...o, maxEntries: o.maxEntries || host.cpus, valueSize: 4 });
    case MapType.LPM_TRIE:
      return new LpmTrieMap(host, o);
    case MapType.QUEUE:
    case MapType.STACK:
      return new QueueMap(host, o);
    case MapType.BLOOM_FILTER:
      return new BloomFilterMap(host, o);
    case MapType.RINGBUF:
      return new RingBufMap(host, o);
    default:
      throw new PlexusBpfError(
        `${mapTypeName(o.type)} map ${o.name ?? ""}: this map type is not available in the userspace runtime`,
      );
  }
}
