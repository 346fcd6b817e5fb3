// plexus vm: the userspace runtime's tools. `vm conformance-plugin` is a bpf_conformance plugin
// (program hex on stdin, memory hex as the first argument, r0 in hex on stdout).
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { PlexusBpfError } from "../../bpf/errors.js";
import { parseHexBytes, runConformance } from "../../vm/conformance.js";
import type { EngineName } from "../../vm/vm.js";
import { UsageError } from "../errors.js";
import { registerVmTrace } from "./vm-trace.js";
import { registerRunCommand } from "./run.js";

/** The runner passes plugin options as one argument ("--engine jit"): split and read them. */
function pluginArgs(args: readonly string[]): { memory: string; engine: EngineName } {
  let memory = "";
  let engine: EngineName = "interp";
  const words = args.flatMap((a) => (a.trimStart().startsWith("--") ? a.trim().split(/\s+/) : [a]));
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === "--engine") {
      const v = words[++i];
      if (v !== "interp" && v !== "jit")
        throw new UsageError(`--engine wants interp or jit, got '${v ?? ""}'`);
      engine = v;
    } else if (w === "--jit") engine = "jit";
    else if (w === "--interpret") engine = "interp";
    else if (w.startsWith("--")) throw new UsageError(`unknown option ${w}`);
    else if (w.trim() !== "") memory = w;
  }
  return { memory, engine };
}

/** `plexus vm ...` and `plexus run` (the runtime as a data plane). */
export function registerVmCommands(program: Command): void {
  registerRunCommand(program);
  const vm = program
    .command("vm")
    .description("the userspace eBPF runtime (interpreter and WebAssembly JIT)");
  registerVmTrace(vm);
  vm.command("conformance-plugin")
    .description("run one program as a bpf_conformance plugin: program hex on stdin, memory hex as argument")
    .argument("[args...]", "input memory as hex bytes, then plugin options (--engine interp|jit)")
    .allowUnknownOption()
    .helpOption(false)
    .addHelpText(
      "after",
      "\nUse a two-line wrapper as the --plugin_path of bpf_conformance_runner:\n  #!/bin/sh\n  exec plexus vm conformance-plugin \"$@\"\nand --plugin_options '--engine jit' to test the JIT.",
    )
    .action((args: string[]) => {
      const { memory, engine } = pluginArgs(args);
      const programHex = readFileSync(0, "utf8").split("\n")[0] ?? "";
      try {
        const r0 = runConformance(parseHexBytes(programHex), parseHexBytes(memory), engine);
        process.stdout.write(`${r0.toString(16)}\n`);
      } catch (e) {
        if (!(e instanceof PlexusBpfError)) throw e;
        // The runner compares stdout with the expected error text; main() reports it on stderr too.
        process.stdout.write(`${e.message}\n`);
        throw e;
      }
    });
}
