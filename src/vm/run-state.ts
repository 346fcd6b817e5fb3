// The state of one program run: which program is running (tail calls change it), the packet's
// bounds, where the program asked the packet to go, and ring buffer records it holds.
import type { RingBufMap } from "./maps/ringbuf.js";
import type { ContextKind } from "./prepare.js";
import type { VmProgram } from "./program.js";
import type { Region } from "./regions.js";

/** Where bpf_redirect / bpf_redirect_map (and XDP_TX) send the packet. */
export interface Redirect {
  /** An interface by ifindex, or an entry of a DEVMAP / DEVMAP_HASH / CPUMAP / XSKMAP. */
  kind: "ifindex" | "devmap" | "cpumap" | "xskmap";
  /** The target interface (devmaps: the entry's ifindex), CPU or socket slot. */
  target: number;
  flags: number;
  /** TC: BPF_F_INGRESS (deliver to the target's ingress rather than transmit). */
  ingress?: boolean;
  /** Redirects through a map: its name and the key. */
  map?: string;
  key?: number;
  /** BPF_F_BROADCAST: to every entry of the map (the key is ignored). */
  broadcast?: boolean;
}

/** A copy of the packet bpf_clone_redirect sent while the program went on with the original. */
export interface Clone {
  ifindex: number;
  /** BPF_F_INGRESS: delivered to the interface's ingress rather than transmitted. */
  ingress: boolean;
  /** The frame as it leaves (a VLAN tag held in the skb's metadata written into it). */
  data: Buffer;
}

export class RunState {
  /** The running program (a tail call replaces it). */
  prog: VmProgram;
  readonly entry: VmProgram;
  readonly kind: ContextKind;
  /** Packet bounds (addresses): metadata, data, end, and the frame around them. */
  meta = 0;
  data = 0;
  end = 0;
  hardStart = 0;
  hardEnd = 0;
  /** skb: where the Ethernet header starts. */
  mac = 0;
  /** skb fields helpers change (the rest live in the __sk_buff itself). */
  protocol = 0;
  redirect: Redirect | undefined;
  /** bpf_clone_redirect's copies, in call order. */
  readonly clones: Clone[] = [];
  tailCalls = 0;
  /** Ring buffers with records reserved during this run. */
  readonly ringbufs = new Set<RingBufMap>();
  packetRegion: Region | undefined;
  inputRegion: Region | undefined;
  ctxRegion: Region | undefined;

  constructor(prog: VmProgram) {
    this.prog = prog;
    this.entry = prog;
    this.kind = prog.prepared.ctx;
  }

  get len(): number {
    return this.end - this.data;
  }
}
