// The router's control plane: next-hop resolution (the slow path), neighbour aging, and the
// `route`, `neigh` and `address` tables. Everything else runs in the data plane (dataplane.c).
import { defineControlPlane, type InstanceContext } from "../../src/core/nf-api.js";
import { Router } from "./cp/router.js";

/** One Router per instance (the module is shared by every instance of the type). */
const routers = new Map<string, Router>();

function router(ctx: InstanceContext): Router {
  let r = routers.get(ctx.name);
  if (!r) {
    r = new Router(ctx);
    routers.set(ctx.name, r);
    r.start();
  }
  r.ctx = ctx;
  return r;
}

/**
 * Loads many static routes at once with batched map updates (for bulk loads and benchmarks; the
 * table API adds one at a time).
 */
export function addRoutes(ctx: InstanceContext, entries: readonly Record<string, unknown>[]): number {
  return router(ctx).routeAddMany(entries);
}

export default defineControlPlane({
  init(ctx) {
    // Fresh or adopted alike: the router reads what its maps hold and reconciles.
    routers.get(ctx.name)?.destroy();
    routers.delete(ctx.name);
    router(ctx);
  },
  configure(ctx, config) {
    router(ctx).applyConfig(config);
  },
  portsChanged(ctx) {
    router(ctx).applyPorts();
  },
  packet(ctx, pkt) {
    router(ctx).packet(pkt);
  },
  timers: [
    // Retransmissions and timeouts of resolutions and probes: often, it is cheap when idle.
    { intervalMs: 100, run: (ctx) => router(ctx).resolver.tick() },
    { intervalMs: 1000, run: (ctx) => router(ctx).resolver.age() },
  ],
  tables: {
    route: {
      list: (ctx) => router(ctx).routeList(),
      add: (ctx, entry) => router(ctx).routeAdd(entry),
      // Bulk loads: batched map updates; entries are made canonical in place.
      addMany: (ctx, entries) => {
        router(ctx).routeAddMany(entries);
        return entries;
      },
      delete: (ctx, key) => router(ctx).routeDelete(key),
    },
    neigh: {
      list: (ctx) => router(ctx).neighList(),
      add: (ctx, entry) => router(ctx).neighAdd(entry),
      delete: (ctx, key) => router(ctx).neighDelete(key),
    },
    address: {
      list: (ctx) => router(ctx).addressList(),
    },
  },
  destroy(ctx) {
    routers.get(ctx.name)?.destroy();
    routers.delete(ctx.name);
  },
});
