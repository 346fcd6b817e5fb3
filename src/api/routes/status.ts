// Daemon status, the topology graph and counters.
import { Type } from "typebox";
import type { Api, ApiContext } from "../server.js";
import { API_VERSION } from "../server.js";
import { Counter, NameParams, Status, Topology, errorResponses } from "../schemas.js";
import { topologyGraph } from "../views.js";

const PortCounters = Type.Object({ name: Type.String(), rx: Counter, tx: Counter });
const InstanceCounters = Type.Object({
  name: Type.String(),
  ports: Type.Array(PortCounters),
  /** Transparent instances: what passed through them. */
  through: Type.Optional(Type.Object({ rx: Counter, tx: Counter })),
  drops: Type.Record(Type.String(), Type.Integer()),
});

export function registerStatusRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  app.get(
    "/v1/status",
    { schema: { summary: "Daemon status", tags: ["daemon"], response: { 200: Status } } },
    async () => ({
      version: API_VERSION,
      pid: process.pid,
      uptimeSeconds: (Date.now() - ctx.info.startedAt) / 1000,
      stateDir: ctx.info.stateDir,
      bpffs: ctx.info.bpffs,
      instances: Object.keys(hv.desiredState().instances).length,
      types: hv.registry.list().length,
    }),
  );

  app.get(
    "/v1/topology",
    {
      schema: {
        summary: "The topology as a graph: instances, ports, host interfaces, links and attachments",
        tags: ["topology"],
        response: { 200: Topology },
      },
    },
    async () => {
      const kinds = new Map(hv.listInstances().map((i) => [i.name, i.kind]));
      return topologyGraph(hv.desiredState(), kinds);
    },
  );

  const countersOf = (name: string) => {
    const v = hv.getInstance(name);
    const num = (c: { packets: bigint; bytes: bigint; drops: bigint }) => ({
      packets: Number(c.packets),
      bytes: Number(c.bytes),
      drops: Number(c.drops),
    });
    const through = v.kind === "transparent" ? hv.instanceCounters(name) : undefined;
    return {
      name,
      ports: v.ports.map((p) => ({ name: p.name, rx: num(p.rx), tx: num(p.tx) })),
      ...(through ? { through: { rx: num(through.rx), tx: num(through.tx) } } : {}),
      drops: Object.fromEntries(Object.entries(v.drops).map(([k, n]) => [k, Number(n)])),
    };
  };

  app.get(
    "/v1/counters",
    {
      schema: {
        summary: "Packet, byte and drop counters of every instance and port",
        tags: ["counters"],
        response: { 200: Type.Array(InstanceCounters) },
      },
    },
    async () => hv.listInstances().map((i) => countersOf(i.name)),
  );

  app.get(
    "/v1/instances/:name/counters",
    {
      schema: {
        summary: "Counters of one instance",
        tags: ["counters"],
        params: NameParams,
        response: { 200: InstanceCounters, ...errorResponses(400, 404) },
      },
    },
    async (req) => countersOf(req.params.name),
  );
}
