// Frames for the bridge tests: Ethernet with and without 802.1Q tags, from the test MAC range.
import { ethernet, ipv4, udp } from "../../helpers/packets.js";

export const BROADCAST = "ff:ff:ff:ff:ff:ff";
export const mac = (n: number): string =>
  `02:00:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, "0")}:${(n & 0xff).toString(16).padStart(2, "0")}`;

/** An untagged IPv4/UDP frame from `src` to `dst`, with `marker` in its payload. */
export function frame(dst: string, src: string, marker = 0): Buffer {
  const payload = Buffer.alloc(22);
  payload.writeUInt32BE(marker, 0);
  return ethernet(0x0800, ipv4(udp(payload)), dst, src);
}

/** The frame with an 802.1Q tag (VLAN `vid`, priority `pcp`) inserted after the addresses. */
export function tag(f: Buffer, vid: number, pcp = 0): Buffer {
  const t = Buffer.alloc(4);
  t.writeUInt16BE(0x8100, 0);
  t.writeUInt16BE(((pcp & 7) << 13) | (vid & 0xfff), 2);
  return Buffer.concat([f.subarray(0, 12), t, f.subarray(12)]);
}

/** The outer 802.1Q VLAN of a frame as it is on the wire, or undefined when untagged. */
export const vlanOf = (f: Buffer): number | undefined =>
  f.readUInt16BE(12) === 0x8100 ? f.readUInt16BE(14) & 0xfff : undefined;

/** The frame without its outer 802.1Q tag. */
export const untag = (f: Buffer): Buffer =>
  vlanOf(f) === undefined ? f : Buffer.concat([f.subarray(0, 12), f.subarray(16)]);
