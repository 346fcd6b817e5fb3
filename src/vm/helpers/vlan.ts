// VLAN tags of TC programs: bpf_skb_vlan_push and bpf_skb_vlan_pop as skb_vlan_push() and
// skb_vlan_pop() do them. The outer tag lives in the skb's metadata (vlan_proto, vlan_tci: what
// __sk_buff.vlan_present/vlan_tci/vlan_proto read), not in the packet; tags beyond it are in the
// packet. A frame leaving the runtime has the metadata tag written into it, as a device does.
import { HelperId } from "../../bpf/constants.js";
import { EINVAL, ENOMEM } from "../../bpf/sys/errno.js";
import { SkBuff } from "../context/skb.js";
import { CTX } from "../layout.js";
import type { RunState } from "../run-state.js";
import type { Vm } from "../vm.js";
import type { HelperEnv } from "./env.js";
import { skbHeadroom } from "./skb-room.js";
import type { HelperDef } from "./types.js";

/** ETH_P_8021Q and ETH_P_8021AD as network-order u16s read on a little-endian host. */
const P_8021Q = 0x0081;
const P_8021AD = 0xa888;
const P_802_3 = 0x0100;
const P_802_2 = 0x0400;
const VLAN_HLEN = 4;
const MACS = 12;

const isVlan = (proto: number): boolean => proto === P_8021Q || proto === P_8021AD;

const PRESENT = (CTX + SkBuff.VLAN_PRESENT) >> 2;
const TCI = (CTX + SkBuff.VLAN_TCI) >> 2;
const PROTO = (CTX + SkBuff.VLAN_PROTO) >> 2;

function putTag(vm: Vm, proto: number, tci: number): void {
  const u32 = vm.mem.u32;
  u32[PRESENT] = 1;
  u32[TCI] = tci;
  u32[PROTO] = proto;
}

/** The frame as it leaves: the packet, with the metadata VLAN tag (if any) after the MAC addresses. */
export function wireFrame(vm: Vm, run: RunState): Buffer {
  const len = run.end - run.data;
  const u32 = vm.mem.u32;
  if (run.kind !== "tc" || !u32[PRESENT]) return vm.mem.read(run.data, len);
  const out = Buffer.alloc(len + VLAN_HLEN);
  const u8 = vm.mem.u8;
  out.set(u8.subarray(run.data, run.data + Math.min(MACS, len)), 0);
  out.writeUInt16LE(u32[PROTO], MACS);
  out.writeUInt16BE(u32[TCI], MACS + 2);
  if (len > MACS) out.set(u8.subarray(run.data + MACS, run.end), MACS + VLAN_HLEN);
  return out;
}

/** __skb_vlan_pop(): removes the packet's outer tag; returns its TCI, or a negative errno. */
function popFromPacket(env: HelperEnv): number {
  const r = env.run;
  if (r.data !== r.mac) return -EINVAL;
  if (r.end - r.data < MACS + 2 + VLAN_HLEN) return -ENOMEM;
  const dv = env.mem.dv;
  const tci = dv.getUint16(r.data + 14, false);
  const encap = dv.getUint16(r.data + 16, true);
  // vlan_set_encap_proto(): an EtherType, else 802.3 (raw IPX) or 802.2 by the next two bytes.
  let proto = encap;
  if (((encap & 0xff) << 8) + (encap >> 8) < 0x600) {
    const raw = r.data + 18 + 2 <= r.hardEnd ? dv.getUint16(r.data + 18, true) : 0;
    proto = raw === 0xffff ? P_802_3 : P_802_2;
  }
  env.mem.u8.copyWithin(r.data + VLAN_HLEN, r.data, r.data + MACS);
  env.vm.setPacket(r.meta + VLAN_HLEN, r.data + VLAN_HLEN, r.end);
  env.vm.skbSetProtocol(proto);
  return tci;
}

const skbVlanPush = (env: HelperEnv): number => {
  let proto = env.u32(2) & 0xffff;
  if (!isVlan(proto)) proto = P_8021Q;
  const tci = env.u32(3) & 0xffff;
  const u32 = env.mem.u32;
  if (u32[PRESENT]) {
    // The tag already in the metadata goes into the packet first.
    const r = env.run;
    if (r.data !== r.mac) return -EINVAL;
    if (!skbHeadroom(env, VLAN_HLEN)) return -ENOMEM;
    const at = r.data - VLAN_HLEN;
    env.mem.u8.copyWithin(at, r.data, r.data + MACS);
    env.mem.dv.setUint16(at + MACS, u32[PROTO], true);
    env.mem.dv.setUint16(at + MACS + 2, u32[TCI], false);
    env.vm.setPacket(r.meta - VLAN_HLEN, at, r.end);
    env.vm.skbSetProtocol(u32[PROTO]);
  }
  putTag(env.vm, proto, tci);
  return 0;
};

const skbVlanPop = (env: HelperEnv): number => {
  const u32 = env.mem.u32;
  if (u32[PRESENT]) {
    u32[PRESENT] = 0;
    u32[TCI] = 0;
    u32[PROTO] = 0;
  } else {
    if (!isVlan(env.run.protocol)) return 0;
    const e = popFromPacket(env);
    if (e < 0) return e;
  }
  // The next tag in the packet, if any, moves into the metadata.
  const proto = env.run.protocol;
  if (!isVlan(proto)) return 0;
  const tci = popFromPacket(env);
  if (tci < 0) return tci;
  putTag(env.vm, proto, tci);
  return 0;
};

export const vlanHelpers: HelperDef[] = [
  {
    id: HelperId.skb_vlan_push,
    name: "skb_vlan_push",
    fn: skbVlanPush,
    contexts: ["tc"],
    changesPacket: true,
  },
  {
    id: HelperId.skb_vlan_pop,
    name: "skb_vlan_pop",
    fn: skbVlanPop,
    contexts: ["tc"],
    changesPacket: true,
  },
];
