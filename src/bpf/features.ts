// Feature probes: does this kernel know a map type, program type, helper or link type? Each
// probe creates the smallest object of that kind (as libbpf's libbpf_probes.c and cilium/ebpf's
// features package do), reads the kernel's answer, and caches it for the life of the process.
import {
  AttachType,
  LinkType,
  MapFlags,
  MapType,
  ProgFlags,
  ProgType,
  helperName,
  linkTypeName,
  mapTypeName,
  progTypeName,
} from "./constants.js";
import { BpfError, NotSupportedError, PlexusBpfError } from "./errors.js";
import { stableBuffer } from "./sys/buffers.js";
import {
  btfLoadRaw,
  encodeProgLoad,
  linkCreateRaw,
  mapCreateRaw,
  progLoadRaw,
  type MapCreateAttr,
  type ProgLoadAttr,
} from "./sys/bpf.js";
import { E2BIG, EBADF, EINVAL, ENODEV, ENOTSUPP, EOPNOTSUPP } from "./sys/errno.js";
import { native } from "./sys/native.js";

/** errnos with which the kernel says "I do not know this kind of object". */
const UNSUPPORTED = new Set([EINVAL, E2BIG, EOPNOTSUPP, ENOTSUPP]);

/** r0 = 0; exit */
const RETURN_ZERO = Buffer.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

function cached<K>(cache: Map<K, boolean>, key: K, probe: () => boolean): boolean {
  let v = cache.get(key);
  if (v === undefined) {
    v = probe();
    cache.set(key, v);
  }
  return v;
}

const closeFd = (fd: number): void => {
  if (fd >= 0) native().close(fd);
};

// ---- BTF for the storage maps ----------------------------------------------------------------

/** A BTF blob with one type, [1] int (signed, 32 bits): what local-storage maps need as key/value. */
function intBtf(): Buffer {
  const strings = Buffer.from("\0int\0", "latin1");
  const types = Buffer.alloc(16);
  types.writeUInt32LE(1, 0); // name_off -> "int"
  types.writeUInt32LE(1 << 24, 4); // info: kind INT, vlen 0
  types.writeUInt32LE(4, 8); // size
  types.writeUInt32LE((1 << 24) | 32, 12); // encoding SIGNED, offset 0, bits 32
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0);
  hdr.writeUInt8(1, 2); // version
  hdr.writeUInt32LE(24, 4); // hdr_len
  hdr.writeUInt32LE(0, 8); // type_off
  hdr.writeUInt32LE(types.length, 12);
  hdr.writeUInt32LE(types.length, 16); // str_off
  hdr.writeUInt32LE(strings.length, 20);
  return Buffer.concat([hdr, types, strings]);
}

// ---- map types ---------------------------------------------------------------------------------

const mapCache = new Map<number, boolean>();

function mapProbeAttr(type: number): MapCreateAttr {
  const a: MapCreateAttr = { type, keySize: 4, valueSize: 4, maxEntries: 1 };
  switch (type) {
    case MapType.LPM_TRIE:
      return { ...a, keySize: 8, valueSize: 8, flags: MapFlags.NO_PREALLOC };
    case MapType.QUEUE:
    case MapType.STACK:
    case MapType.BLOOM_FILTER:
      return { ...a, keySize: 0 };
    case MapType.RINGBUF:
    case MapType.USER_RINGBUF:
      return { ...a, keySize: 0, valueSize: 0, maxEntries: native().pageSize() };
    case MapType.STACK_TRACE:
      return { ...a, valueSize: 8 };
    case MapType.CGROUP_STORAGE:
    case MapType.PERCPU_CGROUP_STORAGE:
      return { ...a, keySize: 16, maxEntries: 0 };
    case MapType.STRUCT_OPS:
      // No struct_ops value type has id 1: a kernel with struct_ops maps answers ENOTSUPP.
      return { ...a, btfVmlinuxValueTypeId: 1 };
    case MapType.ARENA:
      return { ...a, keySize: 0, valueSize: 0, flags: MapFlags.MMAPABLE };
    default:
      return a;
  }
}

function probeMap(type: number): boolean {
  const attr = mapProbeAttr(type);
  const extra: number[] = [];
  try {
    if (type === MapType.ARRAY_OF_MAPS || type === MapType.HASH_OF_MAPS) {
      const inner = mapCreateRaw({ type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
      if (inner.fd < 0) throw new BpfError("BPF_MAP_CREATE", inner.errno, "inner map of a probe");
      extra.push(inner.fd);
      attr.innerMapFd = inner.fd;
    }
    if (
      type === MapType.SK_STORAGE ||
      type === MapType.INODE_STORAGE ||
      type === MapType.TASK_STORAGE ||
      type === MapType.CGRP_STORAGE
    ) {
      const btf = btfLoadRaw(intBtf());
      if (btf.fd < 0) return false;
      extra.push(btf.fd);
      Object.assign(attr, {
        maxEntries: 0,
        flags: MapFlags.NO_PREALLOC,
        btfFd: btf.fd,
        btfKeyTypeId: 1,
        btfValueTypeId: 1,
      });
    }
    const r = mapCreateRaw(attr);
    if (r.fd >= 0) {
      closeFd(r.fd);
      return true;
    }
    if (type === MapType.STRUCT_OPS && r.errno === ENOTSUPP) return true;
    if (UNSUPPORTED.has(r.errno)) return false;
    throw new BpfError("BPF_MAP_CREATE", r.errno, `probing map type ${mapTypeName(type)}`);
  } finally {
    extra.forEach(closeFd);
  }
}

/** Whether the kernel supports a map type (MapType). */
export const probeMapType = (type: number): boolean => cached(mapCache, type, () => probeMap(type));

// ---- program types -----------------------------------------------------------------------------

const progCache = new Map<number, boolean>();

function progProbeAttr(type: number): ProgLoadAttr {
  const a: ProgLoadAttr = { type, insns: RETURN_ZERO, license: "GPL" };
  switch (type) {
    case ProgType.XDP:
      return { ...a, expectedAttachType: AttachType.XDP };
    case ProgType.CGROUP_SOCK_ADDR:
      return { ...a, expectedAttachType: AttachType.CGROUP_INET4_CONNECT };
    case ProgType.CGROUP_SOCKOPT:
      return { ...a, expectedAttachType: AttachType.CGROUP_GETSOCKOPT };
    case ProgType.SK_LOOKUP:
      return { ...a, expectedAttachType: AttachType.SK_LOOKUP };
    case ProgType.NETFILTER:
      return { ...a, expectedAttachType: AttachType.NETFILTER };
    case ProgType.SYSCALL:
      return { ...a, flags: ProgFlags.SLEEPABLE };
    case ProgType.TRACING:
      return { ...a, expectedAttachType: AttachType.TRACE_FENTRY, attachBtfId: 1 };
    case ProgType.LSM:
      return { ...a, expectedAttachType: AttachType.LSM_MAC, attachBtfId: 1 };
    case ProgType.EXT:
    case ProgType.STRUCT_OPS:
      return { ...a, attachBtfId: 1 };
    default:
      return a;
  }
}

/** Loads a probe program with a small verifier log. */
function loadProbe(attr: ProgLoadAttr): { ok: boolean; errno: number; log: string } {
  const log = stableBuffer(64 * 1024);
  const enc = encodeProgLoad(attr, { buf: log, level: 1 });
  const r = progLoadRaw(enc);
  if (r.fd >= 0) {
    closeFd(r.fd);
    return { ok: true, errno: 0, log: "" };
  }
  const end = log.indexOf(0);
  return { ok: false, errno: r.errno, log: log.subarray(0, end < 0 ? log.length : end).toString() };
}

function probeProg(type: number): boolean {
  const r = loadProbe(progProbeAttr(type));
  if (r.ok) return true;
  // A type the kernel does not know is refused before the verifier runs, so it leaves no log;
  // any verifier output means the type exists and only our minimal program did not fit it.
  if (r.log.trim() !== "") return true;
  if (UNSUPPORTED.has(r.errno)) return false;
  throw new BpfError("BPF_PROG_LOAD", r.errno, `probing program type ${progTypeName(type)}`);
}

/** Whether the kernel supports a program type (ProgType). */
export const probeProgType = (type: number): boolean => cached(progCache, type, () => probeProg(type));

// ---- helpers -------------------------------------------------------------------------------------

const helperCache = new Map<string, boolean>();

/** Verifier messages that mean a helper is unknown, or not available to a program type. */
export const HELPER_UNAVAILABLE_RE =
  /(?:invalid func|unknown func|program of this type cannot use helper) ([a-z_0-9]*)#(\d+)/;

const NEEDS_ATTACH_TARGET = new Set<number>([
  ProgType.TRACING,
  ProgType.LSM,
  ProgType.EXT,
  ProgType.STRUCT_OPS,
]);

function probeHelperUncached(progType: number, helperId: number): boolean {
  if (NEEDS_ATTACH_TARGET.has(progType))
    throw new PlexusBpfError(
      `probeHelper: ${progTypeName(progType)} programs need an attach target, so helpers cannot be probed alone`,
    );
  if (!probeProgType(progType)) return false;
  const insns = Buffer.alloc(24);
  insns.writeUInt8(0x85, 0); // call helperId
  insns.writeInt32LE(helperId, 4);
  RETURN_ZERO.copy(insns, 8);
  const r = loadProbe({ ...progProbeAttr(progType), insns });
  if (r.ok) return true;
  // Rejected for any other reason (argument types, context...): the helper itself exists.
  return !HELPER_UNAVAILABLE_RE.test(r.log);
}

/** Whether programs of `progType` may call helper `helperId` (HelperId). */
export const probeHelper = (progType: number, helperId: number): boolean =>
  cached(helperCache, `${progType}:${helperId}`, () => probeHelperUncached(progType, helperId));

// ---- links -----------------------------------------------------------------------------------------

const linkCache = new Map<number, boolean>();

interface LinkProbe {
  progType: number;
  attachType: number;
  /** Invalid target (ifindex 0 / fd -1); the kernel then fails with `supportedErrno` if it knows the link. */
  target: number;
  supportedErrno: number[];
}

const LINK_PROBES: Partial<Record<number, LinkProbe>> = {
  [LinkType.TCX]: {
    progType: ProgType.SCHED_CLS,
    attachType: AttachType.TCX_INGRESS,
    target: 0,
    supportedErrno: [ENODEV],
  },
  [LinkType.NETKIT]: {
    progType: ProgType.SCHED_CLS,
    attachType: AttachType.NETKIT_PRIMARY,
    target: 0,
    supportedErrno: [ENODEV],
  },
  [LinkType.CGROUP]: {
    progType: ProgType.CGROUP_SKB,
    attachType: AttachType.CGROUP_INET_INGRESS,
    target: -1,
    supportedErrno: [EBADF],
  },
  [LinkType.NETNS]: {
    progType: ProgType.SK_LOOKUP,
    attachType: AttachType.SK_LOOKUP,
    target: -1,
    supportedErrno: [EBADF],
  },
  [LinkType.PERF_EVENT]: {
    progType: ProgType.KPROBE,
    attachType: AttachType.PERF_EVENT,
    target: -1,
    supportedErrno: [EBADF],
  },
  [LinkType.SOCKMAP]: {
    progType: ProgType.SK_SKB,
    attachType: AttachType.SK_SKB_STREAM_VERDICT,
    target: -1,
    supportedErrno: [EBADF],
  },
  [LinkType.NETFILTER]: {
    progType: ProgType.NETFILTER,
    attachType: AttachType.NETFILTER,
    target: 0,
    supportedErrno: [97 /* EAFNOSUPPORT: pf 0 */],
  },
};

function probeLink(linkType: number): boolean {
  if (linkType === LinkType.XDP) {
    // bpf_link for XDP and expected_attach_type BPF_XDP arrived together (5.9); link_create with
    // an invalid ifindex answers EINVAL either way, so the load is the discriminating probe.
    return loadProbe(progProbeAttr(ProgType.XDP)).ok;
  }
  const p = LINK_PROBES[linkType];
  if (!p) throw new PlexusBpfError(`probeLinkType: no probe for link type ${linkTypeName(linkType)}`);
  if (!probeProgType(p.progType)) return false;
  const attr = { ...progProbeAttr(p.progType), expectedAttachType: p.attachType };
  const enc = encodeProgLoad(attr);
  let prog = progLoadRaw(enc);
  if (prog.fd < 0) prog = progLoadRaw(encodeProgLoad(progProbeAttr(p.progType)));
  if (prog.fd < 0) return false;
  try {
    const r = linkCreateRaw({ progFd: prog.fd, target: p.target, attachType: p.attachType });
    if (r.fd >= 0) {
      closeFd(r.fd);
      return true;
    }
    return p.supportedErrno.includes(r.errno);
  } finally {
    closeFd(prog.fd);
  }
}

/** Whether the kernel can create bpf links of `linkType` (LinkType). */
export const probeLinkType = (linkType: number): boolean =>
  cached(linkCache, linkType, () => probeLink(linkType));

// ---- errors for the object constructors ---------------------------------------------------------

/** NotSupportedError for a map type the kernel lacks, or undefined when the type is supported. */
export function mapTypeNotSupported(type: number): NotSupportedError | undefined {
  return probeMapType(type) ? undefined : new NotSupportedError(`map type ${mapTypeName(type)} (${type})`);
}

/** NotSupportedError for a program type the kernel lacks, or undefined. */
export function progTypeNotSupported(type: number): NotSupportedError | undefined {
  return probeProgType(type)
    ? undefined
    : new NotSupportedError(`program type ${progTypeName(type)} (${type})`);
}

/** NotSupportedError when a verifier log says a helper is missing and the probe agrees. */
export function helperNotSupported(progType: number, log: string): NotSupportedError | undefined {
  const m = HELPER_UNAVAILABLE_RE.exec(log);
  if (!m || NEEDS_ATTACH_TARGET.has(progType)) return undefined;
  const id = Number(m[2]);
  if (probeHelper(progType, id)) return undefined;
  return new NotSupportedError(
    `helper bpf_${helperName(id)} (${id}) in ${progTypeName(progType)} programs`,
    m[0],
  );
}
