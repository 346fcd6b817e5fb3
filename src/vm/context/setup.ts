// Setting up a run's context the way BPF_PROG_TEST_RUN does (net/bpf/test_run.c), and reading
// back what the kernel would return: the packet (XDP: from data_meta), and the context with the
// fields the kernel copies out. Invalid inputs fail with the kernel's errno.
import { BpfError } from "../../bpf/errors.js";
import { E2BIG, EINVAL } from "../../bpf/sys/errno.js";
import { CTX, CTX_PERM, CTX_SIZE, PACKET, PACKET_CAPACITY, PKT_END, PKT_META } from "../layout.js";
import type { RunState } from "../run-state.js";
import type { Vm } from "../vm.js";
import type { AccessTable } from "./access.js";
import { SkBuff, ethTypeTrans, socketAccess, tcAccess } from "./skb.js";
import { XDP_FRAME_SIZE, XDP_META_MAX, XDP_PACKET_HEADROOM, XDP_TAILROOM, XdpMd, xdpAccess } from "./xdp.js";

export interface ContextInput {
  /** Packet bytes (XDP, TC, socket filter programs). */
  data?: Uint8Array;
  /** Context in (struct xdp_md, struct __sk_buff) with the fields BPF_PROG_TEST_RUN accepts. */
  ctx?: Uint8Array;
  /** Raw programs: the memory r1 points to (r2 holds its length). */
  memory?: Uint8Array;
  /** XDP: the receiving interface (default 1, the loopback device of the kernel's test runs). */
  ingressIfindex?: number;
  /** XDP: the receive queue (default 0). */
  rxQueue?: number;
  /** TC and socket filters: the device's ifindex (default 1) and addresses (default zero, loopback's). */
  ifindex?: number;
  deviceMac?: Uint8Array;
  deviceBroadcast?: Uint8Array;
}

export interface ContextOutput {
  /** Packet after the run (XDP: from data_meta, as the kernel's test run returns it). */
  data?: Buffer;
  /** Context after the run, when one was given. */
  ctx?: Buffer;
  /** Raw programs: the input memory after the run. */
  memory?: Buffer;
}

const ETH_HLEN = 14;
const SKB_HEADROOM = 256;
const ZERO_MAC = new Uint8Array(6);

const invalid = (why: string): never => {
  throw new BpfError("BPF_PROG_TEST_RUN", EINVAL, `userspace runtime: ${why}`);
};

/** The context in, zero-extended to `size`; bytes past `size` must be zero (E2BIG otherwise). */
function ctxIn(ctx: Uint8Array | undefined, size: number): Buffer | undefined {
  if (!ctx) return undefined;
  if (ctx.length > size && ctx.subarray(size).some((b) => b !== 0))
    throw new BpfError(
      "BPF_PROG_TEST_RUN",
      E2BIG,
      "userspace runtime: context bytes past its end are not zero",
    );
  const b = Buffer.alloc(size);
  b.set(ctx.subarray(0, size));
  return b;
}

function installContext(vm: Vm, run: RunState, size: number, access: AccessTable): void {
  vm.mem.u8.fill(0, CTX, CTX + CTX_SIZE);
  vm.mem.u8.set(access.bytes, CTX_PERM);
  run.ctxRegion = vm.regions.add({
    kind: "ctx",
    name: "context",
    lo: CTX,
    hi: CTX + size,
    writable: true,
    perm: CTX_PERM,
  });
}

export function setupContext(vm: Vm, run: RunState, input: ContextInput): { r1: bigint; r2: bigint } {
  switch (run.kind) {
    case "raw":
      return setupRaw(vm, run, input);
    case "xdp":
      return setupXdp(vm, run, input);
    default:
      return setupSkb(vm, run, input);
  }
}

function setupRaw(vm: Vm, run: RunState, input: ContextInput): { r1: bigint; r2: bigint } {
  const memory = input.memory ?? input.data ?? new Uint8Array(0);
  if (memory.length > PACKET_CAPACITY)
    invalid(`input memory of ${memory.length} bytes (at most ${PACKET_CAPACITY})`);
  vm.mem.write(PACKET, memory);
  // The JIT's inline check covers the input memory as it covers a packet.
  vm.mem.u32[PKT_META >> 2] = PACKET;
  vm.mem.u32[PKT_END >> 2] = PACKET + memory.length;
  if (memory.length)
    run.inputRegion = vm.regions.add({
      kind: "input",
      name: "input memory",
      lo: PACKET,
      hi: PACKET + memory.length,
      writable: true,
    });
  return { r1: memory.length ? BigInt(PACKET) : 0n, r2: BigInt(memory.length) };
}

function setupXdp(vm: Vm, run: RunState, input: ContextInput): { r1: bigint; r2: bigint } {
  const data = input.data ?? new Uint8Array(0);
  const md = ctxIn(input.ctx, XdpMd.SIZE);
  let metaLen = 0;
  let ingress = input.ingressIfindex ?? 1;
  let rxq = input.rxQueue ?? 0;
  if (md) {
    metaLen = md.readUInt32LE(XdpMd.DATA);
    if (
      md.readUInt32LE(XdpMd.DATA_META) ||
      md.readUInt32LE(XdpMd.DATA_END) !== data.length ||
      metaLen > data.length
    )
      invalid("xdp_md: data_meta must be 0, data_end the packet length and data at most data_end");
    if (metaLen % 4 || metaLen > XDP_META_MAX)
      invalid("xdp_md: metadata length must be a multiple of 4, at most 255");
    if (md.readUInt32LE(XdpMd.EGRESS_IFINDEX)) invalid("xdp_md: egress_ifindex must be 0");
    if (md.readUInt32LE(XdpMd.INGRESS_IFINDEX)) ingress = md.readUInt32LE(XdpMd.INGRESS_IFINDEX);
    else if (md.readUInt32LE(XdpMd.RX_QUEUE_INDEX)) invalid("xdp_md: rx_queue_index needs ingress_ifindex");
    rxq = md.readUInt32LE(XdpMd.RX_QUEUE_INDEX);
  }
  if (data.length - metaLen < ETH_HLEN)
    invalid(`a packet of ${data.length - metaLen} bytes is shorter than an Ethernet header`);
  const frame = Math.max(
    XDP_FRAME_SIZE,
    Math.ceil((XDP_PACKET_HEADROOM + data.length + XDP_TAILROOM) / 4096) * 4096,
  );
  if (frame > PACKET_CAPACITY) invalid(`a packet of ${data.length} bytes does not fit the packet buffer`);
  const mem = vm.mem;
  run.hardStart = PACKET;
  run.hardEnd = PACKET + frame - XDP_TAILROOM;
  const meta = PACKET + XDP_PACKET_HEADROOM - metaLen;
  mem.u8.fill(0, PACKET, meta);
  mem.write(meta, data);
  installContext(vm, run, XdpMd.SIZE, xdpAccess);
  const u32 = mem.u32;
  u32[(CTX + XdpMd.INGRESS_IFINDEX) >> 2] = ingress;
  u32[(CTX + XdpMd.RX_QUEUE_INDEX) >> 2] = rxq;
  run.packetRegion = vm.regions.add({
    kind: "packet",
    name: "packet",
    lo: meta,
    hi: meta + data.length,
    writable: true,
  });
  vm.setPacket(meta, meta + metaLen, meta + data.length);
  return { r1: BigInt(CTX), r2: 0n };
}

/** __sk_buff fields BPF_PROG_TEST_RUN accepts in ctx_in (all others must be zero). */
const SKB_IN: [number, number][] = [
  [SkBuff.MARK, 4],
  [SkBuff.PRIORITY, 4],
  [SkBuff.INGRESS_IFINDEX, 4],
  [SkBuff.IFINDEX, 4],
  [SkBuff.CB, 20],
  [SkBuff.TSTAMP, 8],
  [SkBuff.WIRE_LEN, 4],
  [SkBuff.GSO_SEGS, 4],
  [SkBuff.GSO_SIZE, 4],
  [SkBuff.HWTSTAMP, 8],
];

function setupSkb(vm: Vm, run: RunState, input: ContextInput): { r1: bigint; r2: bigint } {
  const frame = input.data ?? new Uint8Array(0);
  if (frame.length < ETH_HLEN)
    invalid(`a packet of ${frame.length} bytes is shorter than an Ethernet header`);
  if (SKB_HEADROOM + frame.length > PACKET_CAPACITY)
    invalid(`a packet of ${frame.length} bytes does not fit the packet buffer`);
  const sk = ctxIn(input.ctx, SkBuff.SIZE);
  if (sk) {
    const allowed = new Uint8Array(SkBuff.SIZE);
    for (const [off, len] of SKB_IN) allowed.fill(1, off, off + len);
    if (sk.some((b, i) => b !== 0 && !allowed[i]))
      invalid(
        "__sk_buff: only mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size and hwtstamp may be set",
      );
    const wire = sk.readUInt32LE(SkBuff.WIRE_LEN);
    if (wire && (wire < frame.length || wire > 65536))
      invalid("__sk_buff: wire_len is below the packet length or above 64 KiB");
    if (sk.readUInt32LE(SkBuff.GSO_SEGS) > 65535) invalid("__sk_buff: gso_segs is above 65535");
  }
  const mem = vm.mem;
  const mac = PACKET + SKB_HEADROOM;
  mem.write(mac, frame);
  run.hardStart = PACKET;
  run.hardEnd = PACKET + PACKET_CAPACITY;
  run.mac = mac;
  const eth = ethTypeTrans(frame, input.deviceMac ?? ZERO_MAC, input.deviceBroadcast ?? ZERO_MAC);
  run.protocol = eth.protocol;
  // The kernel refuses IP packets whose network header is cut short.
  const l3 = frame.length - ETH_HLEN;
  if ((eth.protocol === 0x0008 && l3 < 20) || (eth.protocol === 0xdd86 && l3 < 40))
    invalid(`an IP packet with ${l3} bytes of network header`);
  installContext(vm, run, SkBuff.SIZE, run.kind === "tc" ? tcAccess : socketAccess);
  if (sk) for (const [off, len] of SKB_IN) mem.u8.set(sk.subarray(off, off + len), CTX + off);
  const u32 = mem.u32;
  const c = CTX >> 2;
  u32[c + (SkBuff.PKT_TYPE >> 2)] = eth.pktType;
  u32[c + (SkBuff.PROTOCOL >> 2)] = eth.protocol;
  const ifindex = sk?.readUInt32LE(SkBuff.IFINDEX) ?? 0;
  u32[c + (SkBuff.IFINDEX >> 2)] = ifindex > 1 ? ifindex : (input.ifindex ?? 1);
  // cb->pkt_len is only set when a context comes in (convert___skb_to_skb()).
  u32[c + (SkBuff.WIRE_LEN >> 2)] = sk ? sk.readUInt32LE(SkBuff.WIRE_LEN) || frame.length : 0;
  const data = run.kind === "tc" ? mac : mac + ETH_HLEN;
  if (run.kind === "tc")
    run.packetRegion = vm.regions.add({
      kind: "packet",
      name: "packet",
      lo: data,
      hi: mac + frame.length,
      writable: true,
    });
  vm.setPacket(data, data, mac + frame.length);
  return { r1: BigInt(CTX), r2: 0n };
}

export function finishContext(vm: Vm, run: RunState, input: ContextInput): ContextOutput {
  const mem = vm.mem;
  switch (run.kind) {
    case "raw":
      return { memory: mem.read(PACKET, (input.memory ?? input.data ?? []).length) };
    case "xdp": {
      const out: ContextOutput = { data: mem.read(run.meta, run.end - run.meta) };
      const md = ctxIn(input.ctx, XdpMd.SIZE);
      if (md) {
        md.writeUInt32LE(run.data - run.meta, XdpMd.DATA);
        md.writeUInt32LE(run.end - run.meta, XdpMd.DATA_END);
        out.ctx = md;
      }
      return out;
    }
    default: {
      const body = mem.read(run.data, run.end - run.data);
      const out: ContextOutput = {
        data: run.kind === "tc" ? body : Buffer.concat([Buffer.alloc(ETH_HLEN), body]),
      };
      const sk = ctxIn(input.ctx, SkBuff.SIZE);
      if (sk) {
        // convert_skb_to___skb(): everything it accepted except gso_size comes back out.
        for (const [off, len] of SKB_IN)
          if (off !== SkBuff.GSO_SIZE) sk.set(mem.u8.subarray(CTX + off, CTX + off + len), off);
        out.ctx = sk;
      }
      return out;
    }
  }
}
