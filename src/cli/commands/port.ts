// plexus port add|del|set|list: ports of standard instances.
import type { Command } from "commander";
import { seg } from "../../api/client.js";
import type { PortJson } from "../../api/schemas.js";
import { UsageError } from "../errors.js";
import { parseKeyValues, type JsonSchema } from "../kv.js";
import { table } from "../output.js";
import { configText, outputFormat, printStructured } from "../render.js";
import { apiClient, examples } from "./client.js";
import { typeOf } from "./instance.js";

export function registerPortCommands(program: Command): void {
  const port = program
    .command("port")
    .description("ports of an instance: add, del, set, list")
    .addHelpText(
      "after",
      examples([
        "plexus port add br0 p1 --peer veth1",
        "plexus port add br0 p3 mode=trunk vlans=10,20",
        "plexus port add r1 west --peer r2:east ipv4=198.18.1.1/24",
        "plexus port set br0 p1 vlan=20",
        "plexus port del br0 p1",
      ]),
    );

  port
    .command("add <name> <port> [config...]")
    .description("add a port; --peer connects it to an interface or another instance's port")
    .option("--peer <peer>", "IFNAME or INSTANCE:PORT")
    .action(async (name: string, pname: string, kv: string[], o: { peer?: string }, cmd: Command) => {
      const api = apiClient(cmd);
      const { type } = await typeOf(api, name);
      const config = parseKeyValues(kv, type.portConfig as JsonSchema | undefined);
      const p = await api.post<PortJson>(`/v1/instances/${seg(name)}/ports`, {
        name: pname,
        ...(o.peer ? { peer: o.peer } : {}),
        ...(kv.length ? { config } : {}),
      });
      console.log(`added ${name}:${p.name} (port ${p.index})${p.peer ? ` -- ${p.peer}` : ""}`);
    });

  port
    .command("del <name> <port>")
    .alias("delete")
    .description("delete a port (it is disconnected first)")
    .action(async (name: string, pname: string, _o, cmd: Command) => {
      await apiClient(cmd).delete(`/v1/instances/${seg(name)}/ports/${seg(pname)}`);
      console.log(`deleted ${name}:${pname}`);
    });

  port
    .command("set <name> <port> <config...>")
    .description("change a port's configuration (key=value merges; --replace replaces)")
    .option("--replace", "replace the whole port configuration")
    .action(async (name: string, pname: string, kv: string[], o: { replace?: boolean }, cmd: Command) => {
      if (!kv.length) throw new UsageError("give key=value settings");
      const api = apiClient(cmd);
      const { type } = await typeOf(api, name);
      const config = parseKeyValues(kv, type.portConfig as JsonSchema | undefined);
      const p = await api.patch<PortJson>(`/v1/instances/${seg(name)}/ports/${seg(pname)}`, {
        config,
        replace: o.replace,
      });
      console.log(`${name}:${p.name}: ${configText(p.config)}`);
    });

  port
    .command("list <name>")
    .alias("ls")
    .description("an instance's ports with peers and counters")
    .option("-o, --output <format>", "table, json or yaml", "table")
    .action(async (name: string, o: { output: string }, cmd: Command) => {
      const format = outputFormat(o.output);
      const ports = await apiClient(cmd).get<PortJson[]>(`/v1/instances/${seg(name)}/ports`);
      if (await printStructured(format, ports)) return;
      console.log(
        table(
          ["PORT", "INDEX", "PEER", "RX PKTS", "TX PKTS", "DROPS", "CONFIG"],
          ports.map((p) => [
            p.name,
            String(p.index),
            p.peer ?? "-",
            String(p.rx.packets),
            String(p.tx.packets),
            String(p.rx.drops + p.tx.drops),
            configText(p.config),
          ]),
        ),
      );
    });
}
