// The firewall's control plane: rules and rule sets (compiled and switched in atomically),
// configuration, conntrack zones and their garbage collection, and the `rules`, `ruleset` and
// `conntrack` tables. The per-packet work is all in the data plane (dataplane.c).
import { defineControlPlane, type InstanceContext } from "../../src/core/nf-api.js";
import { Firewall } from "./cp/firewall.js";

/** One Firewall per instance (the module is shared by every instance of the type). */
const firewalls = new Map<string, Firewall>();

function firewall(ctx: InstanceContext): Firewall {
  let f = firewalls.get(ctx.name);
  if (!f) {
    f = new Firewall(ctx);
    firewalls.set(ctx.name, f);
  }
  f.ctx = ctx;
  return f;
}

export default defineControlPlane({
  async init(ctx) {
    // Rules replayed from the desired state before init were collected by the same object.
    await firewall(ctx).start();
  },
  configure(ctx, config) {
    firewall(ctx).applyConfig(config);
  },
  timers: [{ intervalMs: 1000, run: (ctx) => firewall(ctx).tick() }],
  tables: {
    rules: {
      list: (ctx) => firewall(ctx).listRules(),
      add: (ctx, entry) => firewall(ctx).addRule(entry),
      // Bulk loads (`plexus fw1 rules load FILE`): compiled and switched in once, all or none.
      addMany: (ctx, entries) => firewall(ctx).addRules(entries),
      delete: (ctx, key) => firewall(ctx).deleteRule(key),
    },
    ruleset: {
      list: (ctx) => firewall(ctx).listRuleSets(),
      add: (ctx, entry) => firewall(ctx).addRuleSet(entry),
      addMany: (ctx, entries) => firewall(ctx).addRuleSets(entries),
      delete: (ctx, key) => firewall(ctx).deleteRuleSet(key),
    },
    conntrack: {
      list: (ctx) => firewall(ctx).listConnections(),
      delete: (ctx, key) => void firewall(ctx).deleteConnections(key),
    },
  },
  destroy(ctx) {
    firewalls.get(ctx.name)?.destroy();
    firewalls.delete(ctx.name);
  },
});
