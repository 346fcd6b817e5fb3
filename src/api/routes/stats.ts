// GET /v1/stats: every instance's counters (read now) and rates (per second, over the daemon's
// last sampling interval), per port and per link, with program statistics and table usage. What
// `plexus top` and the web console show. Asking keeps the kernel's program statistics on for a
// while (see src/core/stats/program-stats.ts).
import { Type, type Static } from "typebox";
import type { Api, ApiContext } from "../server.js";

const Traffic = Type.Object(
  { packets: Type.Integer(), bytes: Type.Integer(), drops: Type.Integer() },
  { description: "Totals since the instance was created" },
);
const Rate = Type.Object(
  { packets: Type.Number(), bytes: Type.Number(), drops: Type.Number() },
  { description: "Per second, over the last sampling interval" },
);

const PortStats = Type.Object({
  name: Type.String(),
  index: Type.Integer(),
  peer: Type.Optional(Type.String({ description: 'A host interface ("eth0") or a port ("r1:west")' })),
  rx: Traffic,
  tx: Traffic,
  rxRate: Rate,
  txRate: Rate,
});

const TableStats = Type.Object({
  table: Type.String(),
  entries: Type.Integer(),
  capacity: Type.Integer(),
});

const InstanceStats = Type.Object({
  name: Type.String(),
  type: Type.String(),
  version: Type.String(),
  mode: Type.String(),
  kind: Type.Union([Type.Literal("standard"), Type.Literal("transparent")]),
  /** Sums over the ports (transparent instances: what went through them). */
  rx: Traffic,
  tx: Traffic,
  rxRate: Rate,
  txRate: Rate,
  drops: Type.Record(Type.String(), Type.Integer(), {
    description: "Drops by reason name (the NF's manifest or the framework's); zero reasons left out",
  }),
  ports: Type.Array(PortStats),
  tables: Type.Array(TableStats, {
    description: "Keyed tables (hashes, LRU hashes, LPM tries), counted every few seconds",
  }),
});

const LinkStats = Type.Object(
  {
    a: Type.String({ description: "INSTANCE:PORT" }),
    b: Type.String({ description: "A host interface or INSTANCE:PORT" }),
    kind: Type.Union([Type.Literal("iface"), Type.Literal("port")]),
    aToB: Rate,
    bToA: Rate,
  },
  { description: "Each connection once, with its rate in both directions" },
);

const ProgramStats = Type.Object({
  instance: Type.Optional(Type.String({ description: "Absent for the framework's own programs" })),
  program: Type.String(),
  hook: Type.Union([Type.Literal("xdp"), Type.Literal("tc")]),
  runs: Type.Integer(),
  runTimeNs: Type.Integer(),
  runsPerSecond: Type.Number(),
});

export const Stats = Type.Object(
  {
    time: Type.String({ description: "When the counters were read (ISO 8601)" }),
    intervalMs: Type.Integer({
      description: "The sampling interval the rates are over; 0 before two samples",
    }),
    programStats: Type.Boolean({
      description: "Whether the kernel counts program runs now (on while someone looks, off a minute after)",
    }),
    instances: Type.Array(InstanceStats),
    links: Type.Array(LinkStats),
    programs: Type.Array(ProgramStats, {
      description:
        "Kernel run counts and times: instance programs reached by tail call are counted in the entry stub that called them",
    }),
  },
  { description: "Counters, rates, program statistics and table usage" },
);
export type StatsJson = Static<typeof Stats>;

export function registerStatsRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  app.get(
    "/v1/stats",
    {
      schema: {
        summary: "Counters and rates of every instance, port and link (plexus top, the web console)",
        tags: ["counters"],
        response: { 200: Stats },
      },
    },
    async () => {
      hv.stats.programStats.touch();
      return hv.stats.snapshot();
    },
  );
}
