// Writes the bridge's port view (layout.ts) into its maps: port records, and the flood sets of
// the instance's hook (TC: a port list per VLAN; XDP: a devmap per distinct member set, shared by
// every VLAN with that set, plus the interface -> port table of the devmap egress program).
// Every function compares with what the maps hold and writes only differences, so running it
// again (after a daemon restart, say) changes nothing.
import { BpfMap } from "../../src/bpf/map/map.js";
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

export function syncPortRecords(ctx: InstanceContext, ports: readonly BridgePort[]): void {
  const map = ctx.map(Maps.port);
  const want = new Map(ports.map((p) => [p.index, encodePort(p.record)]));
  const none = Buffer.alloc(PORT_RECORD_SIZE);
  for (let i = 0; i < MAX_PORTS; i++) put(map, u32(i), want.get(i) ?? none);
}

export function syncTcFlood(ctx: InstanceContext, lists: ReadonlyMap<number, FloodList>): void {
  const map = ctx.map(Maps.floodTc);
  const none = Buffer.alloc(FLOOD_RECORD_SIZE);
  for (let v = 0; v < VLAN_IDS; v++) {
    const list = lists.get(v);
    put(map, u32(v), list ? encodeFlood(list) : none);
  }
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

export function syncXdpFlood(ctx: InstanceContext, ports: readonly BridgePort[]): void {
  syncIfports(ctx, ports);
  const egress = ctx.program(EGRESS_PROGRAM);
  const outer = ctx.map(Maps.floodXdp);
  const opened = new Map<number, BpfMap>();
  try {
    // What the VLANs point at now, by devmap id, and what each of those devmaps holds.
    const current = new Map<number, number>();
    const bySignature = new Map<string, BpfMap>();
    for (let v = 0; v < VLAN_IDS; v++) {
      const id = outer.lookupView(u32(v))?.readUInt32LE(0);
      if (id === undefined) continue;
      current.set(v, id);
      if (!opened.has(id)) {
        const m = BpfMap.fromId(id);
        opened.set(id, m);
        bySignature.set(devmapSignature(m), m);
      }
    }
    // One devmap per distinct member set: reuse one holding exactly that, or make one.
    const sets = broadcastSets(ports);
    const chosen = new Map<string, BpfMap>();
    for (const set of sets.values()) {
      const sig = wantedSignature(set, egress.id);
      if (chosen.has(sig)) continue;
      let m = bySignature.get(sig);
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
    }
    for (let v = 0; v < VLAN_IDS; v++) {
      const set = sets.get(v);
      if (!set) {
        if (current.has(v)) outer.delete(u32(v));
        continue;
      }
      const m = chosen.get(wantedSignature(set, egress.id)) as BpfMap;
      if (current.get(v) !== m.id) outer.update(u32(v), u32(m.fd));
    }
  } finally {
    // The outer map keeps the devmaps it points at; ours were only handles.
    for (const m of opened.values()) m.close();
  }
}
