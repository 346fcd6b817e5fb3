// plexus create|delete|config|show|upgrade: instances of network functions.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { seg, type ApiClient } from "../../api/client.js";
import type { InstanceJson, NfTypeJson } from "../../api/schemas.js";
import { UsageError } from "../errors.js";
import { parseKeyValues, type JsonSchema } from "../kv.js";
import { configText, instanceDetail, instancesTable, outputFormat, printStructured } from "../render.js";
import { apiClient, examples } from "./client.js";

const MODES = ["tc", "xdp", "xdp-generic"];

/** The NF type of an instance (for its config schemas). */
async function typeOf(api: ApiClient, name: string): Promise<{ inst: InstanceJson; type: NfTypeJson }> {
  const inst = await api.get<InstanceJson>(`/v1/instances/${seg(name)}`);
  const type = await api.get<NfTypeJson>(`/v1/nf/${seg(inst.type)}`, { version: inst.version });
  return { inst, type };
}

export { typeOf };

export function registerInstanceCommands(program: Command): void {
  program
    .command("create <type> <name> [config...]")
    .description("create an instance of an NF type; key=value sets its configuration")
    .option("--mode <mode>", "hook: tc (default), xdp or xdp-generic")
    .option("--version <v>", "NF type version (default: the newest)")
    .option(
      "--port <name=peer>",
      "add a port at once (repeatable), e.g. --port p1=eth0 --port p2",
      (v: string, all: string[]) => [...all, v],
      [] as string[],
    )
    .addHelpText(
      "after",
      examples([
        "plexus create bridge br0",
        "plexus create bridge br0 --mode xdp agingTime=60 --port p1=veth1 --port p2=veth2",
        "plexus create router r1 icmpErrors=false",
      ]),
    )
    .action(
      async (
        type: string,
        name: string,
        kv: string[],
        o: { mode?: string; version?: string; port?: string[] },
        cmd: Command,
      ) => {
        if (o.mode && !MODES.includes(o.mode))
          throw new UsageError(`--mode wants ${MODES.join(", ")}, got '${o.mode}'`);
        const api = apiClient(cmd);
        const t = await api.get<NfTypeJson>(`/v1/nf/${seg(type)}`, { version: o.version });
        const config = parseKeyValues(kv, t.config as JsonSchema | undefined);
        const ports = (o.port ?? []).map((p) => {
          const i = p.indexOf("=");
          return i < 0 ? { name: p } : { name: p.slice(0, i), peer: p.slice(i + 1) };
        });
        const v = await api.post<InstanceJson>("/v1/instances", {
          name,
          type,
          ...(o.version ? { version: o.version } : {}),
          ...(o.mode ? { mode: o.mode } : {}),
          ...(kv.length ? { config } : {}),
          ...(ports.length ? { ports } : {}),
        });
        console.log(`created ${v.name} (${v.type} ${v.version}, ${v.mode})`);
      },
    );

  program
    .command("delete <name...>")
    .alias("rm")
    .description("delete instances (their links are disconnected)")
    .addHelpText("after", examples(["plexus delete br0", "plexus delete r1 r2"]))
    .action(async (names: string[], _o, cmd: Command) => {
      const api = apiClient(cmd);
      for (const n of names) {
        await api.delete(`/v1/instances/${seg(n)}`);
        console.log(`deleted ${n}`);
      }
    });

  program
    .command("config <name> [config...]")
    .description("show or change an instance's configuration (key=value merges; --replace replaces)")
    .option("--replace", "replace the whole configuration (unnamed keys go back to their defaults)")
    .addHelpText("after", examples(["plexus config br0", "plexus config br0 agingTime=30"]))
    .action(async (name: string, kv: string[], o: { replace?: boolean }, cmd: Command) => {
      const api = apiClient(cmd);
      const { inst, type } = await typeOf(api, name);
      if (!kv.length && !o.replace) {
        console.log(configText(inst.config));
        return;
      }
      const config = parseKeyValues(kv, type.config as JsonSchema | undefined);
      const v = await api.patch<InstanceJson>(`/v1/instances/${seg(name)}`, { config, replace: o.replace });
      console.log(`${name}: ${configText(v.config)}`);
    });

  program
    .command("show [name]")
    .alias("get")
    .description("instances with their ports, peers and counters (one in detail when NAME is given)")
    .option("-o, --output <format>", "table, json or yaml", "table")
    .addHelpText("after", examples(["plexus show", "plexus show br0", "plexus show -o yaml"]))
    .action(async (name: string | undefined, o: { output: string }, cmd: Command) => {
      const format = outputFormat(o.output);
      const api = apiClient(cmd);
      if (name) {
        const v = await api.get<InstanceJson>(`/v1/instances/${seg(name)}`);
        if (!(await printStructured(format, v))) console.log(instanceDetail(v));
        return;
      }
      const list = await api.get<InstanceJson[]>("/v1/instances");
      if (!(await printStructured(format, list))) console.log(instancesTable(list));
    });

  program
    .command("upgrade <name>")
    .description("swap an instance's code while it runs, keeping its maps (learned and configured state)")
    .option("--object <file>", "an eBPF object file built from the NF's C (uploaded to the daemon)")
    .option("--version <v>", "another installed version of its NF type (default: the newest)")
    .addHelpText(
      "after",
      examples([
        "plexus upgrade br0                  # to the newest installed version",
        "plexus upgrade br0 --version 1.1.0",
        "plexus upgrade br0 --object build/bridge.tc.o",
      ]),
    )
    .action(async (name: string, o: { object?: string; version?: string }, cmd: Command) => {
      if (o.object && o.version) throw new UsageError("give --object or --version, not both");
      const api = apiClient(cmd);
      let v: InstanceJson;
      if (o.object) {
        let data: Buffer;
        try {
          data = readFileSync(o.object);
        } catch (e) {
          throw new UsageError(`cannot read ${o.object}: ${(e as Error).message}`);
        }
        v = await api.call<InstanceJson>("POST", `/v1/instances/${seg(name)}/upgrade/object`, {
          raw: data,
          contentType: "application/octet-stream",
        });
      } else
        v = await api.post<InstanceJson>(
          `/v1/instances/${seg(name)}/upgrade`,
          o.version ? { version: o.version } : {},
        );
      console.log(`upgraded ${name} (${v.type} ${v.version}${o.object ? `, code from ${o.object}` : ""})`);
    });
}
