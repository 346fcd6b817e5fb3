// One line per captured packet, in the spirit of tcpdump's default output (not a copy of it):
// "12:00:01.123456 IP 198.18.0.1.40000 > 198.18.0.2.80: tcp [S] length 0". Enough to see what
// is flowing; for everything else, write pcap (-w) and read it with tcpdump or tshark.

const hex4 = (n: number) => n.toString(16).padStart(4, "0");

function ip6Text(b: Buffer, at: number): string {
  const words = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(at + i * 2));
  // The longest run of zero words becomes "::".
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestLen < 2) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

const ip4Text = (b: Buffer, at: number) => [...b.subarray(at, at + 4)].join(".");
const macText = (b: Buffer, at: number) =>
  [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, "0")).join(":");

const TCP_FLAGS: [number, string][] = [
  [0x02, "S"],
  [0x01, "F"],
  [0x04, "R"],
  [0x08, "P"],
  [0x20, "U"],
  [0x10, "."],
];

function l4(proto: number, b: Buffer, at: number, src: string, dst: string): string {
  if ((proto === 6 || proto === 17) && b.length >= at + 4) {
    const sp = b.readUInt16BE(at);
    const dp = b.readUInt16BE(at + 2);
    const head = `${src}.${sp} > ${dst}.${dp}`;
    if (proto === 17) return `${head}: UDP, length ${b.length >= at + 6 ? b.readUInt16BE(at + 4) - 8 : "?"}`;
    if (b.length < at + 14) return `${head}: tcp (truncated)`;
    const flags = TCP_FLAGS.filter(([f]) => b[at + 13] & f)
      .map(([, s]) => s)
      .join("");
    const hl = (b[at + 12] >> 4) * 4;
    return `${head}: Flags [${flags || "none"}], seq ${b.readUInt32BE(at + 4)}, length ${Math.max(0, b.length - at - hl)}`;
  }
  if (proto === 1 && b.length >= at + 2) return `${src} > ${dst}: ICMP type ${b[at]} code ${b[at + 1]}`;
  if (proto === 58 && b.length >= at + 2) return `${src} > ${dst}: ICMP6 type ${b[at]} code ${b[at + 1]}`;
  return `${src} > ${dst}: ip-proto-${proto}`;
}

/** A one-line description of an Ethernet frame (`length`: its length on the wire). */
export function summarize(frame: Buffer, length: number): string {
  if (frame.length < 14) return `truncated frame, length ${length}`;
  let type = frame.readUInt16BE(12);
  let at = 14;
  const tags: string[] = [];
  while ((type === 0x8100 || type === 0x88a8) && frame.length >= at + 4) {
    tags.push(`vlan ${frame.readUInt16BE(at) & 0xfff}`);
    type = frame.readUInt16BE(at + 2);
    at += 4;
  }
  const prefix = tags.length ? `${tags.join(", ")}, ` : "";
  if (type === 0x0800 && frame.length >= at + 20) {
    const hl = (frame[at] & 0xf) * 4;
    const frag = frame.readUInt16BE(at + 6) & 0x1fff;
    const src = ip4Text(frame, at + 12);
    const dst = ip4Text(frame, at + 16);
    if (frag) return `${prefix}IP ${src} > ${dst}: fragment offset ${frag * 8}, proto ${frame[at + 9]}`;
    return `${prefix}IP ${l4(frame[at + 9], frame, at + hl, src, dst)}`;
  }
  if (type === 0x86dd && frame.length >= at + 40)
    return `${prefix}IP6 ${l4(frame[at + 6], frame, at + 40, ip6Text(frame, at + 8), ip6Text(frame, at + 24))}`;
  if (type === 0x0806 && frame.length >= at + 28) {
    const op = frame.readUInt16BE(at + 6);
    const spa = ip4Text(frame, at + 14);
    const tpa = ip4Text(frame, at + 24);
    if (op === 1) return `${prefix}ARP, Request who-has ${tpa} tell ${spa}, length ${length - 14}`;
    if (op === 2) return `${prefix}ARP, Reply ${spa} is-at ${macText(frame, at + 8)}, length ${length - 14}`;
  }
  if (type < 0x0600) return `${prefix}802.3, length ${type}: LLC`;
  return `${prefix}${macText(frame, 6)} > ${macText(frame, 0)}, ethertype 0x${hex4(type)}, length ${length}`;
}

/** tcpdump's time of day: HH:MM:SS.ffffff (local time). */
export function timeOfDay(sec: number, frac: number, nano: boolean): string {
  const d = new Date(sec * 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(frac, nano ? 9 : 6)}`;
}
