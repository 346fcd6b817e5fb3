// The DDoS mitigator's control plane: configuration, the prefix tables and lists (merged into the
// data plane's tries and swapped in whole), and the views of what was dropped and why. Every
// packet is handled in the data plane (dataplane.c); nothing goes through the slow path.
import { defineControlPlane, type InstanceContext } from "../../src/core/nf-api.js";
import { Ddos } from "./cp/ddos.js";

/** One Ddos per instance (the module is shared by every instance of the type). */
const instances = new Map<string, Ddos>();

function ddos(ctx: InstanceContext): Ddos {
  let d = instances.get(ctx.name);
  if (!d) {
    d = new Ddos(ctx);
    instances.set(ctx.name, d);
  }
  d.ctx = ctx;
  return d;
}

export default defineControlPlane({
  init(ctx) {
    // Entries replayed from the desired state before init were collected by the same object.
    ddos(ctx).start();
  },
  configure(ctx, config) {
    ddos(ctx).applyConfig(config);
  },
  tables: {
    src: {
      list: (ctx) => ddos(ctx).listSingles("src"),
      add: (ctx, entry) => ddos(ctx).addSingle("src", entry),
      addMany: (ctx, entries) => ddos(ctx).addSingles("src", entries),
      delete: (ctx, key) => ddos(ctx).deleteSingle("src", key),
    },
    dst: {
      list: (ctx) => ddos(ctx).listSingles("dst"),
      add: (ctx, entry) => ddos(ctx).addSingle("dst", entry),
      addMany: (ctx, entries) => ddos(ctx).addSingles("dst", entries),
      delete: (ctx, key) => ddos(ctx).deleteSingle("dst", key),
    },
    list: {
      list: (ctx) => ddos(ctx).listLists(),
      add: (ctx, entry) => ddos(ctx).addList(entry),
      delete: (ctx, key) => ddos(ctx).deleteList(key),
    },
    sources: { list: (ctx) => ddos(ctx).listSources() },
    syn: { list: (ctx) => ddos(ctx).listSyn() },
    stats: { list: (ctx) => ddos(ctx).listStats() },
  },
  destroy(ctx) {
    instances.get(ctx.name)?.destroy();
    instances.delete(ctx.name);
  },
});
