// The bridge's view of its ports, computed from the hypervisor's port list: each port's 802.1Q
// record, and per VLAN the ports a flooded frame goes to. Pure: no maps touched here.
import type { PortInfo } from "../../src/core/nf-api.js";
import { PortMode, type FloodList, type PortRecord } from "./abi.js";
import { VlanListError, portRecord } from "./vlans.js";

export interface BridgePort {
  index: number;
  name: string;
  record: PortRecord;
  /** Has a peer, so frames can leave through it. */
  connected: boolean;
  /** Interface a broadcast copy is sent to (XDP flooding). */
  floodIfindex?: number;
}

/** A port whose configuration cannot be read takes part in no VLAN (and says so through `onError`). */
const DISABLED: PortRecord = { mode: PortMode.ACCESS, pvid: 0, vlans: new Set() };

export function bridgePorts(ports: readonly PortInfo[], onError: (message: string) => void): BridgePort[] {
  return ports.map((p) => {
    let record = DISABLED;
    try {
      record = portRecord(p.config);
    } catch (e) {
      if (!(e instanceof VlanListError)) throw e;
      onError(`port ${p.name}: ${e.message}; the port forwards nothing until this is fixed`);
    }
    return {
      index: p.index,
      name: p.name,
      record,
      connected: p.peer !== undefined,
      floodIfindex: p.peer !== undefined ? p.floodIfindex : undefined,
    };
  });
}

/** Per VLAN, the connected member ports: the untagged one(s) first. Only VLANs with members. */
export function floodLists(ports: readonly BridgePort[]): Map<number, FloodList> {
  const out = new Map<number, FloodList>();
  for (const p of [...ports].sort((a, b) => a.index - b.index)) {
    if (!p.connected) continue;
    for (const v of p.record.vlans) {
      let list = out.get(v);
      if (!list) out.set(v, (list = { untagged: [], tagged: [] }));
      (p.record.pvid === v ? list.untagged : list.tagged).push(p.index);
    }
  }
  return out;
}

/**
 * Per VLAN with at least two connected members that have a flood interface, the set of those
 * ports (a broadcast from a VLAN's only member reaches nobody, so it needs no devmap).
 */
export function broadcastSets(ports: readonly BridgePort[]): Map<number, BridgePort[]> {
  const out = new Map<number, BridgePort[]>();
  for (const p of [...ports].sort((a, b) => a.index - b.index)) {
    if (!p.connected || p.floodIfindex === undefined) continue;
    for (const v of p.record.vlans) {
      const set = out.get(v);
      if (set) set.push(p);
      else out.set(v, [p]);
    }
  }
  for (const [v, set] of out) if (set.length < 2) out.delete(v);
  return out;
}
