// struct __sk_buff for TC (SCHED_CLS, SCHED_ACT) and socket filter programs: its layout, what each
// program type may read and write (tc_cls_act_is_valid_access, sk_filter_is_valid_access), and
// eth_type_trans() as BPF_PROG_TEST_RUN applies it on the loopback device.
import { AccessTable } from "./access.js";

export const SkBuff = {
  LEN: 0,
  PKT_TYPE: 4,
  MARK: 8,
  QUEUE_MAPPING: 12,
  PROTOCOL: 16,
  VLAN_PRESENT: 20,
  VLAN_TCI: 24,
  VLAN_PROTO: 28,
  PRIORITY: 32,
  INGRESS_IFINDEX: 36,
  IFINDEX: 40,
  TC_INDEX: 44,
  CB: 48,
  HASH: 68,
  TC_CLASSID: 72,
  DATA: 76,
  DATA_END: 80,
  NAPI_ID: 84,
  FAMILY: 88,
  REMOTE_IP4: 92,
  LOCAL_IP4: 96,
  REMOTE_IP6: 100,
  LOCAL_IP6: 116,
  REMOTE_PORT: 132,
  LOCAL_PORT: 136,
  DATA_META: 140,
  FLOW_KEYS: 144,
  TSTAMP: 152,
  WIRE_LEN: 160,
  GSO_SEGS: 164,
  SK: 168,
  GSO_SIZE: 176,
  TSTAMP_TYPE: 180,
  HWTSTAMP: 184,
  SIZE: 192,
} as const;

const PLAIN_U32 = [
  SkBuff.LEN,
  SkBuff.PKT_TYPE,
  SkBuff.QUEUE_MAPPING,
  SkBuff.PROTOCOL,
  SkBuff.VLAN_PRESENT,
  SkBuff.VLAN_TCI,
  SkBuff.VLAN_PROTO,
  SkBuff.INGRESS_IFINDEX,
  SkBuff.IFINDEX,
  SkBuff.HASH,
  SkBuff.NAPI_ID,
  SkBuff.WIRE_LEN,
  SkBuff.GSO_SEGS,
  SkBuff.GSO_SIZE,
];

function common(t: AccessTable, writable: readonly number[]): AccessTable {
  for (const off of PLAIN_U32) t.u32(off, writable.includes(off));
  for (const off of [SkBuff.MARK, SkBuff.PRIORITY, SkBuff.TC_INDEX]) t.u32(off, writable.includes(off));
  // cb[]: any aligned access of 1, 2, 4 or 8 bytes inside it, read and write.
  t.allow(SkBuff.CB, 20, 0xff);
  return t;
}

/** TC programs: packet pointers, writes to mark, priority, tc_index, tc_classid, queue_mapping, cb, tstamp. */
export const tcAccess = (() => {
  const t = common(new AccessTable(SkBuff.SIZE), [
    SkBuff.MARK,
    SkBuff.PRIORITY,
    SkBuff.TC_INDEX,
    SkBuff.QUEUE_MAPPING,
  ]);
  t.u32(SkBuff.TC_CLASSID, true);
  t.u32Whole(SkBuff.DATA).u32Whole(SkBuff.DATA_END).u32Whole(SkBuff.DATA_META);
  t.u64(SkBuff.TSTAMP, true).u64(SkBuff.HWTSTAMP).u64(SkBuff.SK);
  return t;
})();

/** Socket filters: no packet pointers, no tc_classid, tstamp, wire_len or hwtstamp; writes to cb only. */
export const socketAccess = (() => {
  const t = common(new AccessTable(SkBuff.SIZE), []);
  t.bytes.fill(0, SkBuff.WIRE_LEN, SkBuff.WIRE_LEN + 4);
  t.u64(SkBuff.SK);
  return t;
})();

export const PacketType = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3 } as const;

/**
 * eth_type_trans() on a device with address `devAddr` and broadcast address `bcast` (the loopback
 * device of test runs has zeros for both): the packet type and protocol (network order).
 */
export function ethTypeTrans(
  frame: Uint8Array,
  devAddr: Uint8Array,
  bcast: Uint8Array,
): { pktType: number; protocol: number } {
  let pktType: number = PacketType.HOST;
  let same = true;
  for (let i = 0; i < 6; i++) if (frame[i] !== devAddr[i]) same = false;
  if (!same) pktType = PacketType.OTHERHOST;
  if (frame[0] & 1) {
    const isBcast = frame.subarray(0, 6).every((b, i) => b === bcast[i]);
    pktType = isBcast ? PacketType.BROADCAST : PacketType.MULTICAST;
  }
  const proto = (frame[12] << 8) | frame[13];
  let host: number;
  if (proto >= 0x600) host = proto;
  else if (frame.length >= 16 && frame[14] === 0xff && frame[15] === 0xff)
    host = 0x0001; // ETH_P_802_3
  else host = 0x0004; // ETH_P_802_2
  // skb->protocol is big-endian; __sk_buff.protocol holds it as stored.
  return { pktType, protocol: ((host & 0xff) << 8) | (host >> 8) };
}
