// Fixed headers of rtnetlink requests: struct ifinfomsg (16 bytes) and struct tcmsg (20 bytes).
import { NetlinkError } from "../errors.js";
import { AF_UNSPEC, EPROTO } from "./constants.js";

export const IFINFOMSG_LEN = 16;
export const TCMSG_LEN = 20;

/** struct ifinfomsg for interface `ifindex`, followed by `attrs`. */
export function ifinfomsg(ifindex: number, attrs: Uint8Array = new Uint8Array()): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN + attrs.length);
  b.writeUInt8(AF_UNSPEC, 0);
  b.writeInt32LE(ifindex, 4);
  b.set(attrs, IFINFOMSG_LEN);
  return b;
}

export interface TcMsg {
  ifindex: number;
  handle: number;
  parent: number;
  /** For filters: priority << 16 | protocol (network byte order). */
  info: number;
}

/** struct tcmsg followed by `attrs`. */
export function tcmsg(m: TcMsg, attrs: Uint8Array = new Uint8Array()): Buffer {
  const b = Buffer.alloc(TCMSG_LEN + attrs.length);
  b.writeUInt8(AF_UNSPEC, 0);
  b.writeInt32LE(m.ifindex, 4);
  b.writeUInt32LE(m.handle >>> 0, 8);
  b.writeUInt32LE(m.parent >>> 0, 12);
  b.writeUInt32LE(m.info >>> 0, 16);
  b.set(attrs, TCMSG_LEN);
  return b;
}

export function parseTcmsg(payload: Buffer): TcMsg {
  if (payload.length < TCMSG_LEN)
    throw new NetlinkError("parse tcmsg", EPROTO, `${payload.length} bytes, expected at least ${TCMSG_LEN}`);
  return {
    ifindex: payload.readInt32LE(4),
    handle: payload.readUInt32LE(8),
    parent: payload.readUInt32LE(12),
    info: payload.readUInt32LE(16),
  };
}
