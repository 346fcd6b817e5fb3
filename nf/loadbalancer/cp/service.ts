// Service and backend definitions: parsed from table entries, checked alone and against the rest
// of the configuration (duplicate VIPs, families, DSR ports, limits). Errors name the service or
// backend and the field; nothing is applied until a whole change has been checked.
import { BACKEND_LEN, MAX_BACKENDS, MAX_SERVICES, NAME_LEN } from "./abi.js";
import { type Addr, formatAddr, formatEndpoint, parseAddr, parseEndpoint, parseMac } from "./addr.js";

export class DefinitionError extends Error {}

export type CheckKind = "tcp" | "http" | "none";

export interface HealthCheck {
  kind: CheckKind;
  /** HTTP: the path requested. */
  path: string;
  /** The port probed (default: the backend's). */
  port?: number;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive successes that put a failed backend back. */
  rise: number;
  /** Consecutive failures that take a backend out. */
  fall: number;
}

export interface Service {
  name: string;
  vip: Addr;
  proto: "tcp" | "udp";
  port: number;
  mode: "dnat" | "dsr";
  check: HealthCheck;
}

export interface Backend {
  service: string;
  addr: Addr;
  port: number;
  weight: number;
  /** Given explicitly: the MAC and the instance port (else resolved from the neighbour table). */
  mac?: Buffer;
  via?: string;
  /** Canonical ADDR:PORT text (the table key). */
  text: string;
}

/** Backends per service at most (each takes a Maglev turn per round: keep well below the ring). */
export const MAX_BACKENDS_PER_SERVICE = 1024;
export const MAX_WEIGHT = 10000;

const NAME_RE = /^[a-z0-9][a-z0-9_.-]*$/i;
const SERVICE_FIELDS = [
  "name",
  "vip",
  "proto",
  "port",
  "mode",
  "check",
  "path",
  "checkPort",
  "interval",
  "timeout",
  "rise",
  "fall",
];
const BACKEND_FIELDS = ["service", "backend", "weight", "mac", "via"];

function str(v: unknown): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  return typeof v === "string" ? v : typeof v === "number" ? String(v) : JSON.stringify(v);
}

function int(what: string, v: unknown, lo: number, hi: number, dflt: number): number {
  const s = str(v);
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isInteger(n) || n < lo || n > hi)
    throw new DefinitionError(`${what}: '${s}' is not a whole number from ${lo} to ${hi}`);
  return n;
}

function name(what: string, v: unknown): string {
  const s = str(v);
  if (s === undefined) throw new DefinitionError(`${what}: a name is required`);
  if (!NAME_RE.test(s) || Buffer.byteLength(s) >= NAME_LEN)
    throw new DefinitionError(
      `${what}: '${s}' is not a name (letters, digits, '.', '_', '-'; at most ${NAME_LEN - 1} characters)`,
    );
  return s;
}

function unknownFields(what: string, entry: Record<string, unknown>, known: string[]): void {
  const extra = Object.keys(entry).filter((k) => !known.includes(k) && entry[k] !== undefined);
  if (extra.length)
    throw new DefinitionError(
      `${what}: unknown field${extra.length > 1 ? "s" : ""} ${extra.map((x) => `'${x}'`).join(", ")} (fields: ${known.join(", ")})`,
    );
}

export function parseService(entry: Record<string, unknown>): Service {
  const n = name("service", entry.name);
  const what = `service ${n}`;
  unknownFields(what, entry, SERVICE_FIELDS);
  const vipText = str(entry.vip);
  if (!vipText) throw new DefinitionError(`${what}: vip (the virtual address) is required`);
  const vip = parseAddr(vipText);
  if (!vip) throw new DefinitionError(`${what}: vip '${vipText}' is not an IPv4 or IPv6 address`);
  if (str(entry.port) === undefined) throw new DefinitionError(`${what}: port is required`);
  const port = int(`${what}: port`, entry.port, 1, 65535, 0);
  const proto = str(entry.proto) ?? "tcp";
  if (proto !== "tcp" && proto !== "udp")
    throw new DefinitionError(`${what}: proto '${proto}' is not tcp or udp`);
  const mode = str(entry.mode) ?? "dnat";
  if (mode !== "dnat" && mode !== "dsr")
    throw new DefinitionError(`${what}: mode '${mode}' is not dnat or dsr`);
  const kind = str(entry.check) ?? (proto === "tcp" ? "tcp" : "none");
  if (kind !== "tcp" && kind !== "http" && kind !== "none")
    throw new DefinitionError(`${what}: check '${kind}' is not tcp, http or none`);
  if (proto === "udp" && kind !== "none")
    throw new DefinitionError(`${what}: check ${kind} needs a TCP service (a UDP service has check=none)`);
  const path = str(entry.path) ?? "/";
  if (!path.startsWith("/") || /\s/.test(path))
    throw new DefinitionError(`${what}: path '${path}' must start with '/' and have no spaces`);
  if (str(entry.path) !== undefined && kind !== "http")
    throw new DefinitionError(`${what}: path is only for check=http`);
  const intervalMs = int(`${what}: interval`, entry.interval, 100, 3_600_000, 2000);
  const timeoutMs = int(`${what}: timeout`, entry.timeout, 50, 3_600_000, Math.min(1000, intervalMs));
  if (timeoutMs > intervalMs)
    throw new DefinitionError(
      `${what}: timeout ${timeoutMs} ms is longer than the interval ${intervalMs} ms`,
    );
  const checkPort =
    str(entry.checkPort) === undefined ? undefined : int(`${what}: checkPort`, entry.checkPort, 1, 65535, 0);
  return {
    name: n,
    vip,
    proto,
    port,
    mode,
    check: {
      kind,
      path,
      port: checkPort,
      intervalMs,
      timeoutMs,
      rise: int(`${what}: rise`, entry.rise, 1, 100, 2),
      fall: int(`${what}: fall`, entry.fall, 1, 100, 3),
    },
  };
}

/** The canonical table entry of a service (what the desired state keeps). */
export function serviceEntry(s: Service): Record<string, unknown> {
  const e: Record<string, unknown> = {
    name: s.name,
    vip: formatAddr(s.vip.family, s.vip.bytes),
    proto: s.proto,
    port: s.port,
    mode: s.mode,
    check: s.check.kind,
  };
  if (s.check.kind === "http") e.path = s.check.path;
  if (s.check.port !== undefined) e.checkPort = s.check.port;
  if (s.check.kind !== "none") {
    e.interval = s.check.intervalMs;
    e.timeout = s.check.timeoutMs;
    e.rise = s.check.rise;
    e.fall = s.check.fall;
  }
  return e;
}

/** Parses a backend of `service` (undefined: the service does not exist). */
export function parseBackend(entry: Record<string, unknown>, service: Service | undefined): Backend {
  const svcName = name("backend", entry.service);
  const text = str(entry.backend);
  const what = `backend ${text ?? "?"} of ${svcName}`;
  unknownFields(what, entry, BACKEND_FIELDS);
  if (!service) throw new DefinitionError(`${what}: there is no service ${svcName}`);
  if (!text) throw new DefinitionError(`${what}: backend=ADDR[:PORT] is required`);
  const ep = parseEndpoint(text);
  if (!ep) throw new DefinitionError(`${what}: '${text}' is not ADDR, ADDR:PORT or [IPV6]:PORT`);
  if (ep.addr.family !== service.vip.family)
    throw new DefinitionError(
      `${what}: an IPv${ep.addr.family} backend for the IPv${service.vip.family} service ${svcName}`,
    );
  const port = ep.port ?? service.port;
  if (service.mode === "dsr" && port !== service.port)
    throw new DefinitionError(
      `${what}: port ${port} differs from the service's ${service.port}, which DSR cannot change (the backend answers as the VIP)`,
    );
  const macText = str(entry.mac);
  const via = str(entry.via);
  let mac: Buffer | undefined;
  if (macText !== undefined) {
    mac = parseMac(macText);
    if (!mac) throw new DefinitionError(`${what}: mac '${macText}' is not a MAC address`);
  }
  if ((mac === undefined) !== (via === undefined))
    throw new DefinitionError(`${what}: mac and via (the port it is reached through) go together`);
  const canon = formatEndpoint(ep.addr.family, ep.addr.bytes, port);
  if (Buffer.byteLength(canon) >= BACKEND_LEN) throw new DefinitionError(`${what}: too long`);
  return {
    service: svcName,
    addr: ep.addr,
    port,
    weight: int(`${what}: weight`, entry.weight, 0, MAX_WEIGHT, 1),
    ...(mac ? { mac, via } : {}),
    text: canon,
  };
}

export function backendEntry(b: Backend): Record<string, unknown> {
  const e: Record<string, unknown> = { service: b.service, backend: b.text, weight: b.weight };
  if (b.mac) {
    e.mac = [...b.mac].map((x) => x.toString(16).padStart(2, "0")).join(":");
    e.via = b.via;
  }
  return e;
}

const vipKey = (s: Service) => `${s.proto}/${formatEndpoint(s.vip.family, s.vip.bytes, s.port)}`;

/** Checks a whole configuration: VIPs used once, limits kept. Throws naming the offender. */
export function checkConfiguration(services: readonly Service[], backends: readonly Backend[]): void {
  if (services.length > MAX_SERVICES)
    throw new DefinitionError(
      `service ${services[services.length - 1].name}: more than ${MAX_SERVICES} services`,
    );
  const byVip = new Map<string, string>();
  for (const s of services) {
    const k = vipKey(s);
    const other = byVip.get(k);
    if (other !== undefined)
      throw new DefinitionError(`service ${s.name}: ${k} is already service ${other}'s`);
    byVip.set(k, s.name);
  }
  if (backends.length > MAX_BACKENDS)
    throw new DefinitionError(
      `backend ${backends[backends.length - 1].text}: more than ${MAX_BACKENDS} backends in all`,
    );
  const per = new Map<string, number>();
  for (const b of backends) {
    const n = (per.get(b.service) ?? 0) + 1;
    per.set(b.service, n);
    if (n > MAX_BACKENDS_PER_SERVICE)
      throw new DefinitionError(
        `backend ${b.text} of ${b.service}: more than ${MAX_BACKENDS_PER_SERVICE} backends in one service`,
      );
  }
}
