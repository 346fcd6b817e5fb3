// The bridge's control plane. The data plane does the forwarding, learning and flooding; this
// keeps its tables in step with the instance: port VLAN records and flood sets when ports change,
// the aging time when the configuration changes, freeing aged FDB entries, and the fdb table.
import { defineControlPlane, type InstanceContext } from "../../src/core/nf-api.js";
import { ageFdb, fdbTable, flushFdb, writeConfig } from "./fdb.js";
import { bridgePorts, floodLists } from "./layout.js";
import { readFloodLists, syncFloodLists, syncPortRecords, syncXdpFlood, vlansWithMembers } from "./sync.js";

/** How often aged entries are freed (the data plane ignores them from the moment they age). */
export const AGING_SWEEP_MS = 5000;

/** Brings the port records, flood sets and FDB in line with the instance's ports. */
export function syncPorts(ctx: InstanceContext): void {
  const ports = bridgePorts(ctx.ports(), (message) => {
    ctx.log.warn(message);
    ctx.event("port-config", message);
  });
  syncPortRecords(ctx, ports);
  const lists = floodLists(ports);
  const before = readFloodLists(ctx);
  if (ctx.mode !== "tc") syncXdpFlood(ctx, ports, [...lists.keys(), ...vlansWithMembers(before)]);
  syncFloodLists(ctx, lists, before);
  flushFdb(ctx, ports);
}

export default defineControlPlane({
  init(ctx) {
    writeConfig(ctx, ctx.config);
    syncPorts(ctx);
  },
  configure(ctx, config) {
    writeConfig(ctx, config);
  },
  portsChanged(ctx) {
    syncPorts(ctx);
  },
  timers: [{ intervalMs: AGING_SWEEP_MS, run: (ctx) => void ageFdb(ctx) }],
  tables: { fdb: fdbTable },
});
