// A flood from the test itself: tests/fixtures/ddos_flood.c run as a live-frames generator in the
// attacker's namespace, sending TCP segments (SYNs unless told) from a range of spoofed sources
// out of its veth, at whatever rate the machine gives it. Used by the end-to-end tests and by
// bench/nf-ddos.ts.
import { TestRunFlags } from "../../../src/bpf/constants.js";
import { BpfError } from "../../../src/bpf/errors.js";
import { attachXdp } from "../../../src/bpf/link/xdp.js";
import { EINTR } from "../../../src/bpf/sys/errno.js";
import { BpfObject } from "../../../src/bpf/object/object.js";
import type { LoadedObject } from "../../../src/bpf/object/load.js";
import { withNetns, type Endpoint } from "../../../src/testbed/netns.js";
import { fixture } from "../../helpers/fixtures.js";
import { TCP, addrBytes, tcpFrame, synOptions } from "./frames.js";

/** Bytes copied from the template on every send (ddos_flood.c FLOOD_HDR); frames are this long. */
const HDR = 96;
const CFG_SIZE = 132;
const KEY0 = Buffer.alloc(4);

export interface FloodSpec {
  /** The attacker's MAC and the victim's (the DUT interface's). */
  srcMac: string;
  dstMac: string;
  /** First source address; `sources` consecutive ones (in the last 32 bits) are used in turn. */
  src: string;
  sources?: number;
  /** IPv6: which 32-bit word of the source address varies (default 3, the last; 1 spreads the
   * sources over /64s). */
  srcWord?: number;
  /** Source ports used per source, from 1024. */
  ports?: number;
  dst: string;
  dport?: number;
  /** TCP flags (default SYN). */
  flags?: number;
}

/** One's complement sum of big-endian 16-bit words, not folded to 16 bits past 32 bits' need. */
function sum16(b: Uint8Array, start = 0): number {
  let s = start;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1];
  if (b.length % 2) s += b[b.length - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

const macBytes = (s: string) => Buffer.from(s.split(":").map((x) => parseInt(x, 16)));

/** The template frame and the config record ddos_flood.c patches it from. */
export function floodConfig(spec: FloodSpec, ifindex: number): { frame: Buffer; cfg: Buffer } {
  const v6 = spec.src.includes(":");
  const f = tcpFrame({
    src: spec.src,
    dst: spec.dst,
    sport: 1024,
    dport: spec.dport ?? 80,
    flags: spec.flags ?? TCP.SYN,
    seq: 0x12345678,
    options: (spec.flags ?? TCP.SYN) & TCP.SYN ? synOptions() : undefined,
  });
  if (f.length > HDR) throw new RangeError(`flood frame of ${f.length} bytes, more than ${HDR}`);
  macBytes(spec.dstMac).copy(f, 0);
  macBytes(spec.srcMac).copy(f, 6);
  const frame = Buffer.alloc(HDR);
  f.copy(frame);
  // Partial sums with the varying fields (last 32 bits of the source, source port) and the
  // checksums zeroed: the generator adds the fields of each frame and folds.
  const l3 = 14;
  const l4 = v6 ? l3 + 40 : l3 + 20;
  const word = v6 ? (spec.srcWord ?? 3) : 3;
  const saddrLast = v6 ? l3 + 8 + 4 * word : l3 + 12;
  const z = Buffer.from(frame);
  z.fill(0, saddrLast, saddrLast + 4);
  z.writeUInt16BE(0, l4);
  z.writeUInt16BE(0, l4 + 16);
  let ipSum = 0;
  if (!v6) {
    z.writeUInt16BE(0, l3 + 10);
    ipSum = sum16(z.subarray(l3, l3 + 20));
  }
  const segLen = f.length - l4;
  const pseudo = Buffer.alloc(v6 ? 40 : 12);
  if (v6) {
    z.copy(pseudo, 0, l3 + 8, l3 + 40);
    pseudo.writeUInt32BE(segLen, 32);
    pseudo[39] = 6;
  } else {
    z.copy(pseudo, 0, l3 + 12, l3 + 20);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(segLen, 10);
  }
  const tcpSum = sum16(z.subarray(l4, l4 + segLen), sum16(pseudo));
  const cfg = Buffer.alloc(CFG_SIZE);
  frame.copy(cfg, 0);
  const src = addrBytes(spec.src);
  let o = HDR;
  for (const v of [
    ifindex,
    v6 ? 1 : 0,
    spec.sources ?? 1,
    src.readUInt32BE(v6 ? 4 * word : 0),
    spec.ports ?? 1,
    1024,
    ipSum,
    tcpSum,
    word,
  ]) {
    cfg.writeUInt32LE(v >>> 0, o);
    o += 4;
  }
  return { frame, cfg };
}

export class Flood {
  #frame: Buffer | undefined;

  private constructor(
    private readonly obj: LoadedObject,
    readonly out: Endpoint,
  ) {}

  /** Loads the generator; frames leave through `out` (an interface in `out.ns`). */
  static async open(out: Endpoint): Promise<Flood> {
    return new Flood(await BpfObject.open(await fixture("ddos_flood")).load(), out);
  }

  configure(spec: FloodSpec): void {
    const { frame, cfg } = floodConfig(spec, this.out.ifindex);
    this.#frame = frame;
    this.obj.map("flood_cfg").update(KEY0, cfg);
  }

  /** Frames sent so far (every configuration included). */
  sent(): number {
    return (this.obj.map("flood_sent").lookupPerCpu(KEY0) ?? []).reduce(
      (s, b) => s + Number(b.readBigUInt64LE(0)),
      0,
    );
  }

  /** Sends `frames` frames now (blocking: the whole pipeline runs in this thread's softirq). */
  send(frames: number, batchSize = 64): void {
    const data = this.#frame;
    if (!data) throw new Error("flood: configure() before send()");
    const prog = this.obj.program("ddos_flood");
    try {
      withNetns(this.out.ns, () =>
        prog.testRun({ data, repeat: frames, flags: TestRunFlags.XDP_LIVE_FRAMES, batchSize }),
      );
    } catch (e) {
      // A signal (a child exiting) cut the run short: what was sent is counted by the program.
      if (!(e instanceof BpfError && e.errno === EINTR)) throw e;
    }
  }

  /**
   * Floods in chunks of `chunk` frames until `done()` says stop, yielding to the event loop between
   * chunks (what the test waits for runs meanwhile); `pause` ms between chunks thins the flood.
   */
  async until(done: () => boolean, chunk = 20_000, pause = 0): Promise<{ frames: number; seconds: number }> {
    const before = this.sent();
    const t0 = performance.now();
    while (!done()) {
      this.send(chunk);
      await new Promise((r) => (pause ? setTimeout(r, pause) : setImmediate(r)));
    }
    return { frames: this.sent() - before, seconds: (performance.now() - t0) / 1000 };
  }

  /**
   * Drops, on the attacker's interface, IPv4 packets for addresses other than `own` (the answers to
   * spoofed sources): they would go elsewhere on a real network. Returns what undoes it.
   */
  sinkAnswers(own: string): () => void {
    this.obj.map("flood_keep").update(KEY0, addrBytes(own));
    const link = withNetns(this.out.ns, () =>
      attachXdp(this.obj.program("ddos_flood_sink"), this.out.ifname),
    );
    return () => link.close();
  }

  close(): void {
    this.obj.close();
  }
}
