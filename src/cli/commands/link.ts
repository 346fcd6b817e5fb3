// plexus connect|disconnect|attach|detach: links between ports and interfaces, and transparent
// instances stacked on a port or an interface.
import type { Command } from "commander";
import { seg } from "../../api/client.js";
import { UsageError } from "../errors.js";
import { apiClient, examples, splitPort } from "./client.js";

export function registerLinkCommands(program: Command): void {
  program
    .command("connect <port> <peer>")
    .description("connect INSTANCE:PORT to another instance's port (INSTANCE:PORT) or a host interface")
    .addHelpText("after", examples(["plexus connect br0:p1 veth1", "plexus connect br0:up r1:lan"]))
    .action(async (port: string, peer: string, _o, cmd: Command) => {
      splitPort(port, "the first argument");
      await apiClient(cmd).post("/v1/links", { port, peer });
      console.log(`connected ${port} -- ${peer}`);
    });

  program
    .command("disconnect <port>")
    .description("disconnect INSTANCE:PORT from its peer (both ends of a port-to-port link)")
    .addHelpText("after", examples(["plexus disconnect br0:p1"]))
    .action(async (port: string, _o, cmd: Command) => {
      const [name, pname] = splitPort(port, "disconnect");
      await apiClient(cmd).delete(`/v1/links/${seg(name)}/${seg(pname)}`);
      console.log(`disconnected ${port}`);
    });

  program
    .command("attach <name> <target>")
    .description("stack a transparent instance on an interface or an instance port (ingress unless --egress)")
    .option("--egress", "act on packets leaving through the target (TC mode only)")
    .option("--first", "run before every other instance attached there")
    .option("--last", "run after every other instance attached there (default)")
    .option("--before <name>", "run just before this attached instance")
    .option("--after <name>", "run just after this attached instance")
    .addHelpText(
      "after",
      examples([
        "plexus attach fw1 veth1",
        "plexus attach mon br0:p1 --egress",
        "plexus attach fw2 veth1 --before fw1",
      ]),
    )
    .action(
      async (
        name: string,
        target: string,
        o: { egress?: boolean; first?: boolean; last?: boolean; before?: string; after?: string },
        cmd: Command,
      ) => {
        const given = (["first", "last", "before", "after"] as const).filter((k) => o[k] !== undefined);
        if (given.length > 1)
          throw new UsageError(
            `give one of --first, --last, --before, --after (got ${given.map((g) => `--${g}`).join(" ")})`,
          );
        await apiClient(cmd).put(`/v1/instances/${seg(name)}/attachment`, {
          target,
          direction: o.egress ? "egress" : "ingress",
          ...(o.first ? { first: true } : {}),
          ...(o.last ? { last: true } : {}),
          ...(o.before ? { before: o.before } : {}),
          ...(o.after ? { after: o.after } : {}),
        });
        console.log(`attached ${name} to ${target} ${o.egress ? "egress" : "ingress"}`);
      },
    );

  program
    .command("detach <name>")
    .description("detach a transparent instance")
    .action(async (name: string, _o, cmd: Command) => {
      await apiClient(cmd).delete(`/v1/instances/${seg(name)}/attachment`);
      console.log(`detached ${name}`);
    });
}
