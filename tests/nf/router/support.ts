// Shared by the router's tests: the router's data plane loaded alone (NfTestRun) with its control
// plane on top through a stand-in InstanceContext (recording what it sends and reports), a
// standard two-port setup, frame builders written independently of the router's own code, and
// checksum checks.
import { join } from "node:path";
import { pino } from "pino";
import { projectRoot } from "../../../src/build/compile-bpf.js";
import { RingBufferReader } from "../../../src/bpf/ringbuf/reader.js";
import { decodeEvent } from "../../../src/core/dataplane/abi.js";
import type { HookMode, InstanceContext, PortInfo, SlowPathPacket } from "../../../src/core/nf-api.js";
import type { BpfMap } from "../../../src/bpf/map/map.js";
import type { BpfProgram } from "../../../src/bpf/prog/program.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { NfTestRun, type NfRunResult } from "../../../src/testbed/nf-testrun.js";
import { Router } from "../../../nf/router/cp/router.js";
import { checksum } from "../../helpers/packets.js";

export const MAC_P0 = "02:00:00:00:01:fe";
export const MAC_P1 = "02:00:00:00:02:fe";
export const MAC_H1 = "02:00:00:00:01:01"; // host on p0's link
export const MAC_H2 = "02:00:00:00:02:01"; // host on p1's link
export const IFINDEX = [10, 11, 12];

/** A stand-in for the hypervisor's InstanceContext: real maps, recorded sends and events. */
export class FakeContext implements InstanceContext {
  readonly type = "router";
  readonly mode: HookMode;
  readonly slot: number;
  config: Record<string, unknown>;
  portList: PortInfo[];
  sent: { port: number; frame: Buffer }[] = [];
  events: { kind: string; message: string }[] = [];
  readonly log = pino({ level: "silent" });

  constructor(
    readonly name: string,
    private readonly t: NfTestRun,
    ports: PortInfo[],
    config: Record<string, unknown> = {},
    mode: HookMode = "xdp",
  ) {
    this.mode = mode;
    this.slot = t.slot;
    this.portList = ports;
    this.config = config;
  }

  ports(): PortInfo[] {
    return this.portList;
  }

  port(p: string | number): PortInfo | undefined {
    return this.portList.find((x) => x.name === p || x.index === p);
  }

  map(name: string): BpfMap {
    return this.t.map(name);
  }

  program(name: string): BpfProgram {
    return this.t.loaded.program(name);
  }

  send(port: string | number, frame: Uint8Array): void {
    const p = this.port(port);
    if (!p) throw new Error(`no port ${port}`);
    this.sent.push({ port: p.index, frame: Buffer.from(frame) });
  }

  event(kind: string, message: string): void {
    this.events.push({ kind, message });
  }

  /** Takes what was sent so far. */
  takeSent(): { port: number; frame: Buffer }[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
}

export function port(name: string, index: number, config: Record<string, unknown>): PortInfo {
  return {
    name,
    index,
    config,
    peer: { kind: "iface", ifname: `veth${index}`, ifindex: IFINDEX[index], mac: "02:00:00:00:00:99" },
  };
}

/** p0: 198.18.1.254/24, fd00:1::fe/64; p1: 198.18.2.254/24, fd00:2::fe/64. */
export const standardPorts = (): PortInfo[] => [
  port("p0", 0, { ipv4: ["198.18.1.254/24"], ipv6: ["fd00:1::fe/64"], mac: MAC_P0 }),
  port("p1", 1, { ipv4: ["198.18.2.254/24"], ipv6: ["fd00:2::fe/64"], mac: MAC_P1 }),
];

export interface Rig {
  hook: "xdp" | "tc";
  t: NfTestRun;
  ctx: FakeContext;
  router: Router;
  events: RingBufferReader;
  /** Clocks the router sees (ms and data-plane ns); tests move them. */
  clock: { ms: number };
  close(): void;
}

/** Loads the router for `hook` in a private bpffs, with its control plane on the given ports. */
export async function openRig(
  hook: "xdp" | "tc",
  opts: { ports?: PortInfo[]; config?: Record<string, unknown> } = {},
): Promise<Rig> {
  const bpffs: Bpffs = mountBpffs();
  let t: NfTestRun | undefined;
  try {
    t = await NfTestRun.open(join(projectRoot, "nf", "router", "build", `router.${hook}.o`), bpffs.path);
    const ports = opts.ports ?? standardPorts();
    for (const p of ports) t.connect(p.index, { kind: "iface", ifindex: IFINDEX[p.index] });
    const ctx = new FakeContext("r1", t, ports, opts.config ?? {}, hook);
    const router = new Router(ctx);
    const clock = { ms: 1_000_000 };
    router.nowMs = () => clock.ms;
    router.start();
    const events = new RingBufferReader(t.map("px_events"));
    const tt = t;
    return {
      hook,
      t,
      ctx,
      router,
      events,
      clock,
      close() {
        events.close();
        tt.close();
        bpffs.cleanup();
      },
    };
  } catch (e) {
    t?.close();
    bpffs.cleanup();
    throw e;
  }
}

/** The slow-path records the data plane wrote since the last call, as the hypervisor hands them over. */
export function slowPath(rig: Rig): SlowPathPacket[] {
  const out: SlowPathPacket[] = [];
  for (let r = rig.events.read(); r; r = rig.events.read()) {
    const e = decodeEvent(r);
    if (e)
      out.push({
        port: e.port,
        reason: e.reason,
        user: e.user,
        length: e.length,
        data: e.data,
        timestampNs: e.timestampNs,
      });
  }
  return out;
}

/** Runs a frame in and hands whatever went to the control plane over to it. */
export function runAndDeliver(rig: Rig, frame: Buffer, inPort: number): NfRunResult {
  const r = rig.t.run(frame, inPort);
  for (const p of slowPath(rig)) rig.router.packet(p);
  return r;
}

// ---- frames, built independently of the router's code ----

export const mac = (s: string): Buffer => Buffer.from(s.split(":").map((x) => parseInt(x, 16)));
export const ip4 = (s: string): Buffer => Buffer.from(s.split(".").map(Number));

/** Expands an IPv6 address written with "::" (test inputs only). */
export function ip6(s: string): Buffer {
  const [head, tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const words = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2));
  return b;
}

export function eth(dst: string, src: string, type: number, payload: Uint8Array): Buffer {
  return Buffer.concat([mac(dst), mac(src), Buffer.from([type >> 8, type & 0xff]), payload]);
}

export interface V4 {
  src: string;
  dst: string;
  ttl?: number;
  proto?: number;
  df?: boolean;
  id?: number;
}

export function ipv4(o: V4, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  h.writeUInt16BE(o.df ? 0x4000 : 0, 6);
  h[8] = o.ttl ?? 64;
  h[9] = o.proto ?? 17;
  ip4(o.src).copy(h, 12);
  ip4(o.dst).copy(h, 16);
  h.writeUInt16BE(checksum(h), 10);
  return Buffer.concat([h, payload]);
}

export function udpPayload(size: number, sport = 33434, dport = 33435): Buffer {
  const u = Buffer.alloc(8 + size);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(8 + size, 4);
  for (let i = 0; i < size; i++) u[8 + i] = i & 0xff;
  return u;
}

export function icmp4(type: number, code: number, rest: number, data: Uint8Array): Buffer {
  const m = Buffer.concat([
    Buffer.from([type, code, 0, 0, rest >>> 24, (rest >>> 16) & 0xff, (rest >>> 8) & 0xff, rest & 0xff]),
    data,
  ]);
  m.writeUInt16BE(checksum(m), 2);
  return m;
}

export interface V6 {
  src: string;
  dst: string;
  hlim?: number;
  next?: number;
}

export function ipv6(o: V6, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(payload.length, 4);
  h[6] = o.next ?? 17;
  h[7] = o.hlim ?? 64;
  ip6(o.src).copy(h, 8);
  ip6(o.dst).copy(h, 24);
  return Buffer.concat([h, payload]);
}

export function pseudo6(src: Uint8Array, dst: Uint8Array, len: number, next: number): Buffer {
  const p = Buffer.alloc(40);
  p.set(src, 0);
  p.set(dst, 16);
  p.writeUInt32BE(len, 32);
  p.writeUInt32BE(next, 36);
  return p;
}

export function icmp6(src: string, dst: string, type: number, code: number, body: Uint8Array): Buffer {
  const m = Buffer.concat([Buffer.from([type, code, 0, 0]), body]);
  m.writeUInt16BE(checksum(Buffer.concat([pseudo6(ip6(src), ip6(dst), m.length, 58), m])), 2);
  return m;
}

export function arp(op: number, sha: string, spa: string, tha: string, tpa: string): Buffer {
  const a = Buffer.alloc(28);
  a.writeUInt16BE(1, 0);
  a.writeUInt16BE(0x0800, 2);
  a[4] = 6;
  a[5] = 4;
  a.writeUInt16BE(op, 6);
  mac(sha).copy(a, 8);
  ip4(spa).copy(a, 14);
  mac(tha).copy(a, 18);
  ip4(tpa).copy(a, 24);
  return a;
}

/** A neighbour solicitation from `src` (MAC `srcMac`) for `target`, to its solicited-node group. */
export function nsFrame(srcMac: string, src: string, target: string): Buffer {
  const t = ip6(target);
  const group = `ff02::1:ff${t[13].toString(16).padStart(2, "0")}:${((t[14] << 8) | t[15]).toString(16)}`;
  const body = Buffer.concat([Buffer.alloc(4), t, Buffer.from([1, 1]), mac(srcMac)]);
  const m = icmp6(src, group, 135, 0, body);
  return eth(
    `33:33:ff:${[t[13], t[14], t[15]].map((x) => x.toString(16).padStart(2, "0")).join(":")}`,
    srcMac,
    0x86dd,
    ipv6({ src, dst: group, hlim: 255, next: 58 }, m),
  );
}

/** A solicited neighbour advertisement from `src` for itself, to `dst` / `dstMac`. */
export function naFrame(srcMac: string, src: string, dstMac: string, dst: string): Buffer {
  const body = Buffer.concat([Buffer.from([0x60, 0, 0, 0]), ip6(src), Buffer.from([2, 1]), mac(srcMac)]);
  return eth(dstMac, srcMac, 0x86dd, ipv6({ src, dst, hlim: 255, next: 58 }, icmp6(src, dst, 136, 0, body)));
}

// ---- checks ----

/** Whether an IPv4 packet's header checksum and (for ICMP) message checksum are right. */
export function ipv4ChecksumsOk(ip: Buffer): boolean {
  const hl = (ip[0] & 0x0f) * 4;
  if (checksum(ip.subarray(0, hl)) !== 0) return false;
  if (ip[9] === 1) return checksum(ip.subarray(hl, ip.readUInt16BE(2))) === 0;
  return true;
}

/** Whether an IPv6 packet's ICMPv6 checksum is right. */
export function icmp6ChecksumOk(ip: Buffer): boolean {
  const len = ip.readUInt16BE(4);
  return (
    checksum(
      Buffer.concat([pseudo6(ip.subarray(8, 24), ip.subarray(24, 40), len, 58), ip.subarray(40, 40 + len)]),
    ) === 0
  );
}
