// Addresses and endpoints as the load balancer's tables write them: IPv4 dotted, IPv6 text,
// ADDR:PORT and [V6]:PORT; held as 16 bytes (IPv4 in the first 4) the way the data plane does.
import { isIPv4, isIPv6 } from "node:net";
import { parseIpv6 } from "../../../src/core/tables.js";

export type Family = 4 | 6;

export interface Addr {
  family: Family;
  /** 16 bytes; IPv4 in the first 4, zeros after. */
  bytes: Buffer;
}

export function parseAddr(text: string): Addr | undefined {
  if (isIPv4(text)) {
    const b = Buffer.alloc(16);
    text.split(".").forEach((x, i) => (b[i] = Number(x)));
    return { family: 4, bytes: b };
  }
  if (isIPv6(text)) {
    const b = parseIpv6(text);
    return b ? { family: 6, bytes: Buffer.from(b) } : undefined;
  }
  return undefined;
}

export function formatAddr(family: Family, b: Buffer): string {
  if (family === 4) return [...b.subarray(0, 4)].join(".");
  const words = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  // The longest run of two or more zero words becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

export const formatEndpoint = (family: Family, b: Buffer, port: number): string =>
  family === 4 ? `${formatAddr(4, b)}:${port}` : `[${formatAddr(6, b)}]:${port}`;

/** ADDR, ADDR:PORT, V6, [V6] or [V6]:PORT; the port is undefined when not given. */
export function parseEndpoint(text: string): { addr: Addr; port?: number } | undefined {
  let host = text;
  let port: string | undefined;
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (br) {
    host = br[1];
    port = br[2];
  } else if (/^[^:]+:\d+$/.test(text)) {
    const i = text.lastIndexOf(":");
    host = text.slice(0, i);
    port = text.slice(i + 1);
  }
  const addr = parseAddr(host);
  if (!addr) return undefined;
  if (port === undefined) return { addr };
  const n = Number(port);
  if (!Number.isInteger(n) || n < 1 || n > 65535) return undefined;
  return { addr, port: n };
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export function parseMac(text: string): Buffer | undefined {
  if (!MAC_RE.test(text)) return undefined;
  return Buffer.from(text.split(":").map((x) => parseInt(x, 16)));
}

export const formatMac = (b: Buffer): string =>
  [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, "0")).join(":");
