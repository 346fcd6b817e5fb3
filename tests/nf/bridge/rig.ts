// A bridge on real interfaces without the daemon: a namespace with one veth pair per port (b<i>
// is the port's interface, h<i> the host end), the framework's entry stub on every b<i> (XDP
// native or TCX), the bridge in a patch-panel slot, its control plane on a stand-in context, and
// a capture program on every h<i>. Frames are sent from h<i> with a packet socket and come back
// as the frames each host end received, tags included.
import { join } from "node:path";
import { attachTcx } from "../../../src/bpf/link/tcx.js";
import { attachXdp } from "../../../src/bpf/link/xdp.js";
import type { Link } from "../../../src/bpf/link/link.js";
import { BpfObject } from "../../../src/bpf/object/object.js";
import type { LoadedObject } from "../../../src/bpf/object/load.js";
import { RingBufferReader } from "../../../src/bpf/ringbuf/reader.js";
import { native } from "../../../src/bpf/sys/native.js";
import { projectRoot } from "../../../src/build/compile-bpf.js";
import {
  DROP_REASONS,
  Direction,
  dropIndex,
  encodeHop,
  ifaceKey,
  statsIndex,
  sumCounters,
  u32Key,
} from "../../../src/core/dataplane/abi.js";
import type { PortInfo } from "../../../src/core/nf-api.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { createNetns, deleteNetns, exec, ipBatch, run, withNetns } from "../../../src/testbed/netns.js";
import { NfTestRun } from "../../../src/testbed/nf-testrun.js";
import control from "../../../nf/bridge/control.js";
import { fixture } from "../../helpers/fixtures.js";
import { standInContext, type StandInContext } from "./context.js";

export type Hook = "xdp" | "tc";

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const SLOT = 3;

export const bridgeObject = (hook: Hook): string =>
  join(projectRoot, "nf", "bridge", "build", `bridge.${hook}.o`);
const stubObject = (hook: Hook): string => join(projectRoot, "nf", "framework", "build", `stub.${hook}.o`);

/** Framework counters of the bridge: packets per port and direction, drops per reason. */
export interface Counts {
  rx: number[];
  tx: number[];
  drops: number[];
}

export interface Captured {
  port: number;
  /** As it was on the wire: an 802.1Q tag the receiving stack had moved into the skb is put back. */
  frame: Buffer;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sockaddrLl(ifindex: number): Buffer {
  const a = Buffer.alloc(20);
  a.writeUInt16LE(AF_PACKET, 0);
  a.writeInt32LE(ifindex, 4);
  return a;
}

export class BridgeRig {
  private readonly links: Link[] = [];
  private readonly objects: LoadedObject[] = [];
  private readonly sockets: number[] = [];
  private reader?: RingBufferReader;
  private pending: Captured[] = [];
  t!: NfTestRun;
  ctx!: StandInContext;
  portCount = 0;
  /** ifindex of b<i> (the port's interface) and h<i> (the host end), in the rig namespace. */
  portIfindex: number[] = [];
  hostIfindex: number[] = [];

  private constructor(
    readonly hook: Hook,
    readonly ns: string,
    readonly bpffs: Bpffs,
  ) {}

  /** A bridge with one port per config (port i is named p<i>). */
  static async create(
    hook: Hook,
    portConfigs: Record<string, unknown>[],
    config: Record<string, unknown> = {},
  ): Promise<BridgeRig> {
    const bpffs = mountBpffs();
    let ns: string;
    try {
      ns = await createNetns("br");
    } catch (e) {
      bpffs.cleanup();
      throw e;
    }
    const rig = new BridgeRig(hook, ns, bpffs);
    try {
      await rig.build(portConfigs, config);
    } catch (e) {
      rig.close();
      throw e;
    }
    return rig;
  }

  private async build(
    portConfigs: Record<string, unknown>[],
    config: Record<string, unknown>,
  ): Promise<void> {
    const n = portConfigs.length;
    this.portCount = n;
    // No IPv6 on the rig's interfaces: router and neighbour solicitations would be flooded too.
    await exec(this.ns, "sysctl", [
      "-q",
      "-w",
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
    ]);
    await ipBatch(
      this.ns,
      // One pair more than ports: b<n> is the side entrance of sendAside().
      Array.from({ length: n + 1 }, (_, i) => [
        `link add b${i} type veth peer name h${i}`,
        `link set b${i} up`,
        `link set h${i} up`,
      ]).flat(),
    );
    // XDP redirects into a veth arrive only where the peer has NAPI (GRO on, or an XDP program).
    for (let i = 0; i <= n; i++) await exec(this.ns, "ethtool", ["-K", `h${i}`, "gro", "on"]);
    const { stdout } = await run("ip", ["-n", this.ns, "-j", "link", "show"]);
    const index = new Map(
      (JSON.parse(stdout) as { ifname: string; ifindex: number }[]).map((l) => [l.ifname, l.ifindex]),
    );
    this.portIfindex = Array.from({ length: n + 1 }, (_, i) => index.get(`b${i}`) as number);
    this.hostIfindex = Array.from({ length: n + 1 }, (_, i) => index.get(`h${i}`) as number);

    const stub = await BpfObject.open(stubObject(this.hook)).load({ pinRoot: this.bpffs.path });
    this.objects.push(stub);
    this.t = await NfTestRun.open(bridgeObject(this.hook), this.bpffs.path, {
      program: "bridge",
      slot: SLOT,
    });
    const capture = await BpfObject.open(await fixture("bridge_capture")).load();
    this.objects.push(capture);
    this.reader = new RingBufferReader(capture.map("cap_ring"));

    const ports: PortInfo[] = portConfigs.map((c, i) => ({
      name: `p${i}`,
      index: i,
      peer: { kind: "iface", ifname: `b${i}`, ifindex: this.portIfindex[i], mac: "" },
      floodIfindex: this.portIfindex[i],
      config: c,
    }));
    for (let i = 0; i < n; i++) {
      this.t
        .map("px_ifaces")
        .update(
          ifaceKey(this.portIfindex[i], Direction.RX),
          encodeHop({ kind: "slot", slot: SLOT, port: i, ifindex: 0 }),
        );
      this.t.connect(i, { kind: "iface", ifindex: this.portIfindex[i] });
    }
    withNetns(this.ns, () => {
      const entry = stub.program("px_entry");
      for (let i = 0; i <= n; i++) {
        this.links.push(
          this.hook === "xdp"
            ? attachXdp(entry, this.portIfindex[i], { mode: "native" })
            : attachTcx(entry, this.portIfindex[i], "ingress"),
        );
        this.links.push(attachTcx(capture.program("bridge_capture"), this.hostIfindex[i], "ingress"));
        const fd = native().socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        if (fd.ret < 0) throw new Error(`packet socket: errno ${fd.errno}`);
        this.sockets.push(fd.ret);
        const b = native().bind(fd.ret, sockaddrLl(this.hostIfindex[i]));
        if (b.ret < 0) throw new Error(`bind h${i}: errno ${b.errno}`);
      }
    });
    this.ctx = standInContext(this.t.loaded, { mode: this.hook, slot: SLOT, ports, config });
    // Devmap entries name interfaces of the caller's namespace, as the daemon's are in its own.
    await withNetns(this.ns, async () => control.init?.(this.ctx, false));
  }

  /** Replaces the ports' configuration (by index) and tells the control plane. */
  async configurePorts(configs: Record<number, Record<string, unknown>>): Promise<void> {
    this.ctx.setPorts(
      this.ctx.ports().map((p) => (configs[p.index] ? { ...p, config: configs[p.index] } : p)),
    );
    await withNetns(this.ns, async () => control.portsChanged?.(this.ctx));
  }

  /**
   * Sends a frame that enters the bridge at `port` without coming in through that port's
   * interface, as a frame from another instance does (by tail call, on whatever interface it
   * first arrived at).
   */
  sendAside(port: number, frame: Buffer): void {
    this.t
      .map("px_ifaces")
      .update(
        ifaceKey(this.portIfindex[this.portCount], Direction.RX),
        encodeHop({ kind: "slot", slot: SLOT, port, ifindex: 0 }),
      );
    this.send(this.portCount, frame);
  }

  /** Sends a frame into the bridge through port `port` (from its host end). */
  send(port: number, frame: Buffer): void {
    const r = native().sendto(this.sockets[port], frame, 0, null);
    if (r.ret !== frame.length) throw new Error(`send on h${port}: errno ${r.errno}`);
  }

  private drain(): void {
    this.reader?.drain((rec) => {
      const ifindex = rec.readUInt32LE(0);
      const port = this.hostIfindex.indexOf(ifindex);
      let f = Buffer.from(rec.subarray(24, 24 + rec.readUInt32LE(20)));
      if (rec.readUInt32LE(8)) {
        const t = Buffer.alloc(4);
        t.writeUInt16LE(rec.readUInt32LE(16) & 0xffff, 0); // vlan_proto is kept in network order
        t.writeUInt16BE(rec.readUInt32LE(12) & 0xffff, 2);
        f = Buffer.concat([f.subarray(0, 12), t, f.subarray(12)]);
      }
      this.pending.push({ port, frame: f });
    });
  }

  /**
   * Frames that left the bridge since the last call: waits until `expected` arrived (or a
   * timeout), then a little longer so that unexpected extra copies show up too. Sorted by port.
   */
  async capture(expected: number, settleMs = 60, timeoutMs = 2000): Promise<Captured[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.drain();
      if (this.pending.length >= expected || Date.now() > deadline) break;
      await sleep(5);
    }
    await sleep(settleMs);
    this.drain();
    const out = this.pending.sort((a, b) => a.port - b.port);
    this.pending = [];
    return out;
  }

  counts(): Counts {
    const stats = this.t.map("px_stats");
    const drops = this.t.map("px_drops");
    const packets = (port: number, dir: number) =>
      Number(sumCounters(stats.lookupPerCpu(u32Key(statsIndex(SLOT, port, dir))) ?? []).packets);
    const ports = Array.from({ length: this.portCount }, (_, i) => i);
    return {
      rx: ports.map((p) => packets(p, Direction.RX)),
      tx: ports.map((p) => packets(p, Direction.TX)),
      drops: Array.from({ length: DROP_REASONS }, (_, r) =>
        (drops.lookupPerCpu(u32Key(dropIndex(SLOT, r))) ?? []).reduce(
          (sum, v) => sum + Number(v.readBigUInt64LE(0)),
          0,
        ),
      ),
    };
  }

  /** Sends and returns what left the bridge. */
  async exchange(port: number, frame: Buffer, expected: number): Promise<Captured[]> {
    this.send(port, frame);
    return this.capture(expected);
  }

  close(): void {
    for (const fd of this.sockets.splice(0)) native().close(fd);
    this.reader?.close();
    for (const l of this.links.splice(0)) l.close();
    this.t?.close();
    for (const o of this.objects.splice(0)) o.close();
    deleteNetns(this.ns);
    this.bpffs.cleanup();
  }
}
