// plexus vm trace: run a program in the interpreter and print every instruction it executes.
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { ProgType, TcAction, XdpAction } from "../../bpf/constants.js";
import { runInVm } from "../../vm/cli-run.js";
import type { TraceEvent } from "../../vm/interp.js";
import { formatTraceLine, traceText } from "../../vm/trace.js";
import { UsageError } from "../errors.js";
import { json } from "../output.js";
import { objectOpenOptions, typeOption } from "./options.js";
import { parseHex, parseMapFills } from "./prog.js";

interface TraceOptions {
  prog: string;
  dataHex?: string;
  ctxHex?: string;
  map?: string[];
  type?: string[];
  json?: boolean;
  maxSteps: number;
}

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
};

function verdict(type: number, r: number): string {
  const table: Record<string, number> =
    type === ProgType.XDP
      ? XdpAction
      : type === ProgType.SCHED_CLS || type === ProgType.SCHED_ACT
        ? TcAction
        : {};
  const name = Object.entries(table).find(([, v]) => v === r)?.[0];
  return name ? ` (${type === ProgType.XDP ? "XDP" : "TC_ACT"}_${name})` : "";
}

export function registerVmTrace(vm: Command): void {
  typeOption(
    vm
      .command("trace")
      .argument("<file>", "eBPF object file")
      .requiredOption("--prog <name>", "program to run")
      .requiredOption("--data-hex <hex>", "packet bytes as hex")
      .option("--ctx-hex <hex>", "context (xdp_md / __sk_buff) bytes as hex")
      .option(
        "--map <name-and-entries...>",
        "fill a map first: --map NAME KEYHEX=VALUEHEX [KEYHEX=VALUEHEX...]",
      )
      .option("--json", "print the steps as JSON: {steps: [{slot, depth, insn, regs}], retval, dataOutHex}")
      .addOption(
        new Option("--max-steps <n>", "stop printing after this many instructions")
          .argParser(positive)
          .default(100000),
      )
      .description(
        "run a program in the userspace interpreter, printing every executed instruction with its registers",
      )
      .addHelpText(
        "after",
        "\nExample:\n  plexus vm trace xdp.o --prog xdp_count --data-hex 0202...  (no root needed)",
      ),
  ).action((file: string, o: TraceOptions) => {
    if (o.dataHex === undefined) throw new UsageError("give the packet with --data-hex HEX");
    const steps: TraceEvent[] = [];
    const printk: string[] = [];
    const out = process.stdout;
    // `plexus vm trace ... | head` closes the pipe early: stop quietly.
    out.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(0);
      throw e;
    });
    const tracer = (e: TraceEvent): void => {
      if (steps.length < o.maxSteps) {
        if (o.json) steps.push(e);
        else out.write(`${formatTraceLine(e)}\n`);
      }
      if (!o.json) steps.length++;
    };
    const { result, progType } = runInVm({
      file,
      prog: o.prog,
      open: objectOpenOptions(o),
      data: parseHex(o.dataHex, "--data-hex"),
      ...(o.ctxHex ? { ctx: parseHex(o.ctxHex, "--ctx-hex") } : {}),
      maps: parseMapFills(o.map ?? []),
      engine: "interp",
      tracer,
      printk: (l) => printk.push(l),
    });
    if (o.json) {
      out.write(
        `${json({
          steps: steps.map((e) => ({
            slot: e.slot,
            depth: e.depth,
            insn: traceText(e.insn),
            regs: e.regs.map((r) => `0x${r.toString(16)}`),
          })),
          retval: result.retval,
          dataOutHex: (result.data ?? Buffer.alloc(0)).toString("hex"),
          printk,
        })}\n`,
      );
      return;
    }
    for (const l of printk) out.write(`trace_printk: ${l}\n`);
    if (steps.length > o.maxSteps) out.write(`... ${steps.length - o.maxSteps} more instructions\n`);
    out.write(
      `exit: r0 = 0x${result.r0.toString(16)}${verdict(progType, result.retval)}, ${result.instructions} instructions\n`,
    );
    out.write(`data out: ${(result.data ?? Buffer.alloc(0)).toString("hex")}\n`);
  });
}
