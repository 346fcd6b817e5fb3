// The runtime as a data plane: one program run per packet with a set-up shared by all packets
// (context and packet regions, access rights), the verdict turned into an action (pass, drop,
// transmit, redirect), and counters per action. Packets come from pcap files or live interfaces.
import { ProgType, TcAction, XdpAction } from "../bpf/constants.js";
import { PlexusBpfError, VmFault } from "../bpf/errors.js";
import { SkBuff, ethTypeTrans, tcAccess } from "./context/skb.js";
import { XDP_PACKET_HEADROOM, XDP_TAILROOM, XdpMd, xdpAccess } from "./context/xdp.js";
import type { AccessTable } from "./context/access.js";
import { CTX, CTX_PERM, CTX_SIZE, CURRENT_CPU, PACKET, PACKET_CAPACITY } from "./layout.js";
import type { VmProgram } from "./program.js";
import type { Clone, Redirect, RunState } from "./run-state.js";
import { wireFrame } from "./helpers/vlan.js";
import type { EngineName, Vm } from "./vm.js";

export type Action = "pass" | "drop" | "tx" | "redirect" | "aborted" | "error";

export interface PacketResult {
  action: Action;
  /** The program's return value (low 32 bits of r0). */
  retval: number;
  redirect?: Redirect;
  /** Copies bpf_clone_redirect sent (TC), valid until the next packet. */
  clones?: readonly Clone[];
  /** The fault that stopped the run, for action "error". */
  error?: VmFault;
}

export interface PipelineOptions {
  engine?: EngineName;
  cpu?: number;
  /** TC programs: the device's address (for the packet type), default zero. */
  deviceMac?: Uint8Array;
}

const ETH_HLEN = 14;
const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export function actionOf(progType: number, retval: number, redirect: Redirect | undefined): Action {
  if (progType === ProgType.XDP) {
    switch (retval) {
      case XdpAction.PASS:
        return "pass";
      case XdpAction.DROP:
        return "drop";
      case XdpAction.TX:
        return "tx";
      case XdpAction.REDIRECT:
        return redirect ? "redirect" : "drop";
      default:
        return "aborted";
    }
  }
  switch (retval | 0) {
    case TcAction.SHOT:
    case TcAction.STOLEN:
    case TcAction.QUEUED:
      return "drop";
    case TcAction.REDIRECT:
      return redirect ? "redirect" : "drop";
    default:
      return "pass";
  }
}

export class PacketPipeline {
  readonly counters = new Map<Action, number>();
  readonly #run: RunState;
  readonly #engine: EngineName;
  readonly #xdp: boolean;
  #closed = false;
  /** Faults seen, by message (the first few are worth showing). */
  readonly faults = new Map<string, number>();

  constructor(
    readonly vm: Vm,
    readonly prog: VmProgram,
    readonly opts: PipelineOptions = {},
  ) {
    const kind = prog.prepared.ctx;
    if (kind !== "xdp" && kind !== "tc")
      throw new PlexusBpfError(
        `vm: ${prog.name} is a ${kind} program; the data plane runs XDP and TC programs`,
      );
    this.#xdp = kind === "xdp";
    this.#engine = opts.engine ?? vm.engine;
    if (this.#engine === "jit") {
      const jit = vm.jit ?? (vm.constructor as typeof Vm).createJit?.(vm);
      if (!jit) throw new PlexusBpfError("vm: the JIT is not loaded");
      jit.ensureCompiled();
    }
    this.#run = vm.openSession(prog);
    const access: AccessTable = this.#xdp ? xdpAccess : tcAccess;
    vm.mem.u8.fill(0, CTX, CTX + CTX_SIZE);
    vm.mem.u8.set(access.bytes, CTX_PERM);
    this.#run.ctxRegion = vm.regions.add({
      kind: "ctx",
      name: "context",
      lo: CTX,
      hi: CTX + access.size,
      writable: true,
      perm: CTX_PERM,
    });
    this.#run.packetRegion = vm.regions.add({
      kind: "packet",
      name: "packet",
      lo: PACKET,
      hi: PACKET,
      writable: true,
    });
    vm.mem.u32[CURRENT_CPU >> 2] = opts.cpu ?? 0;
  }

  /** Runs the program on one frame received on `ingressIfindex`. */
  process(frame: Uint8Array, ingressIfindex = 1): PacketResult {
    if (this.#closed) throw new PlexusBpfError("vm: the pipeline is closed");
    const vm = this.vm;
    const run = this.#run;
    const mem = vm.mem;
    const len = frame.length;
    if (len < ETH_HLEN || XDP_PACKET_HEADROOM + len + XDP_TAILROOM > PACKET_CAPACITY) {
      this.#count("drop");
      return { action: "drop", retval: 0 };
    }
    const data = PACKET + XDP_PACKET_HEADROOM;
    mem.u8.set(frame, data);
    run.hardStart = PACKET;
    if (this.#xdp) {
      const frameSize = Math.max(4096, Math.ceil((XDP_PACKET_HEADROOM + len + XDP_TAILROOM) / 4096) * 4096);
      run.hardEnd = PACKET + frameSize - XDP_TAILROOM;
      mem.u32[(CTX + XdpMd.INGRESS_IFINDEX) >> 2] = ingressIfindex;
      mem.u32[(CTX + XdpMd.RX_QUEUE_INDEX) >> 2] = 0;
    } else {
      run.hardEnd = PACKET + PACKET_CAPACITY;
      run.mac = data;
      mem.u8.fill(0, CTX, CTX + SkBuff.SIZE);
      const eth = ethTypeTrans(frame, this.opts.deviceMac ?? new Uint8Array(6), BROADCAST);
      run.protocol = eth.protocol;
      const c = CTX >> 2;
      mem.u32[c + (SkBuff.PKT_TYPE >> 2)] = eth.pktType;
      mem.u32[c + (SkBuff.PROTOCOL >> 2)] = eth.protocol;
      mem.u32[c + (SkBuff.IFINDEX >> 2)] = ingressIfindex;
      mem.u32[c + (SkBuff.INGRESS_IFINDEX >> 2)] = ingressIfindex;
      mem.u32[c + (SkBuff.WIRE_LEN >> 2)] = len;
    }
    vm.setPacket(data, data, data + len);
    let retval: number;
    try {
      retval = vm.runInSession(run, this.#engine);
    } catch (e) {
      if (!(e instanceof VmFault)) throw e;
      this.faults.set(e.message, (this.faults.get(e.message) ?? 0) + 1);
      this.#count("error");
      return { action: "error", retval: 0, error: e };
    }
    const action = actionOf(this.prog.type, retval, run.redirect);
    this.#count(action);
    return {
      action,
      retval,
      ...(run.redirect ? { redirect: run.redirect } : {}),
      ...(run.clones.length ? { clones: run.clones } : {}),
    };
  }

  /**
   * The packet as the program left it (from data to data_end, with a VLAN tag the program pushed
   * into the skb's metadata): a view valid until the next packet.
   */
  get output(): Buffer {
    const r = this.#run;
    if (!this.#xdp && this.vm.mem.u32[(CTX + SkBuff.VLAN_PRESENT) >> 2]) return wireFrame(this.vm, r);
    return Buffer.from(this.vm.mem.memory.buffer, r.data, r.end - r.data);
  }

  #count(a: Action): void {
    this.counters.set(a, (this.counters.get(a) ?? 0) + 1);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.vm.closeSession(this.#run);
  }
}

export { TcAction, XdpAction };
