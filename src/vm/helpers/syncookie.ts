// SYN cookies without a socket (bpf_tcp_raw_gen_syncookie_ipv4/6, bpf_tcp_raw_check_syncookie_ipv4/6),
// with the kernel's encoding (net/ipv4/syncookies.c, net/ipv6/syncookies.c): the MSS index in the
// low 24 bits, the minute counter above them, both hidden behind keyed hashes of the 4-tuple.
// The kernel keys its hash with a secret drawn at boot, so cookies differ between it and the
// runtime by nature (as bpf_get_prandom_u32 does); what a cookie is worth, and which ones a
// check accepts, is the same.
import { createHash, randomBytes } from "node:crypto";
import { HelperId } from "../../bpf/constants.js";
import { EACCES, EINVAL } from "../../bpf/sys/errno.js";
import type { Vm } from "../vm.js";
import type { HelperEnv } from "./env.js";
import type { HelperDef } from "./types.js";

const COOKIEBITS = 24;
const COOKIEMASK = (1 << COOKIEBITS) - 1;
const MAX_SYNCOOKIE_AGE = 2;
const TCP_MSS_DEFAULT = 536;
const TCPHDR = 20;
const MSSTAB4 = [536, 1300, 1440, 1460];
const MSSTAB6 = [1220, 1420, 1440, 8940];

/** Two secrets per runtime, as the kernel's syncookie_secret[2]. */
const secrets = new WeakMap<Vm, Buffer>();

function cookieHash(env: HelperEnv, addrs: Uint8Array, ports: number, count: number, c: number): number {
  let s = secrets.get(env.vm);
  if (!s) secrets.set(env.vm, (s = randomBytes(32)));
  const h = createHash("sha256")
    .update(s.subarray(c * 16, c * 16 + 16))
    .update(addrs);
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(ports >>> 0, 0);
  tail.writeUInt32LE(count >>> 0, 4);
  return h.update(tail).digest().readUInt32LE(0);
}

/** tcp_cookie_time(): minutes of the monotonic clock (jiffies / (60 * HZ)). */
const cookieTime = (env: HelperEnv): number => {
  const ns = env.vm.options.now?.() ?? process.hrtime.bigint();
  return Number((ns / 60_000_000_000n) & 0xffff_ffffn);
};

interface Flow {
  addrs: Uint8Array;
  ports: number;
  seq: number;
}

function flow(env: HelperEnv, ip: number, v6: boolean, th: number): Flow {
  const u8 = env.mem.u8;
  const dv = env.mem.dv;
  return {
    addrs: v6 ? u8.slice(ip + 8, ip + 40) : u8.slice(ip + 12, ip + 20),
    ports: ((dv.getUint16(th, false) << 16) | dv.getUint16(th + 2, false)) >>> 0,
    seq: dv.getUint32(th + 4, false),
  };
}

/** secure_tcp_syn_cookie() */
function makeCookie(env: HelperEnv, f: Flow, data: number): number {
  const count = cookieTime(env);
  return (
    (cookieHash(env, f.addrs, f.ports, 0, 0) +
      f.seq +
      ((count << COOKIEBITS) >>> 0) +
      ((cookieHash(env, f.addrs, f.ports, count, 1) + data) & COOKIEMASK)) >>>
    0
  );
}

/** check_tcp_syn_cookie(): the MSS index the cookie holds, or 0xffffffff when it is too old. */
function checkCookie(env: HelperEnv, cookie: number, f: Flow): number {
  const count = cookieTime(env);
  const c = (cookie - cookieHash(env, f.addrs, f.ports, 0, 0) - f.seq) >>> 0;
  const diff = (count - (c >>> COOKIEBITS)) & (0xffff_ffff >>> COOKIEBITS);
  if (diff >= MAX_SYNCOOKIE_AGE) return 0xffff_ffff;
  return (c - cookieHash(env, f.addrs, f.ports, count - diff, 1)) & COOKIEMASK;
}

/** tcp_parse_mss_option(th, 0): the MSS option's value, or 0. */
function parseMss(u8: Uint8Array, th: number, len: number): number {
  let mss = 0;
  let at = th + TCPHDR;
  let left = len - TCPHDR;
  while (left > 0) {
    const op = u8[at++];
    if (op === 0) return mss;
    if (op === 1) {
      left--;
      continue;
    }
    if (left < 2) return mss;
    const size = u8[at++];
    if (size < 2 || size > left) return mss;
    if (op === 2 && size === 4) {
      const v = (u8[at] << 8) | u8[at + 1];
      if (v) mss = v;
    }
    at += size - 2;
    left -= size;
  }
  return mss;
}

const gen =
  (v6: boolean) =>
  (env: HelperEnv): number | bigint => {
    const ip = env.ptr(1, v6 ? 40 : 20, false, "ip header");
    const len = env.num(3);
    if (len < TCPHDR || len === Infinity) return -EINVAL;
    const th = env.ptr(2, len, false, "tcp header");
    if (len !== (env.mem.u8[th + 12] >> 4) * 4) return -EINVAL;
    const tab = v6 ? MSSTAB6 : MSSTAB4;
    const mss = parseMss(env.mem.u8, th, len) || TCP_MSS_DEFAULT;
    let i = tab.length - 1;
    while (i > 0 && mss < tab[i]) i--;
    const cookie = makeCookie(env, flow(env, ip, v6, th), i);
    return BigInt(cookie) | (BigInt(tab[i]) << 32n);
  };

const check =
  (v6: boolean) =>
  (env: HelperEnv): number => {
    const ip = env.ptr(1, v6 ? 40 : 20, false, "ip header");
    const th = env.ptr(2, TCPHDR, false, "tcp header");
    const f = flow(env, ip, v6, th);
    const cookie = (env.mem.dv.getUint32(th + 8, false) - 1) >>> 0;
    const mssind = checkCookie(env, cookie, { ...f, seq: (f.seq - 1) >>> 0 });
    return mssind < (v6 ? MSSTAB6 : MSSTAB4).length ? 0 : -EACCES;
  };

const contexts = ["xdp", "tc"] as const;

export const syncookieHelpers: HelperDef[] = [
  { id: HelperId.tcp_raw_gen_syncookie_ipv4, name: "tcp_raw_gen_syncookie_ipv4", fn: gen(false), contexts },
  { id: HelperId.tcp_raw_gen_syncookie_ipv6, name: "tcp_raw_gen_syncookie_ipv6", fn: gen(true), contexts },
  {
    id: HelperId.tcp_raw_check_syncookie_ipv4,
    name: "tcp_raw_check_syncookie_ipv4",
    fn: check(false),
    contexts,
  },
  {
    id: HelperId.tcp_raw_check_syncookie_ipv6,
    name: "tcp_raw_check_syncookie_ipv6",
    fn: check(true),
    contexts,
  },
];
