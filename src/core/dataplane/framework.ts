// The kernel side of the data-plane framework: its shared maps (pinned under the daemon's bpffs
// root), the entry stubs attached to host interfaces (links pinned so they outlive the daemon),
// the patch panels, and the injector that sends control-plane packets out of ports.
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { TestRunFlags } from "../../bpf/constants.js";
import { Link } from "../../bpf/link/link.js";
import { attach } from "../../bpf/link/attach.js";
import type { BpfMap } from "../../bpf/map/map.js";
import { BpfObject } from "../../bpf/object/object.js";
import type { LoadedObject } from "../../bpf/object/load.js";
import type { BpfProgram } from "../../bpf/prog/program.js";
import { possibleCpus } from "../../bpf/sys/cpus.js";
import { unpinPath } from "../../bpf/pin.js";
import { FRAMEWORK_DIR } from "../../build/build-nf.js";
import type { Hook, StubNeed } from "../topology.js";
import {
  DROP_REASONS,
  MAX_PORTS,
  decodeHop,
  encodeHop,
  ifaceKey,
  statsIndex,
  sumCounters,
  u32Key,
  type Counter,
  type Hop,
} from "./abi.js";

/** Names of the shared maps every object of the framework declares. */
export const SHARED_MAPS = [
  "px_patch_xdp",
  "px_patch_tc",
  "px_md",
  "px_ifaces",
  "px_ports",
  "px_after",
  "px_stats",
  "px_drops",
  "px_events",
  "px_scratch",
  "px_inject",
] as const;

/** XDP native, XDP generic, TCX ingress, TCX egress. */
type StubKind = "xdp" | "xdpg" | "tcin" | "tcout";

/** A stub attached to an interface: what kind, and the link holding it (pinned). */
interface StubAttachment {
  ifindex: number;
  kind: StubKind;
  link: Link;
}

const stubPin = (ifindex: number, kind: StubKind) => `if${ifindex}_${kind}`;

export class Framework {
  private readonly attached = new Map<string, StubAttachment>();

  private constructor(
    readonly root: string,
    private readonly objects: Record<Hook, LoadedObject>,
  ) {}

  /**
   * Loads the framework programs with the shared maps pinned under `root` (reused when pinned,
   * which is how a restarted daemon adopts the running data plane) and adopts pinned stub links,
   * moving them onto the freshly loaded stub programs.
   */
  static async open(root: string): Promise<Framework> {
    for (const d of [root, join(root, "links"), join(root, "instances")]) mkdirSync(d, { recursive: true });
    const load = (hook: Hook) =>
      BpfObject.open(join(FRAMEWORK_DIR, "build", `stub.${hook}.o`)).load({
        pinRoot: root,
        pinPolicy: "reuse",
      });
    const xdp = await load("xdp");
    let tc: LoadedObject;
    try {
      tc = await load("tc");
    } catch (e) {
      xdp.close();
      throw e;
    }
    const fw = new Framework(root, { xdp, tc });
    fw.adoptLinks();
    return fw;
  }

  /** A shared map (from the XDP stub object; both objects reuse the same pins). */
  map(name: (typeof SHARED_MAPS)[number]): BpfMap {
    return this.objects.xdp.maps.get(name) ?? this.objects.tc.map(name);
  }

  /** Shared maps to hand to instance objects (LoadOptions.replaceMaps). */
  sharedMaps(): Record<string, BpfMap> {
    return Object.fromEntries(SHARED_MAPS.map((n) => [n, this.map(n)]));
  }

  /** The framework's own programs (entry stubs, injector), for their run-time statistics. */
  programs(): { hook: Hook; name: string; program: BpfProgram }[] {
    return (["xdp", "tc"] as const).flatMap((hook) =>
      [...this.objects[hook].programs].map(([name, program]) => ({ hook, name, program })),
    );
  }

  private stubProgram(kind: StubKind): BpfProgram {
    if (kind === "xdp" || kind === "xdpg") return this.objects.xdp.program("px_entry");
    return this.objects.tc.program(kind === "tcin" ? "px_entry" : "px_entry_egress");
  }

  private adoptLinks(): void {
    const dir = join(this.root, "links");
    for (const name of readdirSync(dir)) {
      const m = /^if(\d+)_(xdp|xdpg|tcin|tcout)$/.exec(name);
      const path = join(dir, name);
      if (!m) continue;
      let link: Link;
      try {
        link = Link.openPinned(path);
      } catch {
        unpinPath(path);
        continue;
      }
      const info = link.info();
      if (!info.ifindex) {
        // The interface went away while we were down: the link is dead.
        link.close();
        unpinPath(path);
        continue;
      }
      const kind = m[2] as StubKind;
      link.update(this.stubProgram(kind));
      this.attached.set(name, { ifindex: Number(m[1]), kind, link });
    }
  }

  /** Makes the stubs attached to interfaces exactly `needs` (attaching, moving, detaching). */
  reconcileStubs(needs: ReadonlyMap<number, StubNeed>): void {
    const want = new Map<string, { ifindex: number; kind: StubKind }>();
    const add = (ifindex: number, kind: StubKind) => want.set(stubPin(ifindex, kind), { ifindex, kind });
    for (const [ifindex, n] of needs) {
      if (n.xdp) add(ifindex, n.xdp === "generic" ? "xdpg" : "xdp");
      if (n.tcIngress) add(ifindex, "tcin");
      if (n.tcEgress) add(ifindex, "tcout");
    }
    // Detach first: an interface moving between XDP modes needs its old link gone.
    for (const name of [...this.attached.keys()]) if (!want.has(name)) this.detachStub(name);
    for (const [name, w] of want) {
      if (this.attached.has(name)) continue;
      const hook =
        w.kind === "xdp" || w.kind === "xdpg"
          ? ({ kind: "xdp", mode: w.kind === "xdp" ? "native" : "generic" } as const)
          : ({ kind: "tc", direction: w.kind === "tcin" ? "ingress" : "egress" } as const);
      const a = attach(this.stubProgram(w.kind), w.ifindex, hook, { backend: "link" });
      const link = a.link as Link;
      link.pin(join(this.root, "links", name));
      this.attached.set(name, { ...w, link });
    }
  }

  private detachStub(name: string): void {
    const a = this.attached.get(name);
    if (!a) return;
    this.attached.delete(name);
    try {
      a.link.detach();
    } catch {
      // already gone with its interface
    }
    unpinPath(join(this.root, "links", name));
    a.link.close();
  }

  /** Interfaces that currently carry stubs (for reporting). */
  stubs(): { ifindex: number; kind: StubKind; linkId: number }[] {
    return [...this.attached.values()].map((a) => ({ ifindex: a.ifindex, kind: a.kind, linkId: a.link.id }));
  }

  // ---- tables ----

  setIface(ifindex: number, dir: number, hop: Hop): void {
    this.map("px_ifaces").update(ifaceKey(ifindex, dir), encodeHop(hop));
  }

  deleteIface(ifindex: number, dir: number): void {
    this.map("px_ifaces").delete(ifaceKey(ifindex, dir));
  }

  /** Every px_ifaces entry, as `${ifindex}/${dir}` -> hop. */
  ifaceEntries(): Map<string, Hop> {
    const out = new Map<string, Hop>();
    for (const [k, v] of this.map("px_ifaces").entries())
      out.set(`${k.readUInt32LE(0)}/${k.readUInt32LE(4)}`, decodeHop(v));
    return out;
  }

  setPort(index: number, hop: Hop): void {
    this.map("px_ports").update(u32Key(index), encodeHop(hop));
  }

  setAfter(slot: number, hop: Hop): void {
    this.map("px_after").update(u32Key(slot), encodeHop(hop));
  }

  /** Puts an instance program into its hook's patch panel (atomic: packets see old or new). */
  install(slot: number, hook: Hook, prog: BpfProgram): void {
    this.map(hook === "xdp" ? "px_patch_xdp" : "px_patch_tc").update(u32Key(slot), u32Key(prog.fd));
  }

  uninstall(slot: number, hook: Hook): void {
    this.map(hook === "xdp" ? "px_patch_xdp" : "px_patch_tc").delete(u32Key(slot));
  }

  /** Clears a slot's framework state (ports, counters) so the next instance there starts clean. */
  resetSlot(slot: number): void {
    const cpus = possibleCpus();
    const ports = Array.from({ length: MAX_PORTS }, (_, p) => u32Key(slot * MAX_PORTS + p));
    this.map("px_ports").updateBatch(ports, Buffer.alloc(ports.length * 16));
    const stats = Array.from({ length: MAX_PORTS * 2 }, (_, i) => u32Key(slot * MAX_PORTS * 2 + i));
    this.map("px_stats").updateBatch(stats, Buffer.alloc(stats.length * cpus * 24));
    const drops = Array.from({ length: DROP_REASONS }, (_, r) => u32Key(slot * DROP_REASONS + r));
    this.map("px_drops").updateBatch(drops, Buffer.alloc(drops.length * cpus * 8));
    this.map("px_after").update(u32Key(slot), encodeHop({ kind: "drop" }));
  }

  // ---- counters ----

  /** Adds control-plane drops to a slot's per-reason counters (on CPU 0's slot of the per-CPU value). */
  countDrop(slot: number, reason: number, packets: number): void {
    if (!Number.isInteger(reason) || reason < 0 || reason >= DROP_REASONS)
      throw new RangeError(`drop reason ${reason} is not 0..15`);
    const m = this.map("px_drops");
    const key = u32Key(slot * DROP_REASONS + reason);
    const values = m.lookupPerCpu(key) ?? Array.from({ length: possibleCpus() }, () => Buffer.alloc(8));
    values[0].writeBigUInt64LE(values[0].readBigUInt64LE(0) + BigInt(packets));
    m.updatePerCpu(key, values);
  }

  portCounters(slot: number, port: number, dir: number): Counter {
    return sumCounters(this.map("px_stats").lookupPerCpu(u32Key(statsIndex(slot, port, dir))) ?? []);
  }

  dropCounters(slot: number): bigint[] {
    const m = this.map("px_drops");
    return Array.from({ length: DROP_REASONS }, (_, r) =>
      (m.lookupPerCpu(u32Key(slot * DROP_REASONS + r)) ?? []).reduce((s, v) => s + v.readBigUInt64LE(0), 0n),
    );
  }

  // ---- slow path out ----

  /** Sends a frame along `hop` (charged as TX of slot/port when slot > 0) with a live-frames run. */
  inject(frame: Uint8Array, hop: Hop, slot = 0, port = 0): void {
    const req = Buffer.alloc(24);
    encodeHop(hop, req, 0);
    req.writeUInt32LE(slot, 16);
    req.writeUInt32LE(port, 20);
    this.map("px_inject").updatePerCpu(
      u32Key(0),
      Array.from({ length: possibleCpus() }, () => req),
    );
    this.objects.xdp
      .program("px_injector")
      .testRun({ data: frame, repeat: 1, flags: TestRunFlags.XDP_LIVE_FRAMES });
  }

  /** Detaches nothing: the data plane keeps forwarding. Closes this process's handles only. */
  close(): void {
    for (const a of this.attached.values()) a.link.close();
    this.attached.clear();
    this.objects.xdp.close();
    this.objects.tc.close();
  }

  /** Tears the data plane down: detaches every stub and removes every pin under the root. */
  destroy(): void {
    for (const name of [...this.attached.keys()]) this.detachStub(name);
    this.close();
  }

  /** Whether a framework was set up under `root` before (a restart, not a first start). */
  static existsAt(root: string): boolean {
    return existsSync(join(root, "px_ifaces"));
  }
}
