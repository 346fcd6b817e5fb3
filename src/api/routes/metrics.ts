// GET /metrics: the daemon's counters for Prometheus (text exposition format 0.0.4). Behind the
// same authentication as the API. A scrape is a look: it keeps the kernel's program statistics on
// for a while (see src/core/stats/program-stats.ts).
import { Type } from "typebox";
import { PROMETHEUS_CONTENT_TYPE } from "../../core/stats/exposition.js";
import { metricsText } from "../../core/stats/metrics.js";
import { API_VERSION, type Api, type ApiContext } from "../server.js";

export function registerMetricsRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  app.get(
    "/metrics",
    {
      schema: {
        summary: "Prometheus metrics (text exposition format 0.0.4)",
        description:
          "plexus_port_packets_total, plexus_port_bytes_total, plexus_port_drops_total{instance,type,port,direction}; plexus_drops_total{instance,type,reason}; plexus_table_entries and plexus_table_capacity{instance,type,table}; plexus_program_runs_total and plexus_program_run_seconds_total{instance,program,hook}; plexus_instances, plexus_instance_info, plexus_info, plexus_start_time_seconds, plexus_program_stats_enabled.",
        tags: ["counters"],
        produces: [PROMETHEUS_CONTENT_TYPE],
        response: { 200: Type.String() },
      },
    },
    async (_req, reply) => {
      hv.stats.programStats.touch();
      const text = metricsText(hv.stats.snapshot(), { version: API_VERSION, startedAt: ctx.info.startedAt });
      return reply.type(PROMETHEUS_CONTENT_TYPE).send(text);
    },
  );
}
