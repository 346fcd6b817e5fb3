// Packet helpers of XDP and TC programs: head, tail and metadata adjustment, loads and stores,
// checksum updates, protocol changes and room adjustment, redirects. Semantics, limits and error
// codes follow net/core/filter.c; packet pointers the program holds are stale after a helper
// that moves the packet, as in the kernel.
import { HelperId, MapType, TcAction, XdpAction } from "../../bpf/constants.js";
import { EFAULT, EINVAL, ENOMEM, ENOTSUPP } from "../../bpf/sys/errno.js";
import { SlotArrayMap } from "../maps/array.js";
import { HashMap } from "../maps/hash.js";
import { XDP_FRAME_STRUCT, XDP_META_MAX } from "../context/xdp.js";
import type { HelperEnv } from "./env.js";
import { csumFrom32to16, csumPartial, csumReplace, csumReplaceByDiff, csumSub } from "./csum.js";
import type { HelperDef } from "./types.js";
import { SKB_MAX_LEN, skbHeadroom } from "./skb-room.js";
import { wireFrame } from "./vlan.js";

const ETH_HLEN = 14;
/** __sk_buff.protocol / skb->protocol values (network order in a host u16). */
const PROTO_IP = 0x0008;
const PROTO_IPV6 = 0xdd86;
const BPF_F_INGRESS = 1;
const BPF_F_RECOMPUTE_CSUM = 1;
const BPF_F_INVALIDATE_HASH = 2;
const BPF_F_HDR_FIELD_MASK = 0xf;
const BPF_F_PSEUDO_HDR = 1 << 4;
const BPF_F_MARK_MANGLED_0 = 1 << 5;
const BPF_F_MARK_ENFORCE = 1 << 6;
const BPF_F_IPV6 = 1 << 7;
const BPF_F_BROADCAST = 1 << 3;
const BPF_F_EXCLUDE_INGRESS = 1 << 4;
const BPF_F_ACTION_MASK = 3;
const BPF_ADJ_ROOM_NET = 0;
const BPF_ADJ_ROOM_MAC = 1;
/** BPF_F_ADJ_ROOM_* flags this runtime understands (they only change skb metadata). */
const ADJ_ROOM_FLAGS = 0x1ff | (0xff << 56);

// ---- XDP ------------------------------------------------------------------------------------------

const xdpAdjustHead = (env: HelperEnv): number => {
  const r = env.run;
  const offset = env.i32(2);
  const metalen = r.data - r.meta;
  const data = r.data + offset;
  if (data < r.hardStart + XDP_FRAME_STRUCT + metalen || data > r.end - ETH_HLEN) return -EINVAL;
  if (metalen) env.mem.u8.copyWithin(r.meta + offset, r.meta, r.meta + metalen);
  env.vm.setPacket(r.meta + offset, data, r.end);
  return 0;
};

const xdpAdjustMeta = (env: HelperEnv): number => {
  const r = env.run;
  const meta = r.meta + env.i32(2);
  const metalen = r.data - meta;
  if (meta < r.hardStart + XDP_FRAME_STRUCT || meta > r.data) return -EINVAL;
  if (metalen % 4 || metalen > XDP_META_MAX) return -13; // -EACCES
  env.vm.setPacket(meta, r.data, r.end);
  return 0;
};

const xdpAdjustTail = (env: HelperEnv): number => {
  const r = env.run;
  const offset = env.i32(2);
  const end = r.end + offset;
  if (end > r.hardEnd || end < r.data + ETH_HLEN) return -EINVAL;
  if (offset > 0) env.mem.u8.fill(0, r.end, end);
  env.vm.setPacket(r.meta, r.data, end);
  return 0;
};

const xdpBytes =
  (store: boolean) =>
  (env: HelperEnv): number => {
    const r = env.run;
    const off = env.u32(2);
    const len = env.u32(4);
    if (!env.fits32(2) || off + len > r.end - r.data) return -EINVAL;
    const buf = env.ptr(3, len, !store, store ? "source" : "destination");
    if (store) env.mem.u8.copyWithin(r.data + off, buf, buf + len);
    else env.mem.u8.copyWithin(buf, r.data + off, r.data + off + len);
    return 0;
  };

// ---- skb loads, stores, checksums --------------------------------------------------------------

/** Whether [off, off + len) lies in the skb's data (offsets from skb->data). */
const inSkb = (env: HelperEnv, off: number, len: number): boolean =>
  env.fits32(2) && off <= 0xffff && off + len <= env.run.end - env.run.data;

const skbLoadBytes = (env: HelperEnv): number => {
  const off = env.u32(2);
  const len = env.u32(4);
  const to = env.ptr(3, len, true, "destination");
  if (!inSkb(env, off, len)) {
    env.mem.u8.fill(0, to, to + len);
    return -EFAULT;
  }
  const from = env.run.data + off;
  env.mem.u8.copyWithin(to, from, from + len);
  return 0;
};

const skbStoreBytes = (env: HelperEnv): number => {
  const off = env.u32(2);
  const len = env.u32(4);
  const flags = env.arg(5);
  const from = env.ptr(3, len, false, "source");
  if (flags & ~BigInt(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH)) return -EINVAL;
  if (!inSkb(env, off, len)) return -EFAULT;
  const at = env.run.data + off;
  env.mem.u8.copyWithin(at, from, from + len);
  if (flags & BigInt(BPF_F_INVALIDATE_HASH)) env.vm.skbClearHash();
  return 0;
};

/** bpf_csum_diff(from, from_size, to, to_size, seed), folded to 16 bits as since Linux 6.13. */
const csumDiff = (env: HelperEnv): number => {
  const fromSize = env.u32(2);
  const toSize = env.u32(4);
  if (!env.fits32(2) || !env.fits32(4)) return -EINVAL;
  const from = env.ptrOrNull(1, fromSize, false, "from");
  const to = env.ptrOrNull(3, toSize, false, "to");
  const u8 = env.mem.u8;
  let ret = env.u32(5);
  if (fromSize && toSize) ret = csumSub(csumPartial(u8, to, toSize, ret), csumPartial(u8, from, fromSize, 0));
  else if (toSize) ret = csumPartial(u8, to, toSize, ret);
  else if (fromSize) ret = ~csumPartial(u8, from, fromSize, ~ret >>> 0) >>> 0;
  return csumFrom32to16(ret);
};

/** The 16-bit checksum field at skb offset argument 2, or undefined when it is outside the packet. */
function csumField(env: HelperEnv): number | undefined {
  const off = env.u32(2);
  if (!env.fits32(2) || off > 0xffff || off + 2 > env.run.end - env.run.data) return undefined;
  return env.run.data + off;
}

const l3CsumReplace = (env: HelperEnv): number => {
  const flags = env.arg(5);
  if (flags & ~BigInt(BPF_F_HDR_FIELD_MASK)) return -EINVAL;
  const at = csumField(env);
  if (at === undefined) return -EFAULT;
  const dv = env.mem.dv;
  const sum = dv.getUint16(at, true);
  switch (Number(flags) & BPF_F_HDR_FIELD_MASK) {
    case 0:
      if (env.arg(3) !== 0n) return -EINVAL;
      dv.setUint16(at, csumReplaceByDiff(sum, env.u32(4)), true);
      return 0;
    case 2:
      dv.setUint16(at, csumReplace(sum, env.u32(3) & 0xffff, env.u32(4) & 0xffff), true);
      return 0;
    case 4:
      dv.setUint16(at, csumReplace(sum, env.u32(3), env.u32(4)), true);
      return 0;
    default:
      return -EINVAL;
  }
};

const l4CsumReplace = (env: HelperEnv): number => {
  const flags = env.arg(5);
  const known =
    BPF_F_HDR_FIELD_MASK | BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_IPV6;
  if (flags & ~BigInt(known)) return -EINVAL;
  const f = Number(flags);
  const at = csumField(env);
  if (at === undefined) return -EFAULT;
  const dv = env.mem.dv;
  const mangled0 = (f & BPF_F_MARK_MANGLED_0) !== 0;
  const sum = dv.getUint16(at, true);
  if (mangled0 && sum === 0) return 0;
  let next: number;
  switch (f & BPF_F_HDR_FIELD_MASK) {
    case 0:
      if (env.arg(3) !== 0n) return -EINVAL;
      next = csumReplaceByDiff(sum, env.u32(4));
      break;
    case 2:
      next = csumReplace(sum, env.u32(3) & 0xffff, env.u32(4) & 0xffff);
      break;
    case 4:
      next = csumReplace(sum, env.u32(3), env.u32(4));
      break;
    default:
      return -EINVAL;
  }
  if (mangled0 && next === 0) next = 0xffff;
  dv.setUint16(at, next, true);
  return 0;
};

// ---- skb layout changes ------------------------------------------------------------------------

/** Inserts `len` zeroed bytes at `off` from skb->data: the head moves down, as skb_push() does. */
function skbPush(env: HelperEnv, off: number, len: number): boolean {
  if (!skbHeadroom(env, len)) return false;
  const r = env.run;
  const u8 = env.mem.u8;
  u8.copyWithin(r.data - len, r.data, r.data + off);
  u8.fill(0, r.data - len + off, r.data + off);
  env.vm.setPacket(r.meta - len, r.data - len, r.end);
  return true;
}

/** Removes `len` bytes at `off` from skb->data: the head moves up. */
function skbPop(env: HelperEnv, off: number, len: number): void {
  const r = env.run;
  env.mem.u8.copyWithin(r.data + len, r.data, r.data + off);
  env.vm.setPacket(r.meta + len, r.data + len, r.end);
}

/** Length of the MAC header (TC programs see it; socket filters' data starts after it). */
const macLen = (env: HelperEnv): number => (env.run.data === env.run.mac ? ETH_HLEN : 0);

const skbChangeProto = (env: HelperEnv): number => {
  if (env.arg(3) !== 0n) return -EINVAL;
  const to = env.u32(2) & 0xffff;
  const r = env.run;
  const off = macLen(env);
  if (r.protocol === PROTO_IP && to === PROTO_IPV6) {
    if (!skbPush(env, off, 20)) return -ENOMEM;
  } else if (r.protocol === PROTO_IPV6 && to === PROTO_IP) {
    if (r.end - r.data < off + 40) return -EINVAL;
    skbPop(env, off, 20);
  } else return -ENOTSUPP;
  env.vm.skbSetProtocol(to);
  return 0;
};

const skbAdjustRoom = (env: HelperEnv): number => {
  const diff = env.i32(2);
  const mode = env.u32(3);
  const flags = env.arg(4);
  if (flags & ~BigInt.asUintN(64, BigInt(ADJ_ROOM_FLAGS))) return -EINVAL;
  const abs = Math.abs(diff);
  if (abs > 0xfff) return -EFAULT;
  const r = env.run;
  if (r.protocol !== PROTO_IP && r.protocol !== PROTO_IPV6) return -ENOTSUPP;
  const base = r.protocol === PROTO_IP ? 20 : 40;
  let off = macLen(env);
  if (mode === BPF_ADJ_ROOM_NET) off += base;
  else if (mode !== BPF_ADJ_ROOM_MAC) return -ENOTSUPP;
  const cur = r.end - r.data - macLen(env);
  if (diff < 0 && (abs >= cur || cur - abs < base)) return -ENOTSUPP;
  if (diff < 0) skbPop(env, off, abs);
  else if (!skbPush(env, off, abs)) return -ENOMEM;
  return 0;
};

const skbPullData = (env: HelperEnv): number => (env.u32(2) > env.run.end - env.run.data ? -ENOMEM : 0);

const skbChangeTail = (env: HelperEnv): number => {
  if (env.arg(3) !== 0n) return -EINVAL;
  const r = env.run;
  const len = env.u32(2);
  if (!env.fits32(2) || len < macLen(env) + ETH_HLEN || len > SKB_MAX_LEN || r.data + len > r.hardEnd)
    return -EINVAL;
  if (r.data + len > r.end) env.mem.u8.fill(0, r.end, r.data + len);
  env.vm.setPacket(r.meta, r.data, r.data + len);
  return 0;
};

/** bpf_skb_change_head: `len` zeroed bytes in front of the packet, which becomes the MAC header. */
const skbChangeHead = (env: HelperEnv): number => {
  const len = env.u32(2);
  const r = env.run;
  if (env.arg(3) !== 0n || r.end - r.data + len > SKB_MAX_LEN) return -EINVAL;
  if (!skbPush(env, 0, len)) return -ENOMEM;
  return 0;
};

// ---- redirects -----------------------------------------------------------------------------------

const redirect = (env: HelperEnv): number => {
  const flags = env.arg(2);
  const ifindex = env.u32(1);
  if (env.run.kind === "xdp") {
    if (flags !== 0n) return XdpAction.ABORTED;
    env.run.redirect = { kind: "ifindex", target: ifindex, flags: 0 };
    return XdpAction.REDIRECT;
  }
  if (flags & ~BigInt(BPF_F_INGRESS)) return TcAction.SHOT;
  env.run.redirect = { kind: "ifindex", target: ifindex, flags: Number(flags), ingress: (flags & 1n) === 1n };
  return TcAction.REDIRECT;
};

/** bpf_clone_redirect: a copy of the packet to an interface now; the program goes on with the original. */
const cloneRedirect = (env: HelperEnv): number => {
  const ifindex = env.u32(2);
  const flags = env.arg(3);
  if (flags & ~BigInt(BPF_F_INGRESS)) return -EINVAL;
  if (!env.fits32(2) || !env.vm.hasInterface(ifindex)) return -EINVAL;
  env.run.clones.push({ ifindex, ingress: flags === 1n, data: wireFrame(env.vm, env.run) });
  return 0;
};

const redirectMap = (env: HelperEnv): number => {
  const m = env.map(1);
  const flags = Number(env.arg(3) & 0xffffn);
  if (env.arg(3) & ~BigInt(BPF_F_ACTION_MASK | BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS))
    return XdpAction.ABORTED;
  const key = env.u32(2);
  const kinds: Record<number, "devmap" | "cpumap" | "xskmap"> = {
    [MapType.DEVMAP]: "devmap",
    [MapType.DEVMAP_HASH]: "devmap",
    [MapType.CPUMAP]: "cpumap",
    [MapType.XSKMAP]: "xskmap",
  };
  const kind = kinds[m.type];
  if (!kind) env.fault(`map '${m.name}' cannot be a redirect target (devmap, cpumap or xskmap)`);
  const broadcast = (flags & BPF_F_BROADCAST) !== 0 && kind === "devmap";
  let target = key;
  if (!broadcast) {
    if (m instanceof SlotArrayMap) {
      if (!m.present(key)) return flags & BPF_F_ACTION_MASK;
      if (kind === "devmap") target = m.slotU32(key);
    } else if (m instanceof HashMap) {
      const k = env.vm.callbackKey(4);
      env.mem.dv.setUint32(k, key, true);
      const v = m.find(k);
      if (!v) return flags & BPF_F_ACTION_MASK;
      target = env.mem.dv.getUint32(v, true);
    }
  }
  env.run.redirect = { kind, target, flags, map: m.name, key, broadcast };
  return XdpAction.REDIRECT;
};

export const packetHelpers: HelperDef[] = [
  {
    id: HelperId.xdp_adjust_head,
    name: "xdp_adjust_head",
    fn: xdpAdjustHead,
    contexts: ["xdp"],
    changesPacket: true,
  },
  {
    id: HelperId.xdp_adjust_meta,
    name: "xdp_adjust_meta",
    fn: xdpAdjustMeta,
    contexts: ["xdp"],
    changesPacket: true,
  },
  {
    id: HelperId.xdp_adjust_tail,
    name: "xdp_adjust_tail",
    fn: xdpAdjustTail,
    contexts: ["xdp"],
    changesPacket: true,
  },
  { id: 189, name: "xdp_load_bytes", fn: xdpBytes(false), contexts: ["xdp"] },
  { id: 190, name: "xdp_store_bytes", fn: xdpBytes(true), contexts: ["xdp"] },
  { id: 188, name: "xdp_get_buff_len", fn: (env) => env.run.end - env.run.data, contexts: ["xdp"] },
  { id: HelperId.skb_load_bytes, name: "skb_load_bytes", fn: skbLoadBytes, contexts: ["tc", "socket"] },
  { id: HelperId.skb_store_bytes, name: "skb_store_bytes", fn: skbStoreBytes, contexts: ["tc"] },
  { id: HelperId.csum_diff, name: "csum_diff", fn: csumDiff, contexts: ["tc", "xdp"] },
  { id: HelperId.l3_csum_replace, name: "l3_csum_replace", fn: l3CsumReplace, contexts: ["tc"] },
  { id: HelperId.l4_csum_replace, name: "l4_csum_replace", fn: l4CsumReplace, contexts: ["tc"] },
  { id: HelperId.csum_update, name: "csum_update", fn: () => -ENOTSUPP, contexts: ["tc"] },
  {
    id: HelperId.skb_change_proto,
    name: "skb_change_proto",
    fn: skbChangeProto,
    contexts: ["tc"],
    changesPacket: true,
  },
  {
    id: HelperId.skb_adjust_room,
    name: "skb_adjust_room",
    fn: skbAdjustRoom,
    contexts: ["tc"],
    changesPacket: true,
  },
  {
    id: HelperId.skb_pull_data,
    name: "skb_pull_data",
    fn: skbPullData,
    contexts: ["tc"],
    changesPacket: true,
  },
  {
    id: HelperId.skb_change_tail,
    name: "skb_change_tail",
    fn: skbChangeTail,
    contexts: ["tc"],
    changesPacket: true,
  },
  {
    id: HelperId.set_hash_invalid,
    name: "set_hash_invalid",
    fn: (env) => (env.vm.skbClearHash(), 0),
    contexts: ["tc"],
  },
  {
    id: HelperId.skb_change_head,
    name: "skb_change_head",
    fn: skbChangeHead,
    contexts: ["tc"],
    changesPacket: true,
  },
  { id: HelperId.redirect, name: "redirect", fn: redirect, contexts: ["xdp", "tc"] },
  { id: HelperId.clone_redirect, name: "clone_redirect", fn: cloneRedirect, contexts: ["tc"] },
  { id: HelperId.redirect_map, name: "redirect_map", fn: redirectMap, contexts: ["xdp"] },
];
