// Session and connection tables by zone. Every NAT instance of a zone points its nat_sess_ref and
// nat_ct_ref at the zone's two tables, so that the instance that maps connections where traffic
// leaves and the one that translates replies where it comes back share the mappings. The pinned
// references keep the tables across daemon restarts (a restarted daemon finds them through them).
// Expired connections are removed here, both session entries with their conntrack entry.
import { BpfMap } from "../../../src/bpf/map/map.js";
import { MapType } from "../../../src/bpf/constants.js";
import {
  CT_ENTRY_SIZE,
  CT_KEY_SIZE,
  SESS_SIZE,
  SessFlag,
  TUPLE_SIZE,
  ctKey,
  decodeCt,
  decodeSession,
  decodeTuple,
  encodeTuple,
  reverse,
  translated,
  u32,
  type CtEntry,
  type Session,
  type Tuple,
} from "./abi.js";

/** How often a zone's expired connections are removed. */
export const GC_INTERVAL_MS = 5000;

export interface ZoneTables {
  sess: BpfMap;
  ct: BpfMap;
}

interface Zone extends ZoneTables {
  users: Set<number>;
  lastGc: number;
}

const zones = new Map<string, Zone>();
const zoneOf = new Map<number, string>();

const nowNs = (): bigint => process.hrtime.bigint();

function held(outer: BpfMap): BpfMap | undefined {
  const id = outer.lookup(u32(0))?.readUInt32LE(0) ?? 0;
  if (!id) return undefined;
  try {
    return BpfMap.fromId(id);
  } catch {
    return undefined;
  }
}

/**
 * Points instance `user`'s references at zone `zone`'s tables: those another instance has open,
 * else those the instance already holds (a daemon restart), else new ones for `maxConnections`.
 */
export function joinZone(
  user: number,
  zone: string,
  refs: { sess: BpfMap; ct: BpfMap },
  maxConnections: number,
): ZoneTables {
  leaveZone(user, zone);
  let z = zones.get(zone);
  if (!z) {
    const sess = held(refs.sess);
    const ct = held(refs.ct);
    z = {
      sess:
        sess ??
        BpfMap.create({
          type: MapType.HASH,
          keySize: TUPLE_SIZE,
          valueSize: SESS_SIZE,
          maxEntries: maxConnections * 2,
          name: "nat_sessions",
        }),
      ct:
        ct ??
        BpfMap.create({
          type: MapType.HASH,
          keySize: CT_KEY_SIZE,
          valueSize: CT_ENTRY_SIZE,
          maxEntries: maxConnections,
          name: "nat_conntrack",
        }),
      users: new Set(),
      lastGc: 0,
    };
    zones.set(zone, z);
  }
  z.users.add(user);
  zoneOf.set(user, zone);
  for (const [outer, inner] of [
    [refs.sess, z.sess],
    [refs.ct, z.ct],
  ] as const)
    if ((outer.lookup(u32(0))?.readUInt32LE(0) ?? 0) !== inner.id) outer.update(u32(0), u32(inner.fd));
  return z;
}

/** Forgets `user`'s zone (unless it is `keep`); tables no instance uses are closed. */
export function leaveZone(user: number, keep?: string): void {
  const name = zoneOf.get(user);
  if (name === undefined || name === keep) return;
  zoneOf.delete(user);
  const z = zones.get(name);
  if (!z) return;
  z.users.delete(user);
  if (!z.users.size) {
    z.sess.close();
    z.ct.close();
    zones.delete(name);
  }
}

export function tablesOf(user: number): ZoneTables | undefined {
  const name = zoneOf.get(user);
  return name === undefined ? undefined : zones.get(name);
}

/** One mapped connection: its original entry, the reply entry's key, its conntrack state. */
export interface Mapping {
  orig: Tuple;
  sess: Session;
  /** The reply entry's key (what replies carry on the wire). */
  replyKey: Buffer;
  ctKey: Buffer;
  ct?: CtEntry;
}

/** Every mapped connection of the zone (entries read in batches, no syscall per entry). */
export function mappings(t: ZoneTables): { maps: Mapping[]; orphans: Buffer[] } {
  const cts = new Map<string, CtEntry>();
  for (const [k, v] of t.ct.entriesBatched(4096)) cts.set(k.toString("hex"), decodeCt(v));
  const origs = new Set<string>();
  const replies: [Buffer, Session][] = [];
  const maps: Mapping[] = [];
  for (const [k, v] of t.sess.entriesBatched(4096)) {
    const s = decodeSession(v);
    if (s.flags & SessFlag.REPLY) {
      replies.push([Buffer.from(k), s]);
      continue;
    }
    const orig = decodeTuple(k);
    const key = ctKey(orig);
    origs.add(k.toString("hex"));
    maps.push({
      orig,
      sess: s,
      replyKey: encodeTuple(reverse(translated(orig, s))),
      ctKey: key,
      ct: cts.get(key.toString("hex")),
    });
  }
  // A reply entry whose original one is gone (a half-made mapping) belongs to nothing.
  const orphans: Buffer[] = [];
  for (const [k, s] of replies) {
    const t2 = decodeTuple(k);
    const orig = encodeTuple(reverse(translated(t2, s)));
    if (!origs.has(orig.toString("hex"))) orphans.push(k);
  }
  return { maps, orphans };
}

/** Deletes the given mappings (both session entries and the conntrack entry). */
export function deleteMappings(t: ZoneTables, ms: readonly Mapping[]): void {
  // One by one: a batch delete stops at the first key the data plane removed meanwhile.
  for (const m of ms) {
    t.sess.delete(encodeTuple(m.orig));
    t.sess.delete(m.replyKey);
    t.ct.delete(m.ctKey);
  }
}

/** Removes the zone's expired connections when due; returns how many went. */
export function collectExpired(user: number, force = false): number {
  const name = zoneOf.get(user);
  const z = name === undefined ? undefined : zones.get(name);
  if (!z) return 0;
  const t = performance.now();
  if (!force && t - z.lastGc < GC_INTERVAL_MS) return 0;
  z.lastGc = t;
  const now = nowNs();
  const { maps, orphans } = mappings(z);
  const dead = maps.filter((m) => {
    if (m.ct && m.ct.expires >= now) return false;
    // Look again: the data plane may have renewed or recreated it since the dump.
    const v = z.ct.lookup(m.ctKey);
    return !v || decodeCt(v).expires < now;
  });
  for (const m of dead) {
    z.sess.delete(encodeTuple(m.orig));
    z.sess.delete(m.replyKey);
    const v = z.ct.lookup(m.ctKey);
    if (v && decodeCt(v).expires < now) z.ct.delete(m.ctKey);
  }
  for (const k of orphans) z.sess.delete(k);
  return dead.length;
}
