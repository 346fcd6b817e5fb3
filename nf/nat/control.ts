// The NAT's control plane: rules (validated, installed as a whole), configuration, the zone's
// shared tables with their garbage collection, masquerade addresses, and the `rules` and
// `sessions` tables. Every packet is handled in the data plane (dataplane.c).
import { defineControlPlane, type InstanceContext } from "../../src/core/nf-api.js";
import { Nat } from "./cp/nat.js";

/** One Nat per instance (the module is shared by every instance of the type). */
const nats = new Map<string, Nat>();

function nat(ctx: InstanceContext): Nat {
  let n = nats.get(ctx.name);
  if (!n) {
    n = new Nat(ctx);
    nats.set(ctx.name, n);
  }
  n.ctx = ctx;
  return n;
}

export default defineControlPlane({
  init(ctx) {
    // Rules replayed from the desired state before init were collected by the same object.
    nat(ctx).start();
  },
  configure(ctx, config) {
    nat(ctx).applyConfig(config);
  },
  timers: [{ intervalMs: 1000, run: (ctx) => nat(ctx).tick() }],
  tables: {
    rules: {
      list: (ctx) => nat(ctx).listRules(),
      add: (ctx, entry) => nat(ctx).addRule(entry),
      addMany: (ctx, entries) => nat(ctx).addRules(entries),
      delete: (ctx, key) => nat(ctx).deleteRule(key),
    },
    sessions: {
      list: (ctx) => nat(ctx).listSessions(),
      delete: (ctx, key) => void nat(ctx).deleteSessions(key),
    },
  },
  destroy(ctx) {
    nats.get(ctx.name)?.destroy();
    nats.delete(ctx.name);
  },
});
