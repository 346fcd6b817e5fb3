// plexus topology and plexus status.
import type { Command } from "commander";
import type { StatusJson, TopologyJson } from "../../api/schemas.js";
import { outputFormat, printStructured, topologyDot, topologyText } from "../render.js";
import { apiClient, examples } from "./client.js";

export function registerTopologyCommands(program: Command): void {
  program
    .command("topology")
    .description("the topology: instances, their ports and peers, attachments, free interfaces")
    .option("-o, --output <format>", "table, json, yaml or dot (graphviz)", "table")
    .addHelpText("after", examples(["plexus topology", "plexus topology -o dot | dot -Tsvg > topology.svg"]))
    .action(async (o: { output: string }, cmd: Command) => {
      const format = outputFormat(o.output, ["table", "json", "yaml", "dot"]);
      const t = await apiClient(cmd).get<TopologyJson>("/v1/topology");
      if (format === "dot") console.log(topologyDot(t));
      else if (!(await printStructured(format, t))) console.log(topologyText(t));
    });

  program
    .command("status")
    .description("whether the daemon runs, and where it keeps its state")
    .option("-o, --output <format>", "table, json or yaml", "table")
    .action(async (o: { output: string }, cmd: Command) => {
      const format = outputFormat(o.output);
      const api = apiClient(cmd);
      const s = await api.get<StatusJson>("/v1/status");
      if (await printStructured(format, s)) return;
      console.log(
        [
          `plexusd ${s.version} (pid ${s.pid}) at ${api.where}, up ${Math.round(s.uptimeSeconds)} s`,
          `state: ${s.stateDir}`,
          `bpffs: ${s.bpffs}`,
          `${s.instances} instance${s.instances === 1 ? "" : "s"}, ${s.types} NF type version${s.types === 1 ? "" : "s"}`,
        ].join("\n"),
      );
    });
}
