// plexus apply -f FILE [--prune] and plexus export: the topology as a YAML (or JSON) document.
import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import type { ApplyResultJson } from "../../api/schemas.js";
import { UsageError } from "../errors.js";
import { json } from "../output.js";
import { apiClient, examples } from "./client.js";

/** Reads and parses a document; '-' is stdin. Syntax errors say where. */
async function readDocument(file: string): Promise<unknown> {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    // yaml is loaded only by the commands that need it (it is a good part of a start-up).
    const { parse } = await import("yaml");
    return parse(text, { prettyErrors: true }) ?? {};
  } catch (e) {
    throw new UsageError(`${file} is not valid YAML or JSON: ${(e as Error).message.split("\n")[0]}`);
  }
}

export function registerDeclarativeCommands(program: Command): void {
  program
    .command("apply")
    .description(
      "make the topology match a document (validated as a whole; applying it twice changes nothing)",
    )
    .requiredOption("-f, --file <file>", "topology document, YAML or JSON ('-' reads stdin)")
    .option("--prune", "also remove what the document does not mention")
    .option("--dry-run", "only list the changes")
    .addHelpText(
      "after",
      `${examples(["plexus apply -f topology.yaml", "plexus apply -f topology.yaml --prune --dry-run", "plexus export > topology.yaml"])}
A document:
  apiVersion: plexus/v1
  kind: Topology
  instances:
    br0:
      type: bridge
      mode: xdp
      config: { agingTime: 60 }
      ports:
        p1: { peer: veth1 }
        p2: { peer: veth2, config: { vlan: 10 } }
        up: { peer: "r1:lan" }
      tables:
        fdb: [{ mac: "02:00:00:00:00:01", port: p1, vlan: 1 }]
    r1:
      type: router
      ports:
        lan: { config: { ipv4: [198.18.1.1/24] } }
`,
    )
    .action(async (o: { file: string; prune?: boolean; dryRun?: boolean }, cmd: Command) => {
      const doc = await readDocument(o.file);
      const r = await apiClient(cmd).post<ApplyResultJson>("/v1/apply", doc, {
        prune: o.prune ? true : undefined,
        dryRun: o.dryRun ? true : undefined,
      });
      if (!r.changes.length) {
        console.log("no changes: the topology already matches");
        return;
      }
      for (const c of r.changes)
        console.log(`${r.dryRun ? "would " : ""}${c.action} ${c.target}${c.detail ? ` (${c.detail})` : ""}`);
      console.log(
        `${r.changes.length} change${r.changes.length === 1 ? "" : "s"}${r.dryRun ? " planned (dry run)" : " applied"}`,
      );
    });

  program
    .command("export")
    .description("the desired state as a document that plexus apply accepts")
    .option("-o, --output <format>", "yaml or json", "yaml")
    .option("-f, --file <file>", "write to a file instead of stdout")
    .addHelpText(
      "after",
      examples(["plexus export > topology.yaml", "plexus export -o json -f topology.json"]),
    )
    .action(async (o: { output: string; file?: string }, cmd: Command) => {
      if (!["yaml", "json"].includes(o.output))
        throw new UsageError(`-o wants yaml or json, got '${o.output}'`);
      const doc = await apiClient(cmd).get("/v1/export");
      const text = o.output === "json" ? `${json(doc)}\n` : (await import("yaml")).stringify(doc);
      if (o.file) writeFileSync(o.file, text);
      else process.stdout.write(text);
    });
}
