// Writes the bridge's port view (layout.ts) into its maps: port records, the flood list per VLAN
// and, for XDP, a devmap per distinct member set (shared by every VLAN with that set) plus the
// interface -> port table of the devmap egress program.
// Every function compares with what the maps hold and writes only differences, so running it
// again (after a daemon restart, say) changes nothing.
import { BatchCursor, BpfMap } from "../../src/bpf/map/map.js";
import { MapType } from "../../src/bpf/constants.js";
import type { InstanceContext } from "../../src/core/nf-api.js";
import {
  EGRESS_PROGRAM,
  FLOOD_RECORD_SIZE,
  MAX_PORTS,
  Maps,
  PORT_RECORD_SIZE,
  VLAN_IDS,
  encodeDevmapValue,
  encodeFlood,
  encodeIfport,
  encodePort,
  type FloodList,
  u32,
} from "./abi.js";
import { broadcastSets, type BridgePort } from "./layout.js";

function put(map: BpfMap, key: Buffer, want: Buffer): void {
  const cur = map.lookupView(key);
  if (!cur || !cur.equals(want)) map.update(key, want);
}

/** Every value of an array map, by batched lookups: value i at i * valueSize. */
function readArray(map: BpfMap): Buffer {
  const all = Buffer.alloc(map.maxEntries * map.valueSize);
  const cursor = new BatchCursor();
  const out = map.batchBuffers(map.maxEntries);
  while (!cursor.done) {
    const c = map.lookupBatch(cursor, map.maxEntries, out);
    for (let i = 0; i < c.count; i++)
      c.values.copy(
        all,
        c.keys.readUInt32LE(i * 4) * map.valueSize,
        i * map.valueSize,
        (i + 1) * map.valueSize,
      );
  }
  return all;
}

/** Writes, in one batch, the values of an array map where `want` differs from `current`. */
function writeArray(map: BpfMap, current: Buffer, want: Buffer): void {
  const size = map.valueSize;
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  for (let i = 0; i < map.maxEntries; i++) {
    const at = i * size;
    if (want.compare(current, at, at + size, at, at + size) !== 0) {
      keys.push(u32(i));
      values.push(want.subarray(at, at + size));
    }
  }
  map.updateBatch(keys, values);
}

export function syncPortRecords(ctx: InstanceContext, ports: readonly BridgePort[]): void {
  const map = ctx.map(Maps.port);
  const want = Buffer.alloc(map.maxEntries * PORT_RECORD_SIZE);
  for (const p of ports)
    if (p.index < map.maxEntries) encodePort(p.record).copy(want, p.index * PORT_RECORD_SIZE);
  writeArray(map, readArray(map), want);
}

/** The flood lists as they are: all VLANs in one buffer, VLAN v at v * FLOOD_RECORD_SIZE. */
export const readFloodLists = (ctx: InstanceContext): Buffer => readArray(ctx.map(Maps.floodList));

/** VLANs whose flood list (as read by readFloodLists) names any port. */
export function vlansWithMembers(all: Buffer): number[] {
  const out: number[] = [];
  for (let v = 0; v < VLAN_IDS; v++) if (all.readUInt16LE(v * FLOOD_RECORD_SIZE + 2) > 0) out.push(v);
  return out;
}

/** The flood lists (TC copies to them; XDP reads their sizes), given what they are now. */
export function syncFloodLists(
  ctx: InstanceContext,
  lists: ReadonlyMap<number, FloodList>,
  current: Buffer,
): void {
  const want = Buffer.alloc(VLAN_IDS * FLOOD_RECORD_SIZE);
  for (const [v, list] of lists) encodeFlood(list, want, v * FLOOD_RECORD_SIZE);
  writeArray(ctx.map(Maps.floodList), current, want);
}

function syncIfports(ctx: InstanceContext, ports: readonly BridgePort[]): void {
  const map = ctx.map(Maps.ifports);
  const want = new Map<number, Buffer>();
  for (const p of ports)
    if (p.connected && p.floodIfindex !== undefined)
      want.set(p.floodIfindex, encodeIfport(p.index, ctx.slot));
  for (const k of [...map.keys()]) if (!want.has(k.readUInt32LE(0))) map.delete(k);
  for (const [ifindex, v] of want) put(map, u32(ifindex), v);
}

/** ifindex -> devmap value, for a set of ports. */
function devmapContents(set: readonly BridgePort[], progFd: number): Map<number, Buffer> {
  return new Map(
    set.map((p) => [p.floodIfindex as number, encodeDevmapValue(p.floodIfindex as number, progFd)]),
  );
}

/** A devmap's contents as read back (the program by id): "ifindex:progId,...", for comparison. */
function devmapSignature(map: BpfMap): string {
  const parts: string[] = [];
  for (const [k, v] of map.entries())
    parts.push(`${k.readUInt32LE(0)}:${v.readUInt32LE(0)}:${v.readUInt32LE(4)}`);
  return parts.sort().join(",");
}

const wantedSignature = (set: readonly BridgePort[], progId: number): string =>
  set
    .map((p) => `${p.floodIfindex}:${p.floodIfindex}:${progId}`)
    .sort()
    .join(",");

/**
 * The devmaps of the VLANs in `vlans` (those that have or had members: no other VLAN can point at
 * a devmap that matters, since the data plane floods only where the flood list has two members).
 */
export function syncXdpFlood(
  ctx: InstanceContext,
  ports: readonly BridgePort[],
  vlans: Iterable<number>,
): void {
  syncIfports(ctx, ports);
  const egress = ctx.program(EGRESS_PROGRAM);
  const outer = ctx.map(Maps.floodXdp);
  const opened = new Map<number, BpfMap>();
  try {
    // What the VLANs point at now, by devmap id, and what each of those devmaps holds.
    const current = new Map<number, number>();
    const bySignature = new Map<string, BpfMap>();
    const candidates = [...new Set(vlans)].filter((v) => v >= 0 && v < VLAN_IDS).sort((a, b) => a - b);
    for (const v of candidates) {
      const id = outer.lookupView(u32(v))?.readUInt32LE(0);
      if (id === undefined) continue;
      current.set(v, id);
      if (!opened.has(id)) {
        const m = BpfMap.fromId(id);
        opened.set(id, m);
        bySignature.set(devmapSignature(m), m);
      }
    }
    // One devmap per distinct member set: reuse one holding exactly that, or make one. VLANs that
    // lost their set point at an empty one: emptying slots one by one (a delete each, with an RCU
    // grace period each) takes seconds for thousands of VLANs; a batch update takes milliseconds.
    const sets = broadcastSets(ports);
    const chosen = new Map<string, BpfMap>();
    const devmapFor = (sig: string, set: readonly BridgePort[]): BpfMap => {
      let m = chosen.get(sig) ?? bySignature.get(sig);
      if (!m) {
        m = BpfMap.create({
          type: MapType.DEVMAP_HASH,
          keySize: 4,
          valueSize: 8,
          maxEntries: MAX_PORTS,
          name: "br_flood_set",
        });
        opened.set(m.id, m);
        for (const [ifindex, value] of devmapContents(set, egress.fd)) m.update(u32(ifindex), value);
      }
      chosen.set(sig, m);
      return m;
    };
    const keys: Buffer[] = [];
    const fds: Buffer[] = [];
    for (const v of candidates) {
      const set = sets.get(v);
      if (!set && !current.has(v)) continue;
      const m = set ? devmapFor(wantedSignature(set, egress.id), set) : devmapFor("", []);
      if (current.get(v) !== m.id) {
        keys.push(u32(v));
        fds.push(u32(m.fd));
      }
    }
    outer.updateBatch(keys, fds);
  } finally {
    // The outer map keeps the devmaps it points at; ours were only handles.
    for (const m of opened.values()) m.close();
  }
}
