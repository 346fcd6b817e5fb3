// plexus: the command line. Sub-commands live in ./commands, one file per noun.
import { Command, CommanderError } from "commander";
import { PlexusBpfError } from "../bpf/errors.js";
import { registerObjCommands } from "./commands/obj.js";
import { registerProgCommands } from "./commands/prog.js";
import { registerVmCommands } from "./commands/vm.js";
import { UsageError } from "./errors.js";

export function buildProgram(): Command {
  const program = new Command("plexus")
    .description("plexus: a programmable network hypervisor for Linux, built on eBPF")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerObjCommands(program);
  registerProgCommands(program);
  registerVmCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError) {
      process.stderr.write(`plexus: ${e.message}\n`);
      return 2;
    }
    if (e instanceof PlexusBpfError) {
      process.stderr.write(`plexus: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
