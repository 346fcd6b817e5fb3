// Connection tables by zone. Every firewall instance of a zone points its fw_ct_ref at the zone's
// table (an LRU hash of px_conntrack.h entries), so a firewall on a port's ingress and one on its
// egress see the same connections, as the kernel's conntrack does for all of a host's hooks.
// The tables live as long as an instance points at them (the pinned fw_ct_ref keeps them across
// daemon restarts; a restarted daemon finds them through it). Expired entries are deleted here.
import { BpfMap } from "../../../src/bpf/map/map.js";
import { MapType } from "../../../src/bpf/constants.js";
import { formatIp } from "./addr.js";
import { CT_ENTRY_SIZE, CT_KEY_SIZE, CtFlag, TCP_STATE_NAMES, decodeCt, u32, type CtEntry } from "./abi.js";
import { ICMP, ICMPV6, PROTOCOLS, TCP, UDP } from "./rules.js";

/** Connections one zone tracks at most (least recently used ones make room for new ones). */
export const CT_MAX_ENTRIES = 262144;
/** How often a zone's expired entries are removed. */
export const GC_INTERVAL_MS = 5000;

interface Zone {
  map: BpfMap;
  /** Instances pointing at the table, by their fw_cfg map id (unique per instance and daemon). */
  users: Set<number>;
  lastGc: number;
}

const zones = new Map<string, Zone>();
/** Which zone each instance is in. */
const zoneOf = new Map<number, string>();

const nowNs = (): bigint => process.hrtime.bigint();

/** The id of the table an instance's fw_ct_ref holds (0: none). */
function currentTable(outer: BpfMap): number {
  return outer.lookup(u32(0))?.readUInt32LE(0) ?? 0;
}

function createTable(): BpfMap {
  return BpfMap.create({
    type: MapType.LRU_HASH,
    keySize: CT_KEY_SIZE,
    valueSize: CT_ENTRY_SIZE,
    maxEntries: CT_MAX_ENTRIES,
    name: "fw_conntrack",
  });
}

/**
 * Points instance `user`'s fw_ct_ref at zone `zone`'s table: the zone's table when another instance
 * has it open, else the one the instance already holds (a daemon restart), else a new one.
 */
export function joinZone(user: number, zone: string, outer: BpfMap): BpfMap {
  leaveZone(user, zone);
  let z = zones.get(zone);
  const have = currentTable(outer);
  if (!z) {
    let map: BpfMap | undefined;
    if (have) {
      try {
        map = BpfMap.fromId(have);
      } catch {
        map = undefined;
      }
    }
    z = { map: map ?? createTable(), users: new Set(), lastGc: 0 };
    zones.set(zone, z);
  }
  z.users.add(user);
  zoneOf.set(user, zone);
  if (have !== z.map.id) outer.update(u32(0), u32(z.map.fd));
  return z.map;
}

/** Forgets `user`'s zone (except `keep`); a table no instance uses is closed. */
export function leaveZone(user: number, keep?: string): void {
  const name = zoneOf.get(user);
  if (name === undefined || name === keep) return;
  zoneOf.delete(user);
  const z = zones.get(name);
  if (!z) return;
  z.users.delete(user);
  if (!z.users.size) {
    z.map.close();
    zones.delete(name);
  }
}

/** The table of the zone `user` is in. */
export function tableOf(user: number): BpfMap | undefined {
  const name = zoneOf.get(user);
  return name === undefined ? undefined : zones.get(name)?.map;
}

/** Deletes the expired entries of `user`'s zone when they are due; returns how many went. */
export function collectExpired(user: number, force = false): number {
  const name = zoneOf.get(user);
  const z = name === undefined ? undefined : zones.get(name);
  if (!z) return 0;
  const t = performance.now();
  if (!force && t - z.lastGc < GC_INTERVAL_MS) return 0;
  z.lastGc = t;
  const now = nowNs();
  const dead: Buffer[] = [];
  for (const [k, v] of z.map.entriesBatched(4096)) if (v.readBigUInt64LE(0) < now) dead.push(k);
  if (dead.length) z.map.deleteBatch(dead);
  return dead.length;
}

const PROTO_NAMES = Object.fromEntries(Object.entries(PROTOCOLS).map(([k, v]) => [v, k]));

/** A connection as `conntrack show` lists it: in the direction it was opened. */
export function connectionView(e: CtEntry, now: bigint): Record<string, unknown> {
  const origLo = (e.flags & CtFlag.ORIG_LO) !== 0;
  const [sa, sp, da, dp] = origLo
    ? [e.addrLo, e.portLo, e.addrHi, e.portHi]
    : [e.addrHi, e.portHi, e.addrLo, e.portLo];
  const replied = (e.flags & CtFlag.SEEN_REPLY) !== 0;
  const row: Record<string, unknown> = {
    family: e.family === 4 ? "ipv4" : "ipv6",
    proto: PROTO_NAMES[e.proto] ?? e.proto,
    src: formatIp(e.family, sa),
    dst: formatIp(e.family, da),
  };
  if (e.proto === ICMP || e.proto === ICMPV6) row.id = sp;
  else if (e.proto === TCP || e.proto === UDP || e.proto === 132) {
    row.sport = sp;
    row.dport = dp;
  }
  row.state = e.proto === TCP ? (TCP_STATE_NAMES[e.tcp] ?? String(e.tcp)) : replied ? "replied" : "unreplied";
  row.replied = replied;
  row.expires = Math.max(0, Number((e.expires - now) / 1_000_000n) / 1000);
  return row;
}

/** The live connections of `user`'s zone. */
export function listConnections(user: number): Record<string, unknown>[] {
  const map = tableOf(user);
  if (!map) return [];
  const now = nowNs();
  const rows: Record<string, unknown>[] = [];
  for (const [k, v] of map.entriesBatched(4096)) {
    const e = decodeCt(k, v);
    if (e.expires >= now) rows.push(connectionView(e, now));
  }
  return rows;
}

/** Deletes the connections whose listed fields equal every field of `filter` ({}: all of them). */
export function deleteConnections(user: number, filter: Record<string, unknown>): number {
  const map = tableOf(user);
  if (!map) return 0;
  const now = nowNs();
  const want = Object.entries(filter).filter(([, v]) => v !== undefined && v !== "");
  const dead: Buffer[] = [];
  for (const [k, v] of map.entriesBatched(4096)) {
    const row = connectionView(decodeCt(k, v), now);
    if (want.every(([f, x]) => String(row[f]) === String(x))) dead.push(k);
  }
  if (dead.length) map.deleteBatch(dead);
  return dead.length;
}
