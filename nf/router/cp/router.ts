// One router instance's control plane: turns port configuration into port records, local
// addresses and connected routes, keeps the static routes (durable in rtr_rib) and static
// neighbours (rtr_neigh_static), keeps the data plane's tries in step, and runs next-hop
// resolution. Table handlers for `route`, `neigh` and `address` live here too.
import type { BpfMap } from "../../../src/bpf/map/map.js";
import { NotFoundError, ValidationError } from "../../../src/core/errors.js";
import type { InstanceContext, SlowPathPacket } from "../../../src/core/nf-api.js";
import {
  formatIfAddr,
  formatIp,
  formatMac,
  formatPrefix,
  isLinkLocal6,
  parseIp,
  parseMac,
  parsePrefix,
  type Family,
} from "./addr.js";
import {
  CFG_NO_ICMP_ERRORS,
  CFG_ROUTE_CACHE,
  CpReason,
  Drop,
  NEIGH_STATE_NAMES,
  NeighState,
  PORT_SIZE,
  RIB_KEY_SIZE,
  RIB_VAL_SIZE,
  RouteType,
  decodeCfg,
  decodeNeigh,
  decodeNeighKey,
  decodePort,
  decodeRib,
  decodeRoute,
  decodeStaticNeigh,
  encodeCfg,
  encodeNeigh,
  encodePort,
  encodeRib,
  encodeRoute,
  encodeStaticNeigh,
  fibKey,
  fibKeySize,
  neighKey,
  ribKey,
  routeSize,
  staticNeighKey,
  u32,
} from "./abi.js";
import { planPorts, routerConfig, type PortPlan, type RouterConfig } from "./config.js";
import { FibTables } from "./fib.js";
import type { FibRoute } from "./abi.js";
import { ipDestination } from "./frames.js";
import { Resolver } from "./resolver.js";
import {
  RouteError,
  comparePrefix,
  fibId,
  interfaceEntries,
  onLink,
  parseRouteEntry,
  resolveRoute,
  routeFromRecord,
  routeToRecord,
  routeView,
  staticEntry,
  linksOf,
  type Links,
  type FibEntry,
  type StaticRoute,
} from "./routes.js";

const MAX_PORTS = 128;
/** Tries with at least this many entries are looked up through the route cache ("auto"). */
const ROUTE_CACHE_MIN = 1024;

/** The hypervisor may give control planes a way to count their own drops; used when present. */
type WithDropCounter = InstanceContext & { countDrop?(reason: number, packets: number, port?: number): void };

export class Router {
  private cfg: RouterConfig;
  private plans: PortPlan[] = [];
  private byIndex = new Map<number, PortPlan>();
  private links: Links = linksOf([]);
  /** Entries for the router's own addresses and connected subnets, by fibId(). */
  private ifaceEntries = new Map<string, FibEntry>();
  private readonly statics = new Map<string, StaticRoute>();
  private readonly fib: FibTables;
  readonly resolver: Resolver;
  private icmpTokens = 0;
  /** Generation of the tries (struct rtr_cfg.fib_gen), continued from the map after a restart. */
  private fibGen = 0;
  private icmpAt = 0;
  /** Monotonic clocks, replaceable by tests. */
  nowMs: () => number = () => performance.now();
  nowNs: () => bigint = () => process.hrtime.bigint();

  constructor(public ctx: InstanceContext) {
    this.cfg = routerConfig(ctx.config);
    this.fib = new FibTables(
      (f) => this.ctx.map(f === 4 ? "rtr_fib4" : "rtr_fib6"),
      () => this.fibChanged(),
    );
    this.resolver = new Resolver({
      neighMap: (f) => this.neighMap(f),
      plan: (i) => this.byIndex.get(i),
      config: () => this.cfg,
      send: (port, frame) => this.send(port, frame),
      countDrop: (reason, n) => this.countDrop(reason, n),
      icmpAllowed: () => this.icmpAllowed(),
      event: (kind, message, data) => this.ctx.event(kind, message, data),
      nowMs: () => this.nowMs(),
      nowNs: () => this.nowNs(),
    });
  }

  private neighMap(f: Family): BpfMap {
    return this.ctx.map(f === 4 ? "rtr_neigh4" : "rtr_neigh6");
  }

  /** Takes over the instance's maps (fresh, or from a data plane that kept running). */
  start(): void {
    const cfg = this.ctx.map("rtr_cfg").lookup(u32(0));
    this.fibGen = cfg ? decodeCfg(cfg).fibGen + 1 : 1;
    this.fib.load();
    this.statics.clear();
    for (const [k, v] of this.ctx.map("rtr_rib").entriesBatched()) {
      const rec = decodeRib(k, v);
      try {
        this.statics.set(rec.prefix, routeFromRecord(rec));
      } catch (e) {
        this.ctx.log.warn({ route: rec, err: e }, "ignoring an unreadable stored route");
      }
    }
    this.applyConfig(this.ctx.config);
    this.applyPorts();
  }

  // ---- configuration ----

  applyConfig(raw: Readonly<Record<string, unknown>>): void {
    this.cfg = routerConfig(raw);
    this.icmpTokens = this.cfg.icmpBurst;
    this.writeCfg();
  }

  /** Writes struct rtr_cfg: ICMP limits, the route cache switch and the FIB generation. */
  private writeCfg(): void {
    const intervalNs = this.cfg.icmpRate ? BigInt(Math.round(1e9 / this.cfg.icmpRate)) : 0n;
    const cache =
      this.cfg.routeCache === "on" || (this.cfg.routeCache === "auto" && this.fib.size >= ROUTE_CACHE_MIN);
    this.ctx.map("rtr_cfg").update(
      u32(0),
      encodeCfg({
        intervalNs,
        toleranceNs: intervalNs * BigInt(this.cfg.icmpBurst - 1),
        flags: (this.cfg.icmpErrors ? 0 : CFG_NO_ICMP_ERRORS) | (cache ? CFG_ROUTE_CACHE : 0),
        fibGen: this.fibGen,
      }),
    );
  }

  /** The tries changed: a new generation makes every cached route stale at once. */
  private fibChanged(): void {
    this.fibGen = (this.fibGen + 1) >>> 0;
    this.writeCfg();
  }

  /** Ports were added, removed, connected or reconfigured: everything derived from them follows. */
  applyPorts(): void {
    const { plans, problems } = planPorts(this.ctx.name, this.ctx.ports());
    for (const p of problems) {
      this.ctx.log.warn(p);
      this.ctx.event("port.config", p);
    }
    this.plans = plans;
    this.byIndex = new Map(plans.map((p) => [p.index, p]));
    this.links = linksOf(plans);

    const ports = this.ctx.map("rtr_ports");
    for (let i = 0; i < MAX_PORTS; i++) {
      const p = this.byIndex.get(i);
      const want = p
        ? encodePort({
            mac: p.mac,
            enabled: true,
            addr4: p.v4[0]?.addr ?? Buffer.alloc(4),
            mtu: p.mtu,
            addr6: p.v6[0]?.addr ?? Buffer.alloc(16),
            ll6: p.ll6,
          })
        : Buffer.alloc(PORT_SIZE);
      if (!ports.lookup(u32(i))?.equals(want)) ports.update(u32(i), want);
    }

    this.ifaceEntries = interfaceEntries(plans);
    this.fib.sync(this.desiredFib());
    this.syncNeighbours();
    this.resolver.portsChanged();
  }

  private desiredFib(): Map<string, FibEntry> {
    const out = new Map(this.ifaceEntries);
    for (const r of this.statics.values()) {
      const res = resolveRoute(r, this.links);
      if (!("route" in res)) continue;
      const [id, e] = staticEntry(r, res.route);
      if (!out.has(id)) out.set(id, e);
    }
    return out;
  }

  /**
   * Neighbours follow the ports: entries of ports that are gone or no longer on a connected
   * subnet are removed, static entries installed on the ports they name.
   */
  private syncNeighbours(): void {
    const wanted = new Map<string, { family: Family; key: Buffer; value: Buffer }>();
    for (const [k, v] of this.ctx.map("rtr_neigh_static").entriesBatched()) {
      const s = decodeStaticNeigh(k, v);
      const ip = parseIp(s.address);
      const plan = this.plans.find((p) => p.name === s.port);
      if (!ip || !plan) continue;
      const key = neighKey(ip.family, plan.index, ip.addr);
      wanted.set(`${ip.family}:${key.toString("hex")}`, {
        family: ip.family,
        key,
        value: encodeNeigh({ mac: s.mac, state: NeighState.PERMANENT, flags: 0, confirmed: 0n }),
      });
    }
    for (const family of [4, 6] as const) {
      const map = this.neighMap(family);
      const drop: Buffer[] = [];
      for (const [k, v] of map.entriesBatched()) {
        const { port, addr } = decodeNeighKey(family, k);
        const n = decodeNeigh(v);
        const id = `${family}:${k.toString("hex")}`;
        if (n.state === NeighState.PERMANENT) {
          if (!wanted.has(id)) drop.push(k);
          continue;
        }
        const plan = this.byIndex.get(port);
        const onLinkNow =
          plan &&
          (family === 6 && isLinkLocal6(addr) ? true : onLink(this.links.connected, family, addr, plan.name));
        if (!onLinkNow) drop.push(k);
      }
      for (const k of drop) map.delete(k);
    }
    for (const w of wanted.values()) {
      const map = this.neighMap(w.family);
      if (!map.lookup(w.key)?.equals(w.value)) map.update(w.key, w.value);
    }
  }

  // ---- slow path ----

  packet(pkt: SlowPathPacket): void {
    const frame = Buffer.from(pkt.data);
    if (pkt.reason === CpReason.NEIGH) {
      this.resolver.learn(frame, pkt.port);
      return;
    }
    if (pkt.reason !== CpReason.RESOLVE) return;
    const d = ipDestination(frame);
    if (!d || frame.length < pkt.length) {
      this.countDrop(Drop.UNRESOLVED, 1); // a capture cut short cannot be sent on
      return;
    }
    const full = d.family === 4 ? 32 : 128;
    const v = this.ctx.map(d.family === 4 ? "rtr_fib4" : "rtr_fib6").lookup(fibKey(d.family, d.dst, full));
    const r = v && decodeRoute(d.family, v);
    if (!r || (r.type !== RouteType.CONNECTED && r.type !== RouteType.GATEWAY)) {
      this.countDrop(Drop.NO_ROUTE, 1); // the route changed while the packet was on its way here
      return;
    }
    this.resolver.enqueue(frame, pkt.port, d.family, r.port, r.type === RouteType.GATEWAY ? r.nh : d.dst);
  }

  private send(port: number, frame: Buffer): boolean {
    try {
      this.ctx.send(port, frame);
      return true;
    } catch (e) {
      this.ctx.log.debug({ err: e, port }, "could not send");
      return false;
    }
  }

  /** Drops decided here: kept in rtr_cp_drops (and given to the hypervisor if it takes them). */
  countDrop(reason: number, packets: number): void {
    if (packets <= 0) return;
    const m = this.ctx.map("rtr_cp_drops");
    const cur = m.lookup(u32(reason))?.readBigUInt64LE(0) ?? 0n;
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(cur + BigInt(packets));
    m.update(u32(reason), b);
    (this.ctx as WithDropCounter).countDrop?.(reason, packets);
  }

  /** The same limit as the data plane's (icmpRate per second, bursts of icmpBurst). */
  private icmpAllowed(): boolean {
    if (!this.cfg.icmpErrors) return false;
    if (!this.cfg.icmpRate) return true;
    const now = this.nowMs();
    this.icmpTokens = Math.min(
      this.cfg.icmpBurst,
      this.icmpTokens + ((now - this.icmpAt) * this.cfg.icmpRate) / 1000,
    );
    this.icmpAt = now;
    if (this.icmpTokens < 1) return false;
    this.icmpTokens--;
    return true;
  }

  // ---- the `route` table ----

  private routeProblem(e: unknown): never {
    if (e instanceof RouteError) throw new ValidationError(e.message);
    throw e;
  }

  routeList(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    const connected = [...this.links.connected].sort((a, b) => comparePrefix(a.prefix, b.prefix));
    for (const c of connected)
      out.push({
        prefix: formatPrefix(c.prefix),
        type: "connected",
        port: c.port.name,
        metric: 0,
        active: true,
      });
    const statics = [...this.statics.values()].sort((a, b) => comparePrefix(a.prefix, b.prefix));
    for (const r of statics) {
      const res = resolveRoute(r, this.links);
      const view = routeView(r);
      if (!("route" in res)) out.push({ ...view, active: false, reason: res.inactive });
      else if (this.links.ifacePrefixes.has(formatPrefix(r.prefix)))
        out.push({ ...view, active: false, reason: "a connected route has the same prefix" });
      else
        out.push({
          ...view,
          ...(res.route.type === RouteType.GATEWAY && !r.port
            ? { port: this.byIndex.get(res.route.port)?.name }
            : {}),
          active: true,
        });
    }
    return out;
  }

  /**
   * Adds or replaces the static route for a prefix. The entry is rewritten in place to its
   * canonical form, so the hypervisor records (and later replays) exactly what was installed.
   */
  routeAdd(entry: Record<string, unknown>): void {
    let r: StaticRoute;
    try {
      r = parseRouteEntry(entry);
    } catch (e) {
      this.routeProblem(e);
    }
    if (r.port && !this.ctx.port(r.port))
      throw new ValidationError(
        `port ${r.port} does not exist (ports: ${
          this.ctx
            .ports()
            .map((p) => p.name)
            .join(", ") || "none"
        })`,
      );
    const res = resolveRoute(r, this.links);
    if (!("route" in res)) throw new ValidationError(`route ${formatPrefix(r.prefix)}: ${res.inactive}`);
    const rec = routeToRecord(r);
    for (const k of Object.keys(entry)) delete entry[k];
    Object.assign(entry, routeView(r));
    this.ctx.map("rtr_rib").update(ribKey(rec.prefix), encodeRib(rec));
    this.statics.set(rec.prefix, r);
    const [id, e] = staticEntry(r, res.route);
    if (!this.ifaceEntries.has(id)) this.fib.set(e.family, e.key, e.value);
  }

  routeDelete(key: Record<string, unknown>): void {
    const text = key.prefix;
    if (typeof text !== "string") throw new ValidationError("say which route: prefix, e.g. 198.18.2.0/24");
    let canonical: string;
    try {
      canonical = formatPrefix(parsePrefix(text));
    } catch (e) {
      throw new ValidationError((e as Error).message);
    }
    const r = this.statics.get(canonical);
    if (!r) {
      const conn = this.links.connected.find((c) => formatPrefix(c.prefix) === canonical);
      if (conn)
        throw new ValidationError(
          `${canonical} is connected on port ${conn.port.name}: remove the address from the port instead`,
        );
      throw new NotFoundError(`no static route for ${canonical}`);
    }
    key.prefix = canonical;
    this.ctx.map("rtr_rib").delete(ribKey(canonical));
    this.statics.delete(canonical);
    const k = fibKey(r.prefix.family, r.prefix.addr, r.prefix.plen);
    if (!this.ifaceEntries.has(fibId(r.prefix.family, k))) this.fib.set(r.prefix.family, k, undefined);
  }

  /** Adds many routes at once with batched map updates (bulk loads; no per-route syscalls). */
  routeAddMany(entries: readonly Record<string, unknown>[]): number {
    const parsed: { r: StaticRoute; fib: FibRoute; prefix: string }[] = [];
    const count = { 4: 0, 6: 0 };
    for (const [i, entry] of entries.entries()) {
      let r: StaticRoute;
      try {
        r = parseRouteEntry(entry);
      } catch (e) {
        throw new ValidationError(`route ${i}: ${(e as Error).message}`);
      }
      const res = resolveRoute(r, this.links);
      if (!("route" in res))
        throw new ValidationError(`route ${i} (${formatPrefix(r.prefix)}): ${res.inactive}`);
      parsed.push({ r, fib: res.route, prefix: formatPrefix(r.prefix) });
      count[r.prefix.family]++;
    }
    // Flat buffers, one batched update per map.
    const rk = Buffer.alloc(parsed.length * RIB_KEY_SIZE);
    const rv = Buffer.alloc(parsed.length * RIB_VAL_SIZE);
    const fk = { 4: Buffer.alloc(count[4] * fibKeySize(4)), 6: Buffer.alloc(count[6] * fibKeySize(6)) };
    const fv = { 4: Buffer.alloc(count[4] * routeSize(4)), 6: Buffer.alloc(count[6] * routeSize(6)) };
    const at = { 4: 0, 6: 0 };
    parsed.forEach((p, i) => {
      ribKey(p.prefix, rk, i * RIB_KEY_SIZE);
      encodeRib(routeToRecord(p.r), rv, i * RIB_VAL_SIZE);
      this.statics.set(p.prefix, p.r);
      const f = p.r.prefix.family;
      if (this.links.ifacePrefixes.has(p.prefix)) return; // a connected route holds the prefix
      fibKey(f, p.r.prefix.addr, p.r.prefix.plen, fk[f], at[f] * fibKeySize(f));
      encodeRoute(f, p.fib, fv[f], at[f] * routeSize(f));
      at[f]++;
    });
    this.ctx.map("rtr_rib").updateBatch(rk, rv);
    for (const f of [4, 6] as const)
      this.fib.putFlat(f, fk[f].subarray(0, at[f] * fibKeySize(f)), fv[f].subarray(0, at[f] * routeSize(f)));
    return parsed.length;
  }

  // ---- the `neigh` table ----

  neighList(): Record<string, unknown>[] {
    const rows: { family: Family; addr: Buffer; port: number; row: Record<string, unknown> }[] = [];
    const now = this.nowNs();
    for (const family of [4, 6] as const)
      for (const [k, v] of this.neighMap(family).entriesBatched()) {
        const { port, addr } = decodeNeighKey(family, k);
        const n = decodeNeigh(v);
        const permanent = n.state === NeighState.PERMANENT;
        const incomplete = n.state === NeighState.INCOMPLETE;
        rows.push({
          family,
          addr,
          port,
          row: {
            address: formatIp(family, addr),
            port: this.byIndex.get(port)?.name ?? port,
            ...(incomplete ? {} : { mac: formatMac(n.mac) }),
            state: NEIGH_STATE_NAMES[n.state] ?? String(n.state),
            ...(permanent || incomplete ? {} : { age: Number((now - n.confirmed) / 1_000_000n) / 1000 }),
          },
        });
      }
    rows.sort((a, b) => a.family - b.family || Buffer.compare(a.addr, b.addr) || a.port - b.port);
    return rows.map((r) => r.row);
  }

  /** Adds a static (permanent) neighbour; the entry is rewritten to its canonical form. */
  neighAdd(entry: Record<string, unknown>): void {
    const unknown = Object.keys(entry).filter((k) => !["address", "mac", "port"].includes(k));
    if (unknown.length)
      throw new ValidationError(
        `unknown neighbour field${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (fields: address, mac, port)`,
      );
    const ip = typeof entry.address === "string" ? parseIp(entry.address) : undefined;
    if (!ip)
      throw new ValidationError(
        `address must be an IPv4 or IPv6 address (got ${JSON.stringify(entry.address)})`,
      );
    const mac = typeof entry.mac === "string" ? parseMac(entry.mac) : undefined;
    if (!mac || mac[0] & 1 || mac.every((x) => x === 0))
      throw new ValidationError(
        `mac must be a unicast MAC address like 02:00:00:00:00:01 (got ${JSON.stringify(entry.mac)})`,
      );
    let plan: PortPlan | undefined;
    if (entry.port !== undefined) {
      plan = this.plans.find((p) => p.name === entry.port);
      if (!plan)
        throw new ValidationError(
          `port ${String(entry.port)} does not exist (ports: ${this.plans.map((p) => p.name).join(", ") || "none"})`,
        );
    } else {
      if (ip.family === 6 && isLinkLocal6(ip.addr))
        throw new ValidationError(`${entry.address} is link-local: say which port it is on (port NAME)`);
      plan = onLink(this.links.connected, ip.family, ip.addr)?.port;
      if (!plan)
        throw new ValidationError(
          `${entry.address} is not on a connected subnet: say which port it is on (port NAME)`,
        );
    }
    const address = formatIp(ip.family, ip.addr);
    Object.assign(entry, { address, mac: formatMac(mac), port: plan.name });
    this.ctx
      .map("rtr_neigh_static")
      .update(staticNeighKey(address), encodeStaticNeigh({ address, port: plan.name, mac }));
    // One static entry per address: a previous one on another port goes.
    for (const p of this.plans)
      if (p.index !== plan.index) {
        const k = neighKey(ip.family, p.index, ip.addr);
        const cur = this.neighMap(ip.family).lookup(k);
        if (cur && decodeNeigh(cur).state === NeighState.PERMANENT) this.neighMap(ip.family).delete(k);
      }
    this.neighMap(ip.family).update(
      neighKey(ip.family, plan.index, ip.addr),
      encodeNeigh({ mac, state: NeighState.PERMANENT, flags: 0, confirmed: 0n }),
    );
    this.resolver.resolved(ip.family, plan.index, ip.addr, mac);
  }

  /** Removes a neighbour (static or learned) by address, on one port or all. */
  neighDelete(key: Record<string, unknown>): void {
    const ip = typeof key.address === "string" ? parseIp(key.address) : undefined;
    if (!ip) throw new ValidationError(`say which neighbour: address (got ${JSON.stringify(key.address)})`);
    const address = formatIp(ip.family, ip.addr);
    const plans = key.port === undefined ? this.plans : this.plans.filter((p) => p.name === key.port);
    if (key.port !== undefined && !plans.length)
      throw new ValidationError(`port ${String(key.port)} does not exist`);
    key.address = address;
    let found = this.ctx.map("rtr_neigh_static").delete(staticNeighKey(address));
    for (const p of plans)
      found = this.neighMap(ip.family).delete(neighKey(ip.family, p.index, ip.addr)) || found;
    if (!found)
      throw new NotFoundError(
        `no neighbour ${address}${key.port !== undefined ? ` on ${String(key.port)}` : ""}`,
      );
  }

  // ---- the `address` table ----

  addressList(): Record<string, unknown>[] {
    return this.plans.map((p) => ({
      port: p.name,
      mac: formatMac(p.mac),
      ipv4: p.v4.map(formatIfAddr),
      ipv6: [...p.v6.map(formatIfAddr), `${formatIp(6, p.ll6)}/64`],
      ...(p.mtu ? { mtu: p.mtu } : {}),
    }));
  }

  /** Port records as the data plane holds them (for tests and diagnostics). */
  portRecord(index: number) {
    const v = this.ctx.map("rtr_ports").lookup(u32(index));
    return v && decodePort(v);
  }

  destroy(): void {
    this.resolver.clear();
  }
}
