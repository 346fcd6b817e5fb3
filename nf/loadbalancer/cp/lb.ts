// One load balancer instance's control plane: services and backends (checked, then installed),
// each service's Maglev lookup table rebuilt and swapped in whole when its backends in service
// change, next hops of backends resolved, health checks, the configuration in lb_cfg, expired
// connections collected, and the `services`, `backends` and `connections` tables.
import { NotFoundError, ValidationError } from "../../../src/core/errors.js";
import type { InstanceContext, PortInfo } from "../../../src/core/nf-api.js";
import { BpfMap } from "../../../src/bpf/map/map.js";
import { MapType } from "../../../src/bpf/constants.js";
import {
  CONN_SIZE,
  ConnFlag,
  MAX_BACKENDS,
  MAX_SERVICES,
  Mode,
  RING,
  STATS,
  STAT_NAMES,
  TCP_STATE_NAMES,
  TUPLE_SIZE,
  decodeBackend,
  decodeConn,
  decodeTuple,
  encodeBackend,
  encodeCfg,
  encodeSvc,
  encodeTuple,
  encodeVip,
  u32,
  type BackendImage,
  type Conn,
  type Tuple,
} from "./abi.js";
import { formatAddr, formatEndpoint, formatMac, parseMac } from "./addr.js";
import { lbConfig, type LbConfig } from "./config.js";
import { freshHealth, probe, record, type Health, type Probe } from "./health.js";
import { maglevTable } from "./maglev.js";
import { nextHops, nudge, type NextHop } from "./neigh.js";
import {
  DefinitionError,
  backendEntry,
  checkConfiguration,
  parseBackend,
  parseService,
  serviceEntry,
  type Backend,
  type Service,
} from "./service.js";

/** How often expired connections are removed. */
export const GC_INTERVAL_MS = 5000;
/** How often next hops are looked up again (every second while one is missing). */
const RESOLVE_INTERVAL_MS = 10_000;
const PROTO = { tcp: 6, udp: 17 } as const;

interface SvcState {
  def: Service;
  index: number;
  /** The installed lookup table, as backend slot indices (undefined: none installed). */
  ring?: Int32Array;
  live: number;
}

interface BackState {
  def: Backend;
  index: number;
  health: Health;
  hop?: { outPort: number; mac: Buffer; smac: Buffer };
  /** Why it has no next hop. */
  problem?: string;
  installed?: Buffer;
}

/** What the class needs from the outside world (tests replace it). */
export interface LbWorld {
  nextHops(addrs: readonly string[]): Promise<Map<string, NextHop>>;
  probe(p: Probe): Promise<string | undefined>;
  nudge(addr: string, family: 4 | 6): void;
  now(): number;
}

const realWorld: LbWorld = { nextHops, probe, nudge, now: () => Date.now() };

const backKey = (service: string, text: string) => `${service}|${text}`;
const seedKey = (family: number, addr: Buffer, port: number) => `${family}|${addr.toString("hex")}|${port}`;

export class LoadBalancer {
  cfg: LbConfig;
  private readonly services = new Map<string, SvcState>();
  private readonly backends = new Map<string, BackState>();
  /** Entries replayed before start (services first when installed). */
  private readonly pending: { table: "services" | "backends"; entry: Record<string, unknown> }[] = [];
  private started = false;
  private stopped = false;
  private cfgMem: Buffer | undefined;
  private lastGc = 0;
  private lastResolve = 0;
  private resolving = false;
  /** While an earlier daemon's configuration is replayed: where its backends were placed. */
  private seeds: Map<string, { index: number; hop: NonNullable<BackState["hop"]> }> | undefined;

  constructor(
    public ctx: InstanceContext,
    readonly world: LbWorld = realWorld,
  ) {
    this.cfg = lbConfig(ctx.config);
  }

  private mem(): Buffer {
    if (!this.cfgMem) {
      const m = this.ctx.map("lb_cfg").mmap();
      this.cfgMem = Buffer.from(m.buffer, m.byteOffset, m.byteLength);
    }
    return this.cfgMem;
  }

  /**
   * Takes over the maps (fresh, or kept by an earlier daemon: its connections go on) and installs
   * what is configured. Backends an earlier daemon had placed keep their slot and next hop until
   * looked up again, so new connections are not refused while next hops are resolved.
   */
  start(): void {
    const again = this.started;
    this.started = true;
    this.stopped = false;
    this.applyConfig(this.ctx.config);
    if (!again) this.seeds = this.placedBefore();
    const p = this.pending.splice(0);
    this.addServices(p.filter((x) => x.table === "services").map((x) => x.entry));
    this.addBackends(p.filter((x) => x.table === "backends").map((x) => x.entry));
    this.seeds = undefined;
    // Services of an earlier daemon that are not configured any more go; the rest is rewritten.
    const keep = new Set([...this.services.values()].map((sv) => this.vipKey(sv.def).toString("hex")));
    const svcs = this.ctx.map("lb_svcs");
    for (const k of [...svcs.keys()]) if (!keep.has(k.toString("hex"))) svcs.delete(k);
    for (const b of this.backends.values()) b.installed = undefined;
    for (const sv of this.services.values()) {
      sv.ring = undefined;
      this.syncService(sv);
    }
    void this.resolve();
  }

  /** Backends the maps hold from an earlier daemon, by family, address and port. */
  private placedBefore(): Map<string, { index: number; hop: NonNullable<BackState["hop"]> }> {
    const out = new Map<string, { index: number; hop: NonNullable<BackState["hop"]> }>();
    for (const [k, v] of this.ctx.map("lb_backends").entries()) {
      const img = decodeBackend(v);
      if (!img) continue;
      const key = seedKey(img.family, img.addr, img.port);
      if (!out.has(key))
        out.set(key, {
          index: k.readUInt32LE(0),
          hop: { outPort: img.outPort, mac: img.mac, smac: img.smac },
        });
    }
    return out;
  }

  applyConfig(raw: Readonly<Record<string, unknown>>): void {
    this.cfg = lbConfig(raw);
    encodeCfg(this.cfg.enabled, this.cfg.timeouts, this.mem());
  }

  destroy(): void {
    this.stopped = true;
  }

  private problem(e: unknown): never {
    if (e instanceof DefinitionError) throw new ValidationError(e.message);
    throw e;
  }

  // ---- services ----

  /** Adds or replaces services; the whole batch is checked before anything changes. */
  addServices(entries: Record<string, unknown>[]): Record<string, unknown>[] {
    if (!this.started) {
      for (const entry of entries) this.pending.push({ table: "services", entry });
      return entries;
    }
    let defs: Service[];
    try {
      defs = entries.map(parseService);
      const next = new Map([...this.services].map(([n, s]) => [n, s.def]));
      for (const d of defs) next.set(d.name, d);
      checkConfiguration(
        [...next.values()],
        [...this.backends.values()].map((b) => b.def),
      );
      // A replaced service keeps its backends: they must still fit it.
      for (const d of defs) for (const b of this.backendsOf(d.name)) parseBackend(backendEntry(b.def), d);
    } catch (e) {
      this.problem(e);
    }
    for (const d of defs) this.installService(d);
    return defs.map(serviceEntry);
  }

  private freeIndex(used: Iterable<number>, max: number, what: string): number {
    const taken = new Set(used);
    for (let i = 0; i < max; i++) if (!taken.has(i)) return i;
    throw new ValidationError(`no room for another ${what} (at most ${max})`);
  }

  private vipKey(d: Service): Buffer {
    return encodeVip(d.vip.family, PROTO[d.proto], d.port, d.vip.bytes);
  }

  private installService(d: Service): void {
    const old = this.services.get(d.name);
    if (old) {
      const moved = !this.vipKey(old.def).equals(this.vipKey(d)) || old.def.mode !== d.mode;
      if (moved) {
        this.ctx.map("lb_svcs").delete(this.vipKey(old.def));
        this.dropConnections((c) => c.svc === old.index);
        old.ring = undefined;
      }
      old.def = d;
      this.syncService(old);
      return;
    }
    const s: SvcState = {
      def: d,
      index: this.freeIndex(
        [...this.services.values()].map((x) => x.index),
        MAX_SERVICES,
        "service",
      ),
      live: 0,
    };
    this.services.set(d.name, s);
    this.syncService(s);
  }

  deleteService(key: Record<string, unknown>): void {
    const name = String(key.name ?? "");
    const s = this.services.get(name);
    if (!s)
      throw new NotFoundError(
        `${this.ctx.name} has no service '${name}' (services: ${[...this.services.keys()].join(", ") || "none"})`,
      );
    this.ctx.map("lb_svcs").delete(this.vipKey(s.def));
    this.ctx.map("lb_rings").delete(u32(s.index));
    for (const b of this.backendsOf(name)) this.removeBackend(b);
    this.dropConnections((c) => c.svc === s.index);
    this.services.delete(name);
  }

  private backendsOf(service: string): BackState[] {
    return [...this.backends.values()].filter((b) => b.def.service === service);
  }

  /** Whether a backend takes new connections. */
  private inService(b: BackState): boolean {
    return Boolean(b.hop) && b.health.up;
  }

  /** Brings a service's backends, lookup table and entry in the kernel up to date. */
  private syncService(s: SvcState): void {
    if (!this.started || this.stopped) return;
    const backs = this.backendsOf(s.def.name).sort((a, b) => (a.def.text < b.def.text ? -1 : 1));
    for (const b of backs) this.writeBackend(b);
    const eligible = backs.filter((b) => this.inService(b) && b.def.weight > 0);
    const table = maglevTable(
      eligible.map((b) => ({ name: b.def.text, weight: b.def.weight })),
      RING,
    );
    const ring = Int32Array.from(table, (i) => (i < 0 ? -1 : eligible[i].index));
    const same = s.ring && s.ring.length === ring.length && s.ring.every((v, i) => v === ring[i]);
    if (!same && eligible.length) {
      // A new inner table, filled, then swapped in with one write: never a half-built one.
      const inner = BpfMap.create({
        type: MapType.ARRAY,
        keySize: 4,
        valueSize: 4,
        maxEntries: RING,
        name: "lb_ring",
      });
      try {
        const keys = Buffer.alloc(RING * 4);
        const values = Buffer.alloc(RING * 4);
        for (let i = 0; i < RING; i++) {
          keys.writeUInt32LE(i, i * 4);
          values.writeUInt32LE(ring[i], i * 4);
        }
        inner.updateBatch(keys, values);
        this.ctx.map("lb_rings").update(u32(s.index), u32(inner.fd));
      } finally {
        inner.close();
      }
    }
    s.ring = eligible.length ? ring : undefined;
    s.live = eligible.length;
    const modeCode = s.def.mode === "dsr" ? Mode.DSR : Mode.DNAT;
    this.ctx.map("lb_svcs").update(this.vipKey(s.def), encodeSvc(s.index, modeCode, s.live));
  }

  listServices(): Record<string, unknown>[] {
    return [...this.services.values()]
      .sort((a, b) => (a.def.name < b.def.name ? -1 : 1))
      .map((s) => ({
        ...serviceEntry(s.def),
        backends: this.backendsOf(s.def.name).length,
        inService: s.live,
      }));
  }

  // ---- backends ----

  addBackends(entries: Record<string, unknown>[]): Record<string, unknown>[] {
    if (!this.started) {
      for (const entry of entries) this.pending.push({ table: "backends", entry });
      return entries;
    }
    let defs: Backend[];
    try {
      defs = entries.map((e) => parseBackend(e, this.services.get(String(e.service ?? ""))?.def));
      const next = new Map([...this.backends].map(([k, b]) => [k, b.def]));
      for (const d of defs) next.set(backKey(d.service, d.text), d);
      checkConfiguration(
        [...this.services.values()].map((s) => s.def),
        [...next.values()],
      );
      for (const d of defs)
        if (d.via !== undefined && !this.ctx.port(d.via))
          throw new DefinitionError(
            `backend ${d.text} of ${d.service}: via '${d.via}' is not a port of ${this.ctx.name} (ports: ${
              this.ctx
                .ports()
                .map((p) => p.name)
                .join(", ") || "none"
            })`,
          );
    } catch (e) {
      this.problem(e);
    }
    const touched = new Set<string>();
    for (const d of defs) {
      const k = backKey(d.service, d.text);
      const old = this.backends.get(k);
      if (old) old.def = d;
      else {
        const used = [...this.backends.values()].map((b) => b.index);
        const seed = this.seeds?.get(seedKey(d.addr.family, d.addr.bytes, d.port));
        const reuse = seed && !used.includes(seed.index) && !d.mac ? seed : undefined;
        this.backends.set(k, {
          def: d,
          index: reuse ? reuse.index : this.freeIndex(used, MAX_BACKENDS, "backend"),
          health: freshHealth(),
          ...(reuse ? { hop: reuse.hop } : {}),
        });
      }
      const b = this.backends.get(k) as BackState;
      this.placeExplicit(b);
      touched.add(d.service);
    }
    for (const name of touched) this.syncService(this.services.get(name) as SvcState);
    if (defs.some((d) => !d.mac)) this.lastResolve = 0;
    return defs.map(backendEntry);
  }

  deleteBackend(key: Record<string, unknown>): void {
    const service = String(key.service ?? "");
    const s = this.services.get(service);
    const text = String(key.backend ?? "");
    const b = this.backends.get(backKey(service, text));
    if (!b || !s) {
      // Another spelling of a backend that exists: say how it is written (the desired state keeps
      // entries by their written key, so a delete must name it the same way).
      let canonical: string | undefined;
      try {
        canonical = s && parseBackend({ service, backend: text }, s.def).text;
      } catch {
        canonical = undefined;
      }
      if (canonical && canonical !== text && this.backends.has(backKey(service, canonical)))
        throw new ValidationError(
          `${this.ctx.name}: service ${service}'s backend '${text}' is written '${canonical}'`,
        );
      throw new NotFoundError(
        `${this.ctx.name}: service '${service}' has no backend '${text}' (backends: ${
          this.backendsOf(service)
            .map((x) => x.def.text)
            .join(", ") || "none"
        })`,
      );
    }
    this.backends.delete(backKey(service, b.def.text));
    this.syncService(s);
    this.removeBackend(b);
  }

  private removeBackend(b: BackState): void {
    this.backends.delete(backKey(b.def.service, b.def.text));
    this.ctx.map("lb_backends").update(u32(b.index), encodeBackend(undefined));
    this.dropConnections((c) => c.backend === b.index);
  }

  private portMac(p: PortInfo): Buffer {
    const cfg = typeof p.config.mac === "string" ? parseMac(p.config.mac) : undefined;
    const peer = p.peer?.kind === "iface" ? parseMac(p.peer.mac) : undefined;
    return cfg ?? peer ?? Buffer.alloc(6);
  }

  /** A backend given with mac= and via=: placed without a lookup. */
  private placeExplicit(b: BackState): void {
    if (!b.def.mac || b.def.via === undefined) return;
    const p = this.ctx.port(b.def.via);
    if (!p) {
      b.hop = undefined;
      b.problem = `port ${b.def.via} is gone`;
      return;
    }
    b.hop = { outPort: p.index, mac: b.def.mac, smac: this.portMac(p) };
    b.problem = undefined;
  }

  private writeBackend(b: BackState): void {
    const img: BackendImage | undefined = b.hop && {
      family: b.def.addr.family,
      addr: b.def.addr.bytes,
      port: b.def.port,
      mac: b.hop.mac,
      outPort: b.hop.outPort,
      smac: b.hop.smac,
    };
    const enc = encodeBackend(img);
    if (b.installed?.equals(enc)) return;
    this.ctx.map("lb_backends").update(u32(b.index), enc);
    b.installed = enc;
  }

  /** Looks next hops up again (backends without mac=); services whose backends moved are synced. */
  async resolve(): Promise<void> {
    if (this.resolving || this.stopped || !this.started) return;
    this.resolving = true;
    try {
      this.lastResolve = this.world.now();
      const auto = [...this.backends.values()].filter((b) => !b.def.mac);
      const addr = (b: BackState) => formatAddr(b.def.addr.family, b.def.addr.bytes);
      const hops = await this.world.nextHops([...new Set(auto.map(addr))]);
      if (this.stopped) return;
      const changed = new Set<string>();
      const ports = this.ctx.ports();
      for (const b of auto) {
        if (!this.backends.has(backKey(b.def.service, b.def.text))) continue;
        const h = hops.get(addr(b));
        const port = h && ports.find((p) => p.peer?.kind === "iface" && p.peer.ifname === h.dev);
        const mac = h?.mac ? parseMac(h.mac) : undefined;
        let hop: BackState["hop"];
        if (!h) b.problem = "no route";
        else if (!port)
          b.problem = `reached through ${h.dev}, which is not connected to a port of ${this.ctx.name}`;
        else if (!mac) {
          b.problem = `next hop on ${h.dev} not resolved yet`;
          this.world.nudge(addr(b), b.def.addr.family);
        } else {
          b.problem = undefined;
          hop = { outPort: port.index, mac, smac: this.portMac(port) };
        }
        const same =
          hop && b.hop
            ? hop.outPort === b.hop.outPort && hop.mac.equals(b.hop.mac) && hop.smac.equals(b.hop.smac)
            : hop === b.hop;
        if (!same) {
          b.hop = hop;
          changed.add(b.def.service);
        }
      }
      for (const name of changed) {
        const s = this.services.get(name);
        if (s) this.syncService(s);
      }
    } finally {
      this.resolving = false;
    }
  }

  /** Ports changed: explicit placements and resolved next hops are checked again. */
  portsChanged(): void {
    for (const b of this.backends.values()) this.placeExplicit(b);
    for (const s of this.services.values()) this.syncService(s);
    this.lastResolve = 0;
  }

  listBackends(): Record<string, unknown>[] {
    const conns = new Map<number, number>();
    for (const c of this.connections())
      if (!(c.conn.flags & ConnFlag.REPLY)) conns.set(c.conn.backend, (conns.get(c.conn.backend) ?? 0) + 1);
    return [...this.backends.values()]
      .sort((a, b) =>
        a.def.service === b.def.service
          ? a.def.text < b.def.text
            ? -1
            : 1
          : a.def.service < b.def.service
            ? -1
            : 1,
      )
      .map((b) => {
        const s = this.services.get(b.def.service);
        const slots = s?.ring ? s.ring.reduce((n, v) => (v === b.index ? n + 1 : n), 0) : 0;
        const state = !b.hop ? "unresolved" : !b.health.up ? "down" : b.def.weight === 0 ? "drained" : "up";
        const row: Record<string, unknown> = {
          ...backendEntry(b.def),
          state,
          share: Math.round((slots / RING) * 10000) / 100,
          connections: conns.get(b.index) ?? 0,
        };
        if (b.hop) {
          row.via = this.ctx.port(b.hop.outPort)?.name ?? b.hop.outPort;
          row.mac = formatMac(b.hop.mac);
        }
        if (b.problem) row.problem = b.problem;
        if (b.health.lastError) row.lastCheck = b.health.lastError;
        return row;
      });
  }

  // ---- health checks ----

  private runChecks(now: number): void {
    for (const b of this.backends.values()) {
      const s = this.services.get(b.def.service);
      if (!s || s.def.check.kind === "none" || b.health.running || now < b.health.nextAt) continue;
      const check = s.def.check;
      b.health.running = true;
      b.health.nextAt = now + check.intervalMs;
      const host = formatAddr(b.def.addr.family, b.def.addr.bytes);
      void this.world.probe({ host, port: check.port ?? b.def.port, check }).then((err) => {
        b.health.running = false;
        if (this.stopped || this.backends.get(backKey(b.def.service, b.def.text)) !== b) return;
        if (!record(b.health, err, check)) return;
        const what = `${this.ctx.name} ${b.def.service}: backend ${b.def.text}`;
        if (b.health.up)
          this.ctx.event("backend.up", `${what} passes its health check again; back in service`);
        else
          this.ctx.event(
            "backend.down",
            `${what} failed its health check (${err ?? "?"}); taken out of service`,
          );
        const svc = this.services.get(b.def.service);
        if (svc) this.syncService(svc);
      });
    }
  }

  /** Periodic work: health checks, next hops, expired connections. */
  tick(): void {
    if (!this.started || this.stopped) return;
    const now = this.world.now();
    this.runChecks(now);
    const missing = [...this.backends.values()].some((b) => !b.def.mac && !b.hop);
    if (now - this.lastResolve >= (missing ? 1000 : RESOLVE_INTERVAL_MS)) void this.resolve();
    if (now - this.lastGc >= GC_INTERVAL_MS) {
      this.lastGc = now;
      this.collect();
    }
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    const m = this.ctx.map("lb_stats");
    for (let i = 0; i < STATS && i < STAT_NAMES.length; i++) {
      const vals = m.lookupPerCpu(u32(i)) ?? [];
      out[STAT_NAMES[i]] = vals.reduce((s, v) => s + Number(Buffer.from(v).readBigUInt64LE(0)), 0);
    }
    return out;
  }

  // ---- connections ----

  private connections(): { key: Buffer; tuple: Tuple; conn: Conn }[] {
    const out: { key: Buffer; tuple: Tuple; conn: Conn }[] = [];
    for (const [k, v] of this.ctx.map("lb_conns").entriesBatched(4096)) {
      if (k.length < TUPLE_SIZE || v.length < CONN_SIZE) continue;
      out.push({ key: Buffer.from(k), tuple: decodeTuple(k), conn: decodeConn(v) });
    }
    return out;
  }

  /** The other direction's key of a DNAT connection entry (undefined for DSR). */
  private partner(t: Tuple, c: Conn): Buffer | undefined {
    if (c.flags & ConnFlag.DSR) return undefined;
    if (c.flags & ConnFlag.REPLY)
      return encodeTuple({ ...t, saddr: t.daddr, daddr: c.newAddr, sport: t.dport, dport: c.newPort });
    return encodeTuple({ ...t, saddr: c.newAddr, daddr: t.saddr, sport: c.newPort, dport: t.sport });
  }

  private deleteKeys(keys: Buffer[]): void {
    const m = this.ctx.map("lb_conns");
    // One by one: a batch delete stops at the first key the data plane removed meanwhile.
    for (const k of keys) m.delete(k);
  }

  /** Removes connections matching `pred` (both directions). */
  private dropConnections(pred: (c: Conn) => boolean): number {
    if (!this.started) return 0;
    const keys: Buffer[] = [];
    let n = 0;
    for (const e of this.connections()) {
      if (!pred(e.conn)) continue;
      keys.push(e.key);
      if (!(e.conn.flags & ConnFlag.REPLY)) n++;
    }
    this.deleteKeys(keys);
    return n;
  }

  /** Deletes expired connection entries (an entry goes when its other direction has expired too). */
  collect(): number {
    const now = process.hrtime.bigint();
    const all = this.connections();
    const byKey = new Map(all.map((e) => [e.key.toString("hex"), e] as const));
    const dead: Buffer[] = [];
    for (const e of all) {
      if (e.conn.expires >= now) continue;
      const p = this.partner(e.tuple, e.conn);
      const other = p && byKey.get(p.toString("hex"));
      if (other && other.conn.expires >= now) continue;
      dead.push(e.key);
    }
    this.deleteKeys(dead);
    return dead.length;
  }

  private serviceByIndex(i: number): SvcState | undefined {
    return [...this.services.values()].find((s) => s.index === i);
  }

  private connRow(t: Tuple, c: Conn, now: bigint): Record<string, unknown> {
    const s = this.serviceByIndex(c.svc);
    const b = [...this.backends.values()].find((x) => x.index === c.backend && x.def.service === s?.def.name);
    return {
      service: s?.def.name ?? c.svc,
      proto: t.proto === 6 ? "tcp" : t.proto === 17 ? "udp" : t.proto,
      client: formatEndpoint(t.family, t.saddr, t.sport),
      vip: formatEndpoint(t.family, t.daddr, t.dport),
      backend:
        c.flags & ConnFlag.DSR ? (b?.def.text ?? c.backend) : formatEndpoint(t.family, c.newAddr, c.newPort),
      mode: c.flags & ConnFlag.DSR ? "dsr" : "dnat",
      state: TCP_STATE_NAMES[c.state] ?? c.state,
      expires: Math.max(0, Number((c.expires - now) / 1_000_000n) / 1000),
    };
  }

  /** Live connections, one row each (as the client opened them). */
  listConnections(): Record<string, unknown>[] {
    const now = process.hrtime.bigint();
    return this.connections()
      .filter((e) => !(e.conn.flags & ConnFlag.REPLY) && e.conn.expires >= now)
      .map((e) => this.connRow(e.tuple, e.conn, now));
  }

  /** Deletes the connections whose rows match every field of `filter` ({}: all). */
  deleteConnections(filter: Record<string, unknown>): number {
    const now = process.hrtime.bigint();
    const want = Object.entries(filter).filter(([, v]) => v !== undefined && v !== "");
    const all = this.connections();
    const keys: Buffer[] = [];
    for (const e of all) {
      if (e.conn.flags & ConnFlag.REPLY) continue;
      const row = this.connRow(e.tuple, e.conn, now);
      if (!want.every(([k, v]) => row[k] !== undefined && String(row[k]) === String(v))) continue;
      keys.push(e.key);
      const p = this.partner(e.tuple, e.conn);
      if (p) keys.push(p);
    }
    this.deleteKeys(keys);
    return keys.length;
  }
}
