// Room in an skb's buffer: how far helpers may grow a packet, and more headroom when a helper
// pushes more bytes in front of the packet than the buffer has (the kernel reallocates the head).
import type { HelperEnv } from "./env.js";

const ETH_HLEN = 14;

/** Largest skb the helpers grow: the loopback device's MTU plus its header (__bpf_skb_max_len). */
export const SKB_MAX_LEN = 65536 + ETH_HLEN;

/**
 * Makes room for `len` more bytes in front of skb->data, moving the packet up in its buffer when
 * the headroom is short (the kernel reallocates the head: skb_cow_head()).
 */
export function skbHeadroom(env: HelperEnv, len: number): boolean {
  const r = env.run;
  if (r.data - len >= r.hardStart) return true;
  const shift = (r.hardStart + len - r.data + 63) & ~63;
  if (r.end + shift > r.hardEnd) return false;
  env.mem.u8.copyWithin(r.meta + shift, r.meta, r.end);
  env.vm.setPacket(r.meta + shift, r.data + shift, r.end + shift);
  return true;
}
