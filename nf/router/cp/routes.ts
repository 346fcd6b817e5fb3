// Routes: the user's static route entries (parsed and checked), the connected routes that port
// addresses make, and what the data plane's longest-prefix-match tries must hold as a result.
import {
  AddressError,
  formatIp,
  formatPrefix,
  isLinkLocal6,
  isUnusable,
  maskAddr,
  parseIp,
  parsePrefix,
  prefixContains,
  type Family,
  type Prefix,
} from "./addr.js";
import { RouteType, fibKey, encodeRoute, type FibRoute, type RibRecord, type RouteTypeCode } from "./abi.js";
import type { PortPlan } from "./config.js";

export const ROUTE_TYPES = ["unicast", "blackhole", "unreachable", "prohibit"] as const;
export type StaticRouteType = (typeof ROUTE_TYPES)[number];

export interface StaticRoute {
  prefix: Prefix;
  via?: Buffer;
  port?: string;
  metric: number;
  type: StaticRouteType;
}

export class RouteError extends Error {
  override name = "RouteError";
}

const ENTRY_FIELDS = new Set(["prefix", "via", "port", "metric", "type"]);

function text(entry: Record<string, unknown>, field: string): string | undefined {
  const v = entry[field];
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new RouteError(`${field} must be a string (got ${JSON.stringify(v)})`);
  return v.trim();
}

/** Parses a route entry as the API / CLI gives it: {prefix, via?, port?, metric?, type?}. */
export function parseRouteEntry(entry: Record<string, unknown>): StaticRoute {
  const unknown = Object.keys(entry).filter((k) => !ENTRY_FIELDS.has(k));
  if (unknown.length)
    throw new RouteError(
      `unknown route field${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (fields: prefix, via, port, metric, type)`,
    );
  const prefixText = text(entry, "prefix");
  if (!prefixText) throw new RouteError("a route needs a prefix, e.g. 198.18.2.0/24 or fd00:2::/64");
  let prefix: Prefix;
  try {
    prefix = parsePrefix(prefixText);
  } catch (e) {
    throw new RouteError((e as AddressError).message);
  }
  const type = (text(entry, "type") ?? "unicast") as StaticRouteType;
  if (!ROUTE_TYPES.includes(type))
    throw new RouteError(`type '${type}': expected one of ${ROUTE_TYPES.join(", ")}`);
  let metric = 0;
  const m = entry.metric;
  if (m !== undefined && m !== null && m !== "") {
    metric = typeof m === "string" && /^\d+$/.test(m.trim()) ? Number(m) : typeof m === "number" ? m : NaN;
    if (!Number.isInteger(metric) || metric < 0 || metric > 0xffffffff)
      throw new RouteError(`metric must be an integer from 0 to 4294967295 (got ${JSON.stringify(m)})`);
  }
  const viaText = text(entry, "via");
  const port = text(entry, "port");
  const route: StaticRoute = { prefix, metric, type, ...(port ? { port } : {}) };
  if (type !== "unicast") {
    if (viaText || port) throw new RouteError(`a ${type} route takes no via or port`);
    return route;
  }
  if (!viaText && !port)
    throw new RouteError(
      `route ${formatPrefix(prefix)} needs a next hop (via ADDRESS) or a port (port NAME)`,
    );
  if (viaText) {
    const via = parseIp(viaText);
    if (!via) throw new RouteError(`via '${viaText}' is not an IPv4 or IPv6 address`);
    if (via.family !== prefix.family)
      throw new RouteError(
        `via ${viaText} is IPv${via.family} but the prefix ${formatPrefix(prefix)} is IPv${prefix.family}`,
      );
    if (isUnusable(via.family, via.addr))
      throw new RouteError(`via ${viaText} cannot be a next hop (not a unicast address)`);
    if (via.family === 6 && isLinkLocal6(via.addr) && !port)
      throw new RouteError(`via ${viaText} is link-local: say which port it is on (port NAME)`);
    route.via = via.addr;
  }
  return route;
}

export function routeToRecord(r: StaticRoute): RibRecord {
  return {
    prefix: formatPrefix(r.prefix),
    via: r.via ? formatIp(r.prefix.family, r.via) : "",
    port: r.port ?? "",
    type: r.type === "unicast" ? "" : r.type,
    metric: r.metric,
  };
}

export function routeFromRecord(rec: RibRecord): StaticRoute {
  return parseRouteEntry({
    prefix: rec.prefix,
    ...(rec.via ? { via: rec.via } : {}),
    ...(rec.port ? { port: rec.port } : {}),
    ...(rec.type ? { type: rec.type } : {}),
    metric: rec.metric,
  });
}

/** Orders prefixes as `ip route` lists them: by family, then address, then length. */
export function comparePrefix(a: Prefix, b: Prefix): number {
  return a.family - b.family || Buffer.compare(a.addr, b.addr) || a.plen - b.plen;
}

/** The user-facing form of a static route. */
export function routeView(r: StaticRoute): Record<string, unknown> {
  const rec = routeToRecord(r);
  return {
    prefix: rec.prefix,
    ...(rec.via ? { via: rec.via } : {}),
    ...(rec.port ? { port: rec.port } : {}),
    metric: rec.metric,
    type: r.type,
  };
}

/** A connected subnet: a port address's prefix. */
export interface Connected {
  prefix: Prefix;
  port: PortPlan;
}

export function connectedRoutes(plans: readonly PortPlan[]): Connected[] {
  const out: Connected[] = [];
  for (const p of plans)
    for (const a of [...p.v4, ...p.v6])
      out.push({ prefix: { family: a.family, addr: maskAddr(a.addr, a.plen), plen: a.plen }, port: p });
  return out;
}

/** The connected subnet with the longest prefix holding `addr` (on `port` if given). */
export function onLink(
  connected: readonly Connected[],
  family: Family,
  addr: Uint8Array,
  port?: string,
): Connected | undefined {
  let best: Connected | undefined;
  for (const c of connected)
    if (
      (!port || c.port.name === port) &&
      prefixContains(c.prefix, family, addr) &&
      (!best || c.prefix.plen > best.prefix.plen)
    )
      best = c;
  return best;
}

/** What routes are resolved against: the ports, their subnets and the router's own addresses. */
export interface Links {
  plans: readonly PortPlan[];
  connected: readonly Connected[];
  /** Every own address (link-local ones included). */
  own: readonly Buffer[];
  /** The prefixes that interface entries hold ("198.18.1.0/24", "198.18.1.254/32"...). */
  ifacePrefixes: ReadonlySet<string>;
}

export function linksOf(plans: readonly PortPlan[]): Links {
  const own: Buffer[] = [];
  const ifacePrefixes = new Set<string>();
  for (const p of plans) {
    for (const a of [...p.v4, ...p.v6]) {
      own.push(a.addr);
      ifacePrefixes.add(formatPrefix({ family: a.family, addr: maskAddr(a.addr, a.plen), plen: a.plen }));
      ifacePrefixes.add(`${formatIp(a.family, a.addr)}/${a.family === 4 ? 32 : 128}`);
    }
    own.push(p.ll6);
    ifacePrefixes.add(`${formatIp(6, p.ll6)}/128`);
  }
  return { plans, connected: connectedRoutes(plans), own, ifacePrefixes };
}

const REJECT_TYPES: Partial<Record<StaticRouteType, RouteTypeCode>> = {
  blackhole: RouteType.BLACKHOLE,
  unreachable: RouteType.UNREACHABLE,
  prohibit: RouteType.PROHIBIT,
};
const ZERO4 = Buffer.alloc(4);
const ZERO16 = Buffer.alloc(16);

/** Where a static route leads now, or why it cannot be installed. */
export function resolveRoute(r: StaticRoute, links: Links): { route: FibRoute } | { inactive: string } {
  const fam = r.prefix.family;
  const plen = r.prefix.plen;
  const zero = fam === 4 ? ZERO4 : ZERO16;
  const reject = REJECT_TYPES[r.type];
  if (reject) return { route: { type: reject, port: 0, nh: zero, plen } };
  const port = r.port ? links.plans.find((p) => p.name === r.port) : undefined;
  if (r.port && !port) return { inactive: `port ${r.port} does not exist` };
  const via = r.via;
  if (!via) return { route: { type: RouteType.CONNECTED, port: port?.index ?? 0, nh: zero, plen } };
  for (const a of links.own)
    if (a.length === via.length && a.equals(via))
      return { inactive: `next hop ${formatIp(fam, via)} is one of the router's own addresses` };
  if (fam === 6 && isLinkLocal6(via)) {
    if (!port) return { inactive: "a link-local next hop needs a port" };
    return { route: { type: RouteType.GATEWAY, port: port.index, nh: via, plen } };
  }
  const c = onLink(links.connected, fam, via, r.port);
  if (!c) {
    const subnets = links.connected
      .filter((x) => x.prefix.family === fam && (!r.port || x.port.name === r.port))
      .map((x) => `${formatPrefix(x.prefix)} on ${x.port.name}`);
    return {
      inactive: `next hop ${formatIp(fam, via)} is not on a connected subnet${r.port ? ` of port ${r.port}` : ""} (connected: ${subnets.join(", ") || "none"})`,
    };
  }
  return { route: { type: RouteType.GATEWAY, port: c.port.index, nh: via, plen } };
}

/** One entry of the data plane's tries. */
export interface FibEntry {
  family: Family;
  key: Buffer;
  value: Buffer;
}

export const fibId = (family: Family, key: Buffer): string => `${family}:${key.toString("hex")}`;

function entry(family: Family, addr: Uint8Array, plen: number, r: FibRoute): [string, FibEntry] {
  const key = fibKey(family, addr, plen);
  return [fibId(family, key), { family, key, value: encodeRoute(family, r) }];
}

/** The router's own addresses (/32, /128, link-local included) and the connected subnets. */
export function interfaceEntries(plans: readonly PortPlan[]): Map<string, FibEntry> {
  const out = new Map<string, FibEntry>();
  for (const p of plans) {
    for (const a of [...p.v4, ...p.v6]) {
      const zero = Buffer.alloc(a.family === 4 ? 4 : 16);
      const full = a.family === 4 ? 32 : 128;
      out.set(
        ...entry(a.family, maskAddr(a.addr, a.plen), a.plen, {
          type: RouteType.CONNECTED,
          port: p.index,
          nh: zero,
          plen: a.plen,
        }),
      );
      out.set(
        ...entry(a.family, a.addr, full, { type: RouteType.LOCAL, port: p.index, nh: zero, plen: full }),
      );
    }
    out.set(
      ...entry(6, p.ll6, 128, { type: RouteType.LOCAL, port: p.index, nh: Buffer.alloc(16), plen: 128 }),
    );
  }
  return out;
}

/** The entry a static route installs, unless an interface entry holds its prefix already. */
export function staticEntry(r: StaticRoute, resolved: FibRoute): [string, FibEntry] {
  return entry(r.prefix.family, r.prefix.addr, r.prefix.plen, resolved);
}
