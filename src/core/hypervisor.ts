// The hypervisor: owns the desired state and the kernel objects that realise it. Every change is
// one transaction: validated on a copy of the state, realised in the kernel (new programs loaded
// first, then the framework's tables), saved, and only then made visible; a failure undoes the
// kernel steps and leaves state and data plane as they were. Changes run one at a time.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pino, type Logger } from "pino";
import { interfaceMac } from "../bpf/netlink/interfaces.js";
import { isBpffs } from "../bpf/pin.js";
import { native } from "../bpf/sys/native.js";
import { RingBufferReader } from "../bpf/ringbuf/index.js";
import { Direction, FRAMEWORK_DROP_NAMES, decodeEvent, type Counter, type Hop } from "./dataplane/abi.js";
import { Framework } from "./dataplane/framework.js";
import { ConflictError, NotFoundError, PlexusError, ValidationError } from "./errors.js";
import { EventLog } from "./events.js";
import { StatsService } from "./stats/service.js";
import { InstanceRuntime, type InstanceHost } from "./instance.js";
import type { HookMode, PortInfo, PortPeer } from "./nf-api.js";
import { schemaErrors, withDefaults } from "./nf/manifest.js";
import type { NfPackage } from "./nf/package.js";
import { NfRegistry } from "./nf/registry.js";
import {
  StateStore,
  type AttachDirection,
  type DesiredState,
  type InstanceState,
  type Peer,
} from "./state.js";
import { TableCodec, layoutFields, rawFields } from "./tables.js";
import { computeTables, hookOf, linkVethNames, portKey, type KernelTables } from "./topology.js";

export interface HypervisorOptions {
  /** Where the desired state and installed NF packages live. */
  stateDir: string;
  /** A directory on a bpffs (mounted there if it is not one); plexus pins under <bpffs>/plexus. */
  bpffs: string;
  logger?: Logger;
  /** Built-in NF packages (default: the project's nf/). */
  builtinNfDir?: string;
}

export interface PortView {
  name: string;
  index: number;
  /** "eth0" (a host interface) or "r1:west" (another instance's port). */
  peer?: string;
  config: Record<string, unknown>;
  rx: Counter;
  tx: Counter;
}

export interface InstanceView {
  name: string;
  type: string;
  version: string;
  kind: "standard" | "transparent";
  mode: HookMode;
  slot: number;
  config: Record<string, unknown>;
  ports: PortView[];
  attachment?: { target: string; direction: AttachDirection; position: number };
  tables: string[];
  drops: Record<string, string>;
}

export interface CreateInstanceRequest {
  name: string;
  type: string;
  version?: string;
  mode?: HookMode;
  config?: Record<string, unknown>;
  ports?: { name: string; peer?: string; config?: Record<string, unknown> }[];
}

/** Where a transparent instance joins a chain; `position` is an absolute order (declarative apply). */
export type AttachPosition =
  { first: true } | { last: true } | { before: string } | { after: string } | { position: number };

/** A table's fields as the API shows them: key fields first (the first one is the CLI's positional). */
export interface TableInfo {
  name: string;
  description?: string;
  /** Whether entries can be added and deleted. */
  writable: boolean;
  key: { name: string; format: string }[];
  value: { name: string; format: string }[];
}

/** How a configuration change applies: merged into the current one (default) or replacing it. */
export interface ConfigureOptions {
  replace?: boolean;
}

/** "eth0" -> interface, "r1:west" -> instance port. */
export function parsePeer(text: string): Peer {
  const m = /^([^:]+):([^:]+)$/.exec(text);
  if (m) return { instance: m[1], port: m[2] };
  if (!/^[^\s/:]{1,15}$/.test(text))
    throw new ValidationError(`'${text}' is neither an interface name nor INSTANCE:PORT`);
  return { iface: text };
}

export const peerText = (p: Peer): string => ("iface" in p ? p.iface : `${p.instance}:${p.port}`);

class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Kernel steps of one change: undone on failure, or followed by `after` steps on success. */
class Plan {
  private readonly undos: (() => unknown)[] = [];
  private readonly afters: (() => unknown)[] = [];
  undo(fn: () => unknown): void {
    this.undos.push(fn);
  }
  /** Whether the change got as far as the kernel (a refusal before that undoes nothing). */
  get touchedKernel(): boolean {
    return this.undos.length > 0;
  }
  after(fn: () => unknown): void {
    this.afters.push(fn);
  }
  async rollback(log: Logger): Promise<void> {
    for (const u of this.undos.reverse()) {
      try {
        await u();
      } catch (e) {
        log.error({ err: e }, "rollback step failed");
      }
    }
  }
  async commit(log: Logger): Promise<void> {
    for (const a of this.afters) {
      try {
        await a();
      } catch (e) {
        log.error({ err: e }, "post-commit step failed");
      }
    }
  }
}

export class Hypervisor {
  readonly events = new EventLog();
  /** Called with each px_events record that is not a slow-path packet (per-packet trace records). */
  readonly traceReaders = new Set<(rec: Uint8Array) => void>();
  /** Counters, rates, program statistics and table usage (sampled by the daemon). */
  readonly stats: StatsService = new StatsService(this);
  private readonly runtimes = new Map<string, InstanceRuntime>();
  private readonly lock = new Mutex();
  private tables: KernelTables | undefined;
  private reader: RingBufferReader | undefined;
  private stopping = false;
  /** What instances see of the hypervisor. */
  private readonly host: InstanceHost;

  private constructor(
    readonly framework: Framework,
    readonly registry: NfRegistry,
    private readonly store: StateStore,
    private state: DesiredState,
    readonly log: Logger,
  ) {
    this.host = {
      framework,
      ports: (instance) => this.portInfos(instance),
      send: (instance, port, frame) => this.send(instance, port, frame),
      event: (kind, message, instance, data) => void this.events.emit(kind, message, { instance, data }),
      log,
    };
  }

  /** Opens (or adopts) the data plane under the bpffs, restores the desired state, reconciles. */
  static async start(opts: HypervisorOptions): Promise<Hypervisor> {
    const log = opts.logger ?? pino({ level: "silent" });
    ensureBpffs(opts.bpffs);
    mkdirSync(opts.stateDir, { recursive: true });
    const registry = new NfRegistry(join(opts.stateDir, "nfs"));
    registry.load(opts.builtinNfDir);
    for (const p of registry.problems)
      log.warn({ dir: p.dir }, `network-function package not loaded: ${p.error}`);
    const root = join(opts.bpffs, "plexus");
    const adopting = Framework.existsAt(root);
    const framework = await Framework.open(root);
    const store = new StateStore(join(opts.stateDir, "state.json"));
    const hv = new Hypervisor(framework, registry, store, store.load(), log);
    try {
      await hv.restore(adopting);
    } catch (e) {
      hv.stop();
      throw e;
    }
    hv.startSlowPath();
    hv.stats.start();
    return hv;
  }

  /** Loads every instance of the saved state (reusing pinned maps) and rebuilds the tables. */
  private async restore(adopting: boolean): Promise<void> {
    for (const [name, st] of Object.entries(this.state.instances)) {
      const pkg = this.registry.get(st.type, st.version);
      const rt = await InstanceRuntime.load(this.host, name, st, pkg, st.object);
      rt.install();
      this.runtimes.set(name, rt);
    }
    this.ensureVeths(this.state);
    this.removeStaleVeths(this.state);
    this.applyTables(this.state, true);
    for (const [name, rt] of this.runtimes) {
      await this.restoreTableEntries(name);
      await rt.init(adopting);
      await this.notifyPorts(name);
    }
    const n = this.runtimes.size;
    if (adopting)
      this.events.emit(
        "daemon.adopted",
        `adopted the running data plane (${n} instance${n === 1 ? "" : "s"})`,
      );
    else this.events.emit("daemon.started", `started with ${n} instance${n === 1 ? "" : "s"}`);
  }

  /** Stops this process (timers, slow path, handles); the data plane keeps forwarding. */
  stop(): void {
    this.stopping = true;
    this.stats.stop();
    this.reader?.close();
    for (const rt of this.runtimes.values()) rt.close();
    this.framework.close();
  }

  /** Removes every instance, link veth and stub: the data plane is gone (tests, uninstall). */
  async destroy(): Promise<void> {
    for (const name of Object.keys(this.state.instances)) await this.deleteInstance(name);
    this.stopping = true;
    this.stats.stop();
    this.reader?.close();
    this.framework.destroy();
  }

  // ---- the host side of instances ----

  private portInfos(instance: string): PortInfo[] {
    const st = this.state.instances[instance];
    if (!st) return [];
    return Object.entries(st.ports)
      .map(([name, p]): PortInfo => {
        let peer: PortPeer | undefined;
        if (p.peer && "iface" in p.peer) {
          const ifindex = native().ifNameToIndex(p.peer.iface);
          peer = { kind: "iface", ifname: p.peer.iface, ifindex, mac: macOf(p.peer.iface) };
        } else if (p.peer) peer = { kind: "port", instance: p.peer.instance, port: p.peer.port };
        return {
          name,
          index: p.index,
          peer,
          floodIfindex: this.tables?.floodIfindex.get(portKey(instance, name)),
          config: p.config,
        };
      })
      .sort((a, b) => a.index - b.index);
  }

  /** Sends a frame out of an instance's port through the injector. */
  send(instance: string, port: string | number, frame: Uint8Array): void {
    const st = this.instanceState(instance);
    const [name, p] = Object.entries(st.ports).find(([n, x]) => n === port || x.index === port) ?? [];
    if (!name || !p) throw new NotFoundError(`${instance} has no port ${port}`);
    let hop: Hop = this.tables?.ports.get(st.slot * 128 + p.index) ?? { kind: "drop" };
    if (hop.kind === "drop") throw new ValidationError(`${instance}:${name} is not connected`);
    // The injector is an XDP program: it can tail call XDP instances only; TC ones via the veth.
    if (hop.kind === "slot") {
      const owner = Object.values(this.state.instances).find(
        (i) => i.slot === (hop as { slot: number }).slot,
      );
      if (owner && hookOf(owner.mode) !== "xdp") hop = { kind: "iface", ifindex: hop.ifindex };
    }
    this.framework.inject(frame, hop, st.slot, p.index);
  }

  private startSlowPath(): void {
    this.reader = new RingBufferReader(this.framework.map("px_events"));
    const reader = this.reader;
    void (async () => {
      try {
        for await (const rec of reader) {
          const ev = decodeEvent(rec);
          if (!ev) {
            // Per-packet trace records share the ring: their readers decode them (synchronously).
            for (const fn of this.traceReaders) fn(rec);
            continue;
          }
          const rt = [...this.runtimes.values()].find((r) => r.state.slot === ev.slot);
          if (!rt?.control.packet) continue;
          try {
            await rt.control.packet(rt.context, {
              port: ev.port,
              reason: ev.reason,
              user: ev.user,
              length: ev.length,
              data: ev.data,
              timestampNs: ev.timestampNs,
            });
          } catch (e) {
            rt.context.log.error({ err: e }, "slow-path handler failed");
          }
        }
      } catch (e) {
        if (!this.stopping) this.log.error({ err: e }, "slow-path reader stopped");
      }
    })();
  }

  // ---- kernel realisation ----

  /** Interface indexes in the daemon's network namespace. */
  private readonly env = {
    ifindex: (name: string): number | undefined => native().ifNameToIndex(name) || undefined,
  };

  /** Creates the link veth pairs the state needs and removes the ones it no longer does. */
  private ensureVeths(state: DesiredState, plan?: Plan): void {
    const want = new Set<number>();
    for (const i of Object.values(state.instances))
      for (const p of Object.values(i.ports)) if (p.link !== undefined) want.add(p.link);
    for (const id of want) {
      const { a, b } = linkVethNames(id);
      if (native().ifNameToIndex(a) > 0) continue;
      ip(["link", "add", a, "type", "veth", "peer", "name", b]);
      plan?.undo(() => ip(["link", "del", a]));
      for (const dev of [a, b]) {
        // No IPv6 on link veths: they must not send their own router solicitations into a topology.
        writeFileSync(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, "1");
        ip(["link", "set", dev, "up"]);
      }
      // GRO gives each end NAPI, so XDP redirects into the veth are delivered; it only takes
      // effect on an interface that is already up.
      // VLAN tags go inline: a tag a TC program leaves in the skb would not reach an XDP program
      // on the other end.
      for (const dev of [a, b])
        execFileSync("ethtool", ["-K", dev, "gro", "on", "txvlan", "off"], { stdio: "pipe" });
    }
  }

  private removeStaleVeths(state: DesiredState): void {
    const want = new Set<number>();
    for (const i of Object.values(state.instances))
      for (const p of Object.values(i.ports)) if (p.link !== undefined) want.add(p.link);
    const out = execFileSync("ip", ["-j", "link", "show"], { encoding: "utf8" });
    for (const l of JSON.parse(out) as { ifname: string }[]) {
      const m = /^pxl(\d+)a$/.exec(l.ifname);
      if (m && !want.has(Number(m[1]))) ip(["link", "del", l.ifname]);
    }
  }

  /** Makes the framework's tables and stubs match `state`. Idempotent. */
  private applyTables(state: DesiredState, tolerant: boolean): void {
    const env = this.env;
    let t: KernelTables;
    if (tolerant) {
      // At start, an interface that went away must not stop the daemon: its ports go down.
      const copy = structuredClone(state);
      for (const [name, i] of Object.entries(copy.instances))
        for (const [pname, p] of Object.entries(i.ports))
          if (p.peer && "iface" in p.peer && env.ifindex(p.peer.iface) === undefined) {
            this.events.emit("port.down", `${name}:${pname}: interface ${p.peer.iface} is gone`, {
              instance: name,
            });
            delete p.peer;
          }
      t = computeTables(copy, env);
    } else t = computeTables(state, env);
    const fw = this.framework;
    for (const [index, hop] of t.ports) fw.setPort(index, hop);
    for (const [slot, hop] of t.after) fw.setAfter(slot, hop);
    const current = fw.ifaceEntries();
    for (const e of t.ifaces.values()) fw.setIface(e.ifindex, e.dir, e.hop);
    for (const k of current.keys())
      if (!t.ifaces.has(k)) {
        const [ifindex, dir] = k.split("/").map(Number);
        fw.deleteIface(ifindex, dir);
      }
    fw.reconcileStubs(t.stubs);
    this.tables = t;
  }

  /**
   * Runs one change: `fn` edits a copy of the desired state (and may load programs through the
   * plan); then link veths and tables are realised, the state saved, and `after` steps run.
   */
  private transaction<T>(fn: (draft: DesiredState, plan: Plan) => Promise<T> | T): Promise<T> {
    return this.lock.run(async () => {
      const before = this.state;
      const draft = structuredClone(before);
      const plan = new Plan();
      let result: T;
      try {
        result = await fn(draft, plan);
        this.ensureVeths(draft, plan);
        this.applyTables(draft, false);
        this.store.save(draft);
      } catch (e) {
        await plan.rollback(this.log);
        try {
          this.applyTables(before, true);
        } catch (e2) {
          this.log.error({ err: e2 }, "restoring the tables after a failed change failed");
        }
        if (plan.touchedKernel)
          this.events.emit(
            "change.rolled_back",
            `a change failed half-way and was undone: ${(e as Error).message}`,
          );
        throw e;
      }
      this.state = draft;
      await plan.commit(this.log);
      const kept = linkIds(draft);
      for (const id of linkIds(before)) if (!kept.has(id)) ip(["link", "del", linkVethNames(id).a]);
      return result;
    });
  }

  // ---- queries ----

  private instanceState(name: string, state = this.state): InstanceState {
    const st = state.instances[name];
    if (!st)
      throw new NotFoundError(
        `no instance '${name}' (instances: ${Object.keys(state.instances).sort().join(", ") || "none"})`,
      );
    return st;
  }

  /** An instance's loaded objects and control plane, if it runs (observability reads them). */
  instanceRuntime(name: string): InstanceRuntime | undefined {
    return this.runtimes.get(name);
  }

  private runtime(name: string): InstanceRuntime {
    const rt = this.runtimes.get(name);
    if (!rt) throw new NotFoundError(`no instance '${name}'`);
    return rt;
  }

  listInstances(): InstanceView[] {
    return Object.keys(this.state.instances)
      .sort()
      .map((n) => this.getInstance(n));
  }

  getInstance(name: string): InstanceView {
    const st = this.instanceState(name);
    const pkg = this.registry.get(st.type, st.version);
    const drops: Record<string, string> = {};
    this.framework.dropCounters(st.slot).forEach((v, r) => {
      if (v > 0n)
        drops[pkg.manifest.dropReasons?.[String(r)] ?? FRAMEWORK_DROP_NAMES[r] ?? `reason${r}`] =
          v.toString();
    });
    return {
      name,
      type: st.type,
      version: st.version,
      kind: pkg.manifest.kind,
      mode: st.mode,
      slot: st.slot,
      config: st.config,
      ports: Object.entries(st.ports)
        .sort((a, b) => a[1].index - b[1].index)
        .map(([pname, p]) => ({
          name: pname,
          index: p.index,
          ...(p.peer ? { peer: peerText(p.peer) } : {}),
          config: p.config,
          rx: this.framework.portCounters(st.slot, p.index, Direction.RX),
          tx: this.framework.portCounters(st.slot, p.index, Direction.TX),
        })),
      ...(st.attachment
        ? {
            attachment: {
              target: peerText(st.attachment.target),
              direction: st.attachment.direction,
              position: st.attachment.position,
            },
          }
        : {}),
      tables: Object.keys(pkg.manifest.tables ?? {}),
      drops,
    };
  }

  /** Counters of a transparent instance live on its port 0. */
  instanceCounters(name: string): { rx: Counter; tx: Counter } {
    const st = this.instanceState(name);
    return {
      rx: this.framework.portCounters(st.slot, 0, Direction.RX),
      tx: this.framework.portCounters(st.slot, 0, Direction.TX),
    };
  }

  desiredState(): DesiredState {
    return structuredClone(this.state);
  }

  // ---- instances ----

  private validateConfig(
    pkg: NfPackage,
    config: Record<string, unknown>,
    what: string,
  ): Record<string, unknown> {
    const schema = pkg.manifest.config;
    const full = withDefaults(schema, config);
    if (schema) {
      const errors = schemaErrors({ additionalProperties: false, ...schema }, full);
      if (errors.length) throw new ValidationError(`${what}: ${errors.join("; ")}`);
    } else if (Object.keys(config).length)
      throw new ValidationError(`${what}: ${pkg.name} takes no configuration`);
    return full;
  }

  private validatePortConfig(
    pkg: NfPackage,
    config: Record<string, unknown>,
    what: string,
  ): Record<string, unknown> {
    const schema = pkg.manifest.portConfig;
    const full = withDefaults(schema, config);
    if (schema) {
      const errors = schemaErrors({ additionalProperties: false, ...schema }, full);
      if (errors.length) throw new ValidationError(`${what}: ${errors.join("; ")}`);
    } else if (Object.keys(config).length)
      throw new ValidationError(`${what}: ${pkg.name} ports take no configuration`);
    return full;
  }

  private freeSlot(state: DesiredState): number {
    const used = new Set(Object.values(state.instances).map((i) => i.slot));
    for (let s = 1; s < 256; s++) if (!used.has(s)) return s;
    throw new ConflictError("all 255 instance slots are in use; delete an instance first");
  }

  /** Adds a port to a draft (validated), without kernel work. */
  private draftAddPort(
    draft: DesiredState,
    instance: string,
    port: string,
    peer: string | undefined,
    config: Record<string, unknown>,
  ): void {
    const st = this.instanceState(instance, draft);
    const pkg = this.registry.get(st.type, st.version);
    if (pkg.manifest.kind === "transparent")
      throw new ValidationError(
        `${instance} is a transparent ${st.type}: it has no ports; attach it instead`,
      );
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,14}$/.test(port))
      throw new ValidationError(`port name '${port}': use letters, digits, '-' and '_' (at most 15)`);
    if (st.ports[port]) throw new ConflictError(`${instance} already has a port '${port}'`);
    const max = pkg.manifest.maxPorts ?? 128;
    const used = new Set(Object.values(st.ports).map((p) => p.index));
    if (used.size >= max)
      throw new ConflictError(
        `${instance} already has ${max} port${max === 1 ? "" : "s"}, the most a ${st.type} can have`,
      );
    let index = 0;
    while (used.has(index)) index++;
    st.ports[port] = { index, config: this.validatePortConfig(pkg, config, `${instance}:${port} config`) };
    if (peer !== undefined) this.draftConnect(draft, instance, port, parsePeer(peer));
  }

  private draftConnect(draft: DesiredState, instance: string, port: string, peer: Peer): void {
    const st = this.instanceState(instance, draft);
    const p = st.ports[port];
    if (!p) throw new NotFoundError(`${instance} has no port '${port}'`);
    if (p.peer)
      throw new ConflictError(
        `${instance}:${port} is already connected to ${peerText(p.peer)}; disconnect it first`,
      );
    if ("iface" in peer) {
      if (/^pxl\d+[ab]$/.test(peer.iface))
        throw new ValidationError(
          `${peer.iface} is a plexus link interface; connect to the instance port instead`,
        );
      if (native().ifNameToIndex(peer.iface) === 0)
        throw new NotFoundError(
          `interface '${peer.iface}' does not exist in the daemon's network namespace (check ip link)`,
        );
      for (const [n, i] of Object.entries(draft.instances))
        for (const [pn, q] of Object.entries(i.ports))
          if (q.peer && "iface" in q.peer && q.peer.iface === peer.iface)
            throw new ConflictError(`interface ${peer.iface} is already connected to ${n}:${pn}`);
      p.peer = peer;
      return;
    }
    const other = this.instanceState(peer.instance, draft);
    const q = other.ports[peer.port];
    if (!q) throw new NotFoundError(`${peer.instance} has no port '${peer.port}'`);
    if (peer.instance === instance && peer.port === port)
      throw new ValidationError(`cannot connect ${instance}:${port} to itself`);
    if (q.peer)
      throw new ConflictError(
        `${peer.instance}:${peer.port} is already connected to ${peerText(q.peer)}; disconnect it first`,
      );
    const link = draft.nextLinkId++;
    p.peer = peer;
    p.link = link;
    q.peer = { instance, port };
    q.link = link;
  }

  private draftDisconnect(draft: DesiredState, instance: string, port: string): void {
    const p = this.instanceState(instance, draft).ports[port];
    if (!p) throw new NotFoundError(`${instance} has no port '${port}'`);
    if (!p.peer) throw new ValidationError(`${instance}:${port} is not connected`);
    if ("instance" in p.peer) {
      const q = draft.instances[p.peer.instance]?.ports[p.peer.port];
      if (q) {
        delete q.peer;
        delete q.link;
      }
    }
    delete p.peer;
    delete p.link;
  }

  async createInstance(req: CreateInstanceRequest): Promise<InstanceView> {
    await this.transaction(async (draft, plan) => {
      if (!/^[a-zA-Z][a-zA-Z0-9_-]{0,31}$/.test(req.name))
        throw new ValidationError(
          `instance name '${req.name}': start with a letter; letters, digits, '-' and '_' (at most 32)`,
        );
      if (draft.instances[req.name])
        throw new ConflictError(`an instance named '${req.name}' exists already`);
      const pkg = this.registry.get(req.type, req.version);
      const mode = req.mode ?? "tc";
      if (!pkg.supports(hookOf(mode)))
        throw new ValidationError(
          `${pkg.name} cannot run in ${mode} mode (it supports ${pkg.hooks.join(", ")})`,
        );
      const slot = this.freeSlot(draft);
      draft.instances[req.name] = {
        type: pkg.name,
        version: pkg.version,
        mode,
        config: this.validateConfig(pkg, req.config ?? {}, `${req.name} config`),
        ports: {},
        tables: {},
        slot,
      };
      for (const p of req.ports ?? []) this.draftAddPort(draft, req.name, p.name, p.peer, p.config ?? {});
      const st = draft.instances[req.name];
      this.framework.resetSlot(slot);
      const rt = await InstanceRuntime.load(this.host, req.name, st, pkg);
      plan.undo(() => rt.destroy());
      rt.install();
      plan.after(async () => {
        rt.state = this.state.instances[req.name];
        this.runtimes.set(req.name, rt);
        await rt.init(false);
        await this.notifyPorts(req.name);
        // Instances its new ports were connected to see their port's peer change too.
        const peers = Object.values(this.state.instances[req.name].ports).flatMap((p) =>
          p.peer && "instance" in p.peer ? [p.peer.instance] : [],
        );
        for (const n of new Set(peers)) await this.notifyPorts(n);
        this.events.emit(
          "instance.created",
          `created ${pkg.name} ${pkg.version} instance ${req.name} (${mode}, slot ${slot})`,
          { instance: req.name },
        );
      });
    });
    return this.getInstance(req.name);
  }

  async deleteInstance(name: string): Promise<void> {
    await this.transaction((draft, plan) => {
      this.instanceState(name, draft);
      const rt = this.runtime(name);
      // Disconnect its peers and detach what is attached to its ports.
      for (const [pname, p] of Object.entries(draft.instances[name].ports))
        if (p.peer) this.draftDisconnect(draft, name, pname);
      const detached: string[] = [];
      for (const [n, i] of Object.entries(draft.instances))
        if (i.attachment && "instance" in i.attachment.target && i.attachment.target.instance === name) {
          delete i.attachment;
          detached.push(n);
        }
      delete draft.instances[name];
      plan.after(async () => {
        this.runtimes.delete(name);
        await rt.destroy();
        this.events.emit(
          "instance.deleted",
          `deleted ${name}${detached.length ? ` (detached ${detached.join(", ")})` : ""}`,
          { instance: name },
        );
        for (const n of this.peersOf(name)) await this.notifyPorts(n);
      });
    });
  }

  private peersOf(name: string): string[] {
    return Object.keys(this.state.instances).filter((n) => n !== name);
  }

  async configureInstance(
    name: string,
    patch: Record<string, unknown>,
    opts: ConfigureOptions = {},
  ): Promise<InstanceView> {
    await this.transaction((draft, plan) => {
      const st = this.instanceState(name, draft);
      const pkg = this.registry.get(st.type, st.version);
      const next = opts.replace ? patch : { ...st.config, ...patch };
      st.config = this.validateConfig(pkg, next, `${name} config`);
      plan.after(async () => {
        const rt = this.runtime(name);
        rt.state = this.state.instances[name];
        await rt.control.configure?.(rt.context, rt.state.config);
        this.events.emit("instance.configured", `configured ${name}: ${Object.keys(patch).join(", ")}`, {
          instance: name,
          data: patch,
        });
      });
    });
    return this.getInstance(name);
  }

  // ---- ports and links ----

  async addPort(
    instance: string,
    port: string,
    opts: { peer?: string; config?: Record<string, unknown> } = {},
  ): Promise<PortView> {
    await this.transaction((draft, plan) => {
      this.draftAddPort(draft, instance, port, opts.peer, opts.config ?? {});
      plan.after(() =>
        this.afterPortChange(
          [instance, ...this.linkedInstances(instance, port)],
          `added port ${instance}:${port}${opts.peer ? ` -> ${opts.peer}` : ""}`,
          "port.added",
          instance,
        ),
      );
    });
    return this.portView(instance, port);
  }

  private linkedInstances(instance: string, port: string): string[] {
    const p = this.state.instances[instance]?.ports[port];
    return p?.peer && "instance" in p.peer ? [p.peer.instance] : [];
  }

  private async afterPortChange(
    instances: string[],
    message: string,
    kind: string,
    instance: string,
  ): Promise<void> {
    for (const n of new Set(instances)) {
      const rt = this.runtimes.get(n);
      if (rt) rt.state = this.state.instances[n];
      await this.notifyPorts(n);
    }
    this.events.emit(kind, message, { instance });
  }

  private async notifyPorts(name: string): Promise<void> {
    const rt = this.runtimes.get(name);
    if (!rt?.control.portsChanged) return;
    try {
      await rt.control.portsChanged(rt.context);
    } catch (e) {
      rt.context.log.error({ err: e }, "portsChanged failed");
    }
  }

  portView(instance: string, port: string): PortView {
    const p = this.getInstance(instance).ports.find((x) => x.name === port);
    if (!p) throw new NotFoundError(`${instance} has no port '${port}'`);
    return p;
  }

  async deletePort(instance: string, port: string): Promise<void> {
    await this.transaction((draft, plan) => {
      const st = this.instanceState(instance, draft);
      if (!st.ports[port]) throw new NotFoundError(`${instance} has no port '${port}'`);
      const peers = this.linkedInstances(instance, port);
      if (st.ports[port].peer) this.draftDisconnect(draft, instance, port);
      for (const [n, i] of Object.entries(draft.instances))
        if (
          i.attachment &&
          "instance" in i.attachment.target &&
          i.attachment.target.instance === instance &&
          i.attachment.target.port === port
        )
          throw new ConflictError(
            `${n} is attached to ${instance}:${port}; detach it first (plexus detach ${n})`,
          );
      delete st.ports[port];
      plan.after(() =>
        this.afterPortChange(
          [instance, ...peers],
          `deleted port ${instance}:${port}`,
          "port.deleted",
          instance,
        ),
      );
    });
  }

  async configurePort(
    instance: string,
    port: string,
    patch: Record<string, unknown>,
    opts: ConfigureOptions = {},
  ): Promise<PortView> {
    await this.transaction((draft, plan) => {
      const st = this.instanceState(instance, draft);
      const p = st.ports[port];
      if (!p) throw new NotFoundError(`${instance} has no port '${port}'`);
      const pkg = this.registry.get(st.type, st.version);
      const next = opts.replace ? patch : { ...p.config, ...patch };
      p.config = this.validatePortConfig(pkg, next, `${instance}:${port} config`);
      plan.after(() =>
        this.afterPortChange([instance], `configured ${instance}:${port}`, "port.configured", instance),
      );
    });
    return this.portView(instance, port);
  }

  /** Connects a port to an interface ("eth0") or another instance's port ("r1:west"). */
  async connect(instance: string, port: string, peer: string): Promise<void> {
    await this.transaction((draft, plan) => {
      const target = parsePeer(peer);
      this.draftConnect(draft, instance, port, target);
      plan.after(() =>
        this.afterPortChange(
          [instance, ...("instance" in target ? [target.instance] : [])],
          `connected ${instance}:${port} to ${peer}`,
          "port.connected",
          instance,
        ),
      );
    });
  }

  async disconnect(instance: string, port: string): Promise<void> {
    await this.transaction((draft, plan) => {
      const peers = this.linkedInstances(instance, port);
      this.draftDisconnect(draft, instance, port);
      plan.after(() =>
        this.afterPortChange(
          [instance, ...peers],
          `disconnected ${instance}:${port}`,
          "port.disconnected",
          instance,
        ),
      );
    });
  }

  // ---- transparent attachments ----

  async attach(
    name: string,
    target: string,
    direction: AttachDirection = "ingress",
    position: AttachPosition = { last: true },
  ): Promise<void> {
    await this.transaction((draft, plan) => {
      const st = this.instanceState(name, draft);
      const pkg = this.registry.get(st.type, st.version);
      if (pkg.manifest.kind !== "transparent")
        throw new ValidationError(
          `${name} is a standard ${st.type}; only transparent instances attach (connect its ports instead)`,
        );
      if (st.attachment)
        throw new ConflictError(
          `${name} is already attached to ${peerText(st.attachment.target)} ${st.attachment.direction}; detach it first`,
        );
      const t = parsePeer(target);
      if ("instance" in t) {
        const ti = this.instanceState(t.instance, draft);
        if (!ti.ports[t.port]) throw new NotFoundError(`${t.instance} has no port '${t.port}'`);
      } else if (native().ifNameToIndex(t.iface) === 0)
        throw new NotFoundError(`interface '${t.iface}' does not exist in the daemon's network namespace`);
      const here = Object.entries(draft.instances)
        .filter(
          ([, i]) =>
            i.attachment &&
            peerText(i.attachment.target) === peerText(t) &&
            i.attachment.direction === direction,
        )
        .map(([n, i]) => ({ name: n, pos: i.attachment?.position ?? 0 }))
        .sort((a, b) => a.pos - b.pos);
      let pos: number;
      if ("first" in position) pos = here.length ? here[0].pos - 1 : 0;
      else if ("last" in position) pos = here.length ? here[here.length - 1].pos + 1 : 0;
      else if ("position" in position) pos = position.position;
      else {
        const anchor = "before" in position ? position.before : position.after;
        const i = here.findIndex((h) => h.name === anchor);
        if (i < 0)
          throw new NotFoundError(
            `${anchor} is not attached at ${target} ${direction} (attached there: ${here.map((h) => h.name).join(", ") || "none"})`,
          );
        pos =
          "before" in position
            ? i > 0
              ? (here[i - 1].pos + here[i].pos) / 2
              : here[i].pos - 1
            : i < here.length - 1
              ? (here[i].pos + here[i + 1].pos) / 2
              : here[i].pos + 1;
      }
      st.attachment = { target: t, direction, position: pos };
      plan.after(() =>
        this.events.emit("instance.attached", `attached ${name} to ${target} ${direction}`, {
          instance: name,
        }),
      );
    });
  }

  async detach(name: string): Promise<void> {
    await this.transaction((draft, plan) => {
      const st = this.instanceState(name, draft);
      if (!st.attachment) throw new ValidationError(`${name} is not attached`);
      delete st.attachment;
      plan.after(() => this.events.emit("instance.detached", `detached ${name}`, { instance: name }));
    });
  }

  // ---- tables ----

  private tableCodec(name: string, table: string): { codec: TableCodec; writable: boolean; map: string } {
    const rt = this.runtime(name);
    const spec = rt.pkg.manifest.tables?.[table];
    if (!spec)
      throw new NotFoundError(
        `${rt.state.type} has no table '${table}' (tables: ${Object.keys(rt.pkg.manifest.tables ?? {}).join(", ") || "none"})`,
      );
    const m = rt.loaded.spec.maps.get(spec.map);
    if (!m)
      throw new PlexusError(
        `${rt.state.type}: table ${table} names map ${spec.map}, which its object does not have`,
      );
    const btf = rt.loaded.spec.btf;
    const ports = {
      name: (i: number) => Object.entries(rt.state.ports).find(([, p]) => p.index === i)?.[0],
      index: (n: string) => rt.state.ports[n]?.index,
    };
    const formats = spec.formats ?? {};
    const keyFields =
      btf && m.btfKeyTypeId ? layoutFields(btf, m.btfKeyTypeId, formats) : rawFields("key", m.keySize);
    const valueFields =
      btf && m.btfValueTypeId
        ? layoutFields(btf, m.btfValueTypeId, formats)
        : rawFields("value", m.valueSize);
    return {
      codec: new TableCodec(keyFields, valueFields, m.keySize, m.valueSize, ports),
      writable: spec.writable ?? false,
      map: spec.map,
    };
  }

  /** The instance's tables with their fields (from the maps' BTF and the manifest's formats). */
  tableInfo(name: string): TableInfo[] {
    const rt = this.runtime(name);
    return Object.entries(rt.pkg.manifest.tables ?? {}).map(([table, spec]) => {
      const { codec, writable } = this.tableCodec(name, table);
      const handler = rt.control.tables?.[table];
      const field = (f: { name: string; format: string }) => ({ name: f.name, format: f.format });
      return {
        name: table,
        ...(spec.description ? { description: spec.description } : {}),
        writable: writable || Boolean(handler?.add),
        key: codec.keyFields.map(field),
        value: codec.valueFields.map(field),
      };
    });
  }

  /** A canonical text of an entry's key: two entries with the same key replace each other. */
  tableEntryKey(name: string, table: string, entry: Record<string, unknown>): string {
    const { codec } = this.tableCodec(name, table);
    return codec.encodeKey(entry).toString("hex");
  }

  async tableList(name: string, table: string): Promise<Record<string, unknown>[]> {
    const rt = this.runtime(name);
    const handler = rt.control.tables?.[table];
    if (handler?.list) return handler.list(rt.context);
    const { codec, map } = this.tableCodec(name, table);
    const m = rt.map(map);
    const out: Record<string, unknown>[] = [];
    for (const [k, v] of m.entries()) out.push(codec.decode(k, v));
    return out;
  }

  async tableAdd(name: string, table: string, entry: Record<string, unknown>): Promise<void> {
    await this.tableAddMany(name, table, [entry]);
  }

  /** Adds entries in one step (one batched map update where the map allows, one state save). */
  async tableAddMany(name: string, table: string, entries: Record<string, unknown>[]): Promise<number> {
    return this.lock.run(async () => {
      const rt = this.runtime(name);
      const handler = rt.control.tables?.[table];
      const { codec, writable, map } = this.tableCodec(name, table);
      let stored: Record<string, unknown>[] = entries;
      if (handler?.addMany) stored = (await handler.addMany(rt.context, entries)) ?? entries;
      else if (handler?.add) {
        stored = [];
        for (const e of entries) stored.push((await handler.add(rt.context, e)) ?? e);
      } else {
        if (!writable) throw new ValidationError(`${name} table ${table} is read-only`);
        const keys = entries.map((e) => codec.encodeKey(e));
        const values = entries.map((e) => codec.encodeValue(e));
        const m = rt.map(map);
        if (entries.length === 1) m.update(keys[0], values[0]);
        else m.updateBatch(keys, values);
      }
      this.recordEntries(name, table, stored, true);
      const what = stored.length === 1 ? JSON.stringify(stored[0]) : `${stored.length} entries`;
      this.events.emit("table.added", `${name} ${table}: added ${what}`, {
        instance: name,
        ...(stored.length === 1 ? { data: stored[0] } : {}),
      });
      return stored.length;
    });
  }

  async tableDelete(name: string, table: string, key: Record<string, unknown>): Promise<void> {
    await this.lock.run(async () => {
      const rt = this.runtime(name);
      const handler = rt.control.tables?.[table];
      const { codec, writable, map } = this.tableCodec(name, table);
      if (handler?.delete) await handler.delete(rt.context, key);
      else {
        if (!writable) throw new ValidationError(`${name} table ${table} is read-only`);
        if (!rt.map(map).delete(codec.encodeKey(key)))
          throw new NotFoundError(`${name} ${table}: no entry ${JSON.stringify(key)}`);
      }
      this.recordEntries(name, table, [key], false);
      this.events.emit("table.deleted", `${name} ${table}: deleted ${JSON.stringify(key)}`, {
        instance: name,
        data: key,
      });
    });
  }

  /** Keeps the configured entries in the desired state (one save for any number of entries). */
  private recordEntries(name: string, table: string, entries: Record<string, unknown>[], add: boolean): void {
    // Entries with the same key replace each other; an entry whose key does not encode is its own.
    const { codec } = this.tableCodec(name, table);
    const keyOf = (e: Record<string, unknown>) => {
      try {
        return codec.encodeKey(e).toString("hex");
      } catch {
        return JSON.stringify(e);
      }
    };
    const st = this.state.instances[name];
    const byKey = new Map((st.tables[table] ?? []).map((e) => [keyOf(e), e] as const));
    for (const e of entries) {
      if (add) byKey.set(keyOf(e), e);
      else byKey.delete(keyOf(e));
    }
    // Structural sharing: the state is never changed in place, only replaced.
    const inst = { ...st, tables: { ...st.tables, [table]: [...byKey.values()] } };
    const next = { ...this.state, instances: { ...this.state.instances, [name]: inst } };
    this.store.save(next);
    this.state = next;
    const rt = this.runtimes.get(name);
    if (rt) rt.state = inst;
  }

  /** Writes configured entries back (after a restart, or when maps were recreated). */
  private async restoreTableEntries(name: string): Promise<void> {
    const rt = this.runtime(name);
    for (const [table, entries] of Object.entries(rt.state.tables)) {
      for (const e of entries) {
        try {
          const handler = rt.control.tables?.[table];
          if (handler?.add) await handler.add(rt.context, e);
          else {
            const { codec, map } = this.tableCodec(name, table);
            rt.map(map).update(codec.encodeKey(e), codec.encodeValue(e));
          }
        } catch (err) {
          rt.context.log.error({ err, table, entry: e }, "restoring a table entry failed");
        }
      }
    }
  }

  // ---- upgrade ----

  /** Swaps an instance's code for a newer package version or an object file, keeping its maps. */
  async upgrade(name: string, opts: { version?: string; object?: string } = {}): Promise<InstanceView> {
    await this.lock.run(async () => {
      const rt = this.runtime(name);
      const pkg = opts.object ? rt.pkg : this.registry.get(rt.state.type, opts.version);
      if (opts.object && !existsSync(opts.object))
        throw new NotFoundError(`object file ${opts.object} does not exist`);
      const from = rt.state.version;
      // Code from a file is kept with the state, so that a restarted daemon loads it again.
      const object = opts.object ? this.keepObject(name, opts.object) : undefined;
      const t0 = performance.now();
      try {
        await rt.upgrade(pkg, object);
      } catch (e) {
        this.events.emit(
          "instance.upgrade_failed",
          `upgrading ${name} failed; it runs its old code: ${(e as Error).message}`,
          {
            instance: name,
          },
        );
        throw e;
      }
      const ms = performance.now() - t0;
      const next = structuredClone(this.state);
      next.instances[name].version = pkg.version;
      if (object) next.instances[name].object = object;
      else delete next.instances[name].object;
      this.store.save(next);
      this.state = next;
      rt.state = next.instances[name];
      this.events.emit(
        "instance.upgraded",
        `upgraded ${name} ${opts.object ? `to ${opts.object}` : `${from} -> ${pkg.version}`} in ${ms.toFixed(1)} ms`,
        { instance: name, data: { from, to: pkg.version, object: opts.object, ms } },
      );
    });
    return this.getInstance(name);
  }

  /** Copies an object file into the state directory (content-addressed) and returns the copy. */
  private keepObject(instance: string, file: string): string {
    const bytes = readFileSync(file);
    const dir = join(dirname(this.store.path), "objects");
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${instance}-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}.o`);
    if (!existsSync(path)) writeFileSync(path, bytes);
    return path;
  }

  // ---- NF types ----

  async installType(dir: string): Promise<NfPackage> {
    return this.lock.run(async () => {
      const pkg = this.registry.install(dir);
      await pkg.control(); // fail now, not at the first instance, if the module is broken
      this.events.emit("nf.installed", `installed ${pkg.name} ${pkg.version}`);
      return pkg;
    });
  }

  async removeType(name: string, version?: string): Promise<void> {
    await this.lock.run(async () => {
      const users = Object.entries(this.state.instances).filter(
        ([, i]) => i.type === name && (!version || i.version === version),
      );
      if (users.length)
        throw new ConflictError(
          `${name} is used by ${users.map(([n]) => n).join(", ")}; delete those instances first`,
        );
      this.registry.remove(name, version);
      this.events.emit("nf.removed", `removed ${name}${version ? ` ${version}` : ""}`);
    });
  }
}

/** Ids of the link veth pairs a state uses. */
function linkIds(state: DesiredState): Set<number> {
  const ids = new Set<number>();
  for (const i of Object.values(state.instances))
    for (const p of Object.values(i.ports)) if (p.link !== undefined) ids.add(p.link);
  return ids;
}

function ip(args: string[]): void {
  execFileSync("ip", args, { stdio: "pipe" });
}

/** The interface's MAC (netlink: /sys shows the namespace it was mounted in, not ours). */
function macOf(ifname: string): string {
  try {
    return interfaceMac(ifname);
  } catch {
    return "";
  }
}

/** Mounts a bpffs at `dir` when it is not on one (and creates it). */
function ensureBpffs(dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (isBpffs(dir)) return;
  try {
    execFileSync("mount", ["-t", "bpf", "bpf", dir], { stdio: "pipe" });
  } catch (e) {
    throw new PlexusError(
      `${dir} is not a bpf filesystem and mounting one there failed: ${(e as Error).message}`,
    );
  }
}
