// The load balancer's control plane: services and backends (checked, installed whole), Maglev
// lookup tables, next hops, health checks, connection garbage collection, and the `services`,
// `backends` and `connections` tables. Every packet is handled in the data plane (dataplane.c).
import { defineControlPlane, type InstanceContext } from "../../src/core/nf-api.js";
import { LoadBalancer } from "./cp/lb.js";

/** One LoadBalancer per instance (the module is shared by every instance of the type). */
const lbs = new Map<string, LoadBalancer>();

function lb(ctx: InstanceContext): LoadBalancer {
  let l = lbs.get(ctx.name);
  if (!l) {
    l = new LoadBalancer(ctx);
    lbs.set(ctx.name, l);
  }
  l.ctx = ctx;
  return l;
}

export default defineControlPlane({
  init(ctx) {
    // Entries replayed from the desired state before init were collected by the same object.
    lb(ctx).start();
  },
  configure(ctx, config) {
    lb(ctx).applyConfig(config);
  },
  portsChanged(ctx) {
    lb(ctx).portsChanged();
  },
  timers: [{ intervalMs: 100, run: (ctx) => lb(ctx).tick() }],
  tables: {
    services: {
      list: (ctx) => lb(ctx).listServices(),
      add: (ctx, entry) => lb(ctx).addServices([entry])[0],
      addMany: (ctx, entries) => lb(ctx).addServices(entries),
      delete: (ctx, key) => lb(ctx).deleteService(key),
    },
    backends: {
      list: (ctx) => lb(ctx).listBackends(),
      add: (ctx, entry) => lb(ctx).addBackends([entry])[0],
      addMany: (ctx, entries) => lb(ctx).addBackends(entries),
      delete: (ctx, key) => lb(ctx).deleteBackend(key),
    },
    connections: {
      list: (ctx) => lb(ctx).listConnections(),
      delete: (ctx, key) => void lb(ctx).deleteConnections(key),
    },
  },
  destroy(ctx) {
    lbs.get(ctx.name)?.destroy();
    lbs.delete(ctx.name);
  },
});
