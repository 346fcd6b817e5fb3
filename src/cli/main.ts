// plexus: the command line. Sub-commands live in ./commands, one file per noun.
import { Command, CommanderError } from "commander";
import { ApiError, ConnectionError } from "../api/client.js";
import { PlexusBpfError } from "../bpf/errors.js";
import { PlexusError } from "../core/errors.js";
import { registerCaptureCommand } from "./commands/capture.js";
import { addDaemonOptions } from "./commands/client.js";
import { registerCompletionCommands } from "./commands/completion.js";
import { registerDaemonCommand } from "./commands/daemon.js";
import { registerDeclarativeCommands } from "./commands/declarative.js";
import { registerEventCommands } from "./commands/events.js";
import { registerInstanceCommands } from "./commands/instance.js";
import { registerLinkCommands } from "./commands/link.js";
import { registerNfCommands } from "./commands/nf.js";
import { registerPortCommands } from "./commands/port.js";
import { registerTableCommand } from "./commands/table.js";
import { registerTopCommand } from "./commands/top.js";
import { registerTraceCommand } from "./commands/trace.js";
import { registerTopologyCommands } from "./commands/topology.js";
import { UsageError } from "./errors.js";

/** The eBPF object and runtime commands: registered only when they may run (or for the help). */
async function registerBpfCommands(program: Command): Promise<void> {
  const [obj, prog, vm] = await Promise.all([
    import("./commands/obj.js"),
    import("./commands/prog.js"),
    import("./commands/vm.js"),
  ]);
  obj.registerObjCommands(program);
  prog.registerProgCommands(program);
  vm.registerVmCommands(program);
}

const BPF_COMMANDS = new Set(["obj", "prog", "vm", "run"]);

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("plexus")
    .description("plexus: a programmable network hypervisor for Linux, built on eBPF")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  addDaemonOptions(program);
  registerDaemonCommand(program);
  registerNfCommands(program);
  registerInstanceCommands(program);
  registerPortCommands(program);
  registerLinkCommands(program);
  registerTopologyCommands(program);
  registerEventCommands(program);
  registerTopCommand(program);
  registerTraceCommand(program);
  registerCaptureCommand(program);
  registerDeclarativeCommands(program);
  registerTableCommand(program);
  registerCompletionCommands(program);
  // Hypervisor commands start without loading the eBPF library and the userspace VM.
  const word = firstWord(argv);
  if (word === undefined || word === "help" || word === "completion" || BPF_COMMANDS.has(word))
    await registerBpfCommands(program);
  program.addHelpText(
    "after",
    `
Tables of an instance: plexus INSTANCE TABLE show|add|del [ARGS]  (e.g. plexus br0 fdb show)
The daemon is found with --socket PATH or PLEXUS_SOCKET (default /run/plexus/plexus.sock),
or --url http://HOST:PORT or PLEXUS_URL with PLEXUS_TOKEN.`,
  );
  return program;
}

const VALUE_OPTIONS = new Set(["--socket", "--url"]);

/** Index of the first word that is not a global option (or its value). */
function firstWordIndex(argv: readonly string[]): number {
  let i = 0;
  while (i < argv.length && argv[i].startsWith("-")) i += VALUE_OPTIONS.has(argv[i]) ? 2 : 1;
  return i;
}

const firstWord = (argv: readonly string[]): string | undefined => argv[firstWordIndex(argv)];

/** `plexus br0 fdb show` is `plexus table br0 fdb show`: an unknown first word names an instance. */
function expandTableShorthand(program: Command, argv: string[]): string[] {
  const i = firstWordIndex(argv);
  const word = argv[i];
  if (word === undefined || word === "help" || BPF_COMMANDS.has(word)) return argv;
  const known = program.commands.some((c) => c.name() === word || c.aliases().includes(word));
  return known ? argv : [...argv.slice(0, i), "table", ...argv.slice(i)];
}

export async function main(argv: string[], name = "plexus"): Promise<number> {
  const program = await buildProgram(argv);
  const fail = (message: string, code: number) => {
    process.stderr.write(`${name}: ${message}\n`);
    return code;
  };
  try {
    await program.parseAsync(expandTableShorthand(program, argv), { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError) return fail(e.message, 2);
    if (e instanceof ApiError) {
      const code = fail(e.message, 1);
      if (e.problem.verifierLog)
        process.stderr.write(`verifier log (end):\n${e.problem.verifierLog.replace(/^/gm, "  ")}\n`);
      return code;
    }
    if (e instanceof ConnectionError || e instanceof PlexusError || e instanceof PlexusBpfError)
      return fail(e.message, 1);
    throw e;
  }
}
