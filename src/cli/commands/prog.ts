// plexus prog run: load an object, fill its maps, run one program on a packet with
// BPF_PROG_TEST_RUN and print what it returned.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { ProgType, TcAction, XdpAction } from "../../bpf/constants.js";
import { BpfObject } from "../../bpf/object/object.js";
import { UsageError } from "../errors.js";
import { json } from "../output.js";
import { objectOpenOptions, typeOption } from "./options.js";

export interface RunResult {
  retval: number;
  dataOutHex: string;
  durationNs: number;
  ctxOutHex?: string;
}

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

export function parseHex(text: string, what: string): Buffer {
  const clean = text.replace(/^0x/, "").replace(/[\s:]/g, "");
  if (!HEX_RE.test(clean)) throw new UsageError(`${what}: '${text}' is not an even number of hex digits`);
  return Buffer.from(clean, "hex");
}

/** Splits `--map NAME K=V K=V --map NAME2 K=V` tokens into per-map entries. */
export function parseMapFills(tokens: readonly string[]): { map: string; key: Buffer; value: Buffer }[] {
  const out: { map: string; key: Buffer; value: Buffer }[] = [];
  let current: string | undefined;
  for (const t of tokens) {
    const eq = t.indexOf("=");
    if (eq < 0) {
      current = t;
      continue;
    }
    if (!current)
      throw new UsageError(`--map: '${t}' comes before a map name (use --map NAME KEYHEX=VALUEHEX)`);
    out.push({
      map: current,
      key: parseHex(t.slice(0, eq), `--map ${current} key`),
      value: parseHex(t.slice(eq + 1), `--map ${current} value`),
    });
  }
  return out;
}

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff)
    throw new InvalidArgumentError("must be a positive integer");
  return n;
};

function verdictName(progType: number, retval: number): string {
  const table: Record<string, number> =
    progType === ProgType.XDP
      ? XdpAction
      : progType === ProgType.SCHED_CLS || progType === ProgType.SCHED_ACT
        ? TcAction
        : {};
  const name = Object.entries(table).find(([, v]) => v === retval)?.[0];
  return name ? ` (${progType === ProgType.XDP ? "XDP" : "TC_ACT"}_${name})` : "";
}

interface RunOptions {
  prog: string;
  engine?: "kernel" | "interp" | "jit";
  dataHex?: string;
  dataFile?: string;
  ctxHex?: string;
  repeat?: number;
  map?: string[];
  json?: boolean;
  type?: string[];
}

export async function runProgram(
  file: string,
  o: RunOptions,
): Promise<{ result: RunResult; progType: number }> {
  if ((o.dataHex === undefined) === (o.dataFile === undefined))
    throw new UsageError("give the packet with exactly one of --data-hex HEX or --data-file PATH");
  const data =
    o.dataHex !== undefined ? parseHex(o.dataHex, "--data-hex") : readFileSync(o.dataFile as string);
  const ctx = o.ctxHex !== undefined ? parseHex(o.ctxHex, "--ctx-hex") : undefined;
  const fills = parseMapFills(o.map ?? []);

  if (o.engine === "interp" || o.engine === "jit") {
    const { runInVm } = await import("../../vm/cli-run.js");
    const { result: r, progType } = runInVm({
      file,
      prog: o.prog,
      open: objectOpenOptions(o),
      data,
      ...(ctx ? { ctx } : {}),
      repeat: o.repeat ?? 1,
      maps: fills,
      engine: o.engine,
    });
    const result: RunResult = {
      retval: r.retval,
      dataOutHex: (r.data ?? Buffer.alloc(0)).toString("hex"),
      durationNs: Math.round(r.durationNs),
      ...(ctx ? { ctxOutHex: (r.ctx ?? Buffer.alloc(0)).toString("hex") } : {}),
    };
    return { result, progType };
  }
  const obj = BpfObject.open(file, objectOpenOptions(o));
  const spec = obj.program(o.prog);
  for (const f of fills) obj.map(f.map); // fail on unknown names before touching the kernel
  const loaded = await obj.load({
    programs: [
      ...new Set([...[...obj.spec.programs.values()].filter((p) => p.autoload).map((p) => p.name), o.prog]),
    ],
  });
  try {
    for (const f of fills) {
      const m = loaded.map(f.map);
      if (f.key.length !== m.keySize || f.value.length !== m.valueSize)
        throw new UsageError(
          `--map ${f.map}: key/value of ${f.key.length}/${f.value.length} bytes, the map wants ${m.keySize}/${m.valueSize}`,
        );
      m.update(f.key, f.value);
    }
    const r = loaded.program(o.prog).testRun({
      data,
      dataSizeOut: data.length + 4096,
      ...(ctx ? { ctx, ctxSizeOut: ctx.length } : {}),
      repeat: o.repeat ?? 1,
    });
    const result: RunResult = {
      retval: r.retval,
      dataOutHex: (r.data ?? Buffer.alloc(0)).toString("hex"),
      durationNs: r.durationNs,
      ...(ctx ? { ctxOutHex: (r.ctx ?? Buffer.alloc(0)).toString("hex") } : {}),
    };
    return { result, progType: spec.type };
  } finally {
    loaded.close();
  }
}

export function registerProgCommands(program: Command): void {
  const prog = program.command("prog").description("load and run eBPF programs");
  typeOption(
    prog
      .command("run")
      .argument("<file>", "eBPF object file")
      .requiredOption("--prog <name>", "program to run")
      .option("--data-hex <hex>", "packet bytes as hex")
      .option("--data-file <path>", "packet bytes from a file")
      .option("--ctx-hex <hex>", "context (xdp_md / __sk_buff) bytes as hex")
      .addOption(
        new Option("--repeat <n>", "run the program N times (duration is the mean)").argParser(positiveInt),
      )
      .option(
        "--map <name-and-entries...>",
        "fill a map first: --map NAME KEYHEX=VALUEHEX [KEYHEX=VALUEHEX...]",
      )
      .option("--json", "print {retval, dataOutHex, durationNs} as JSON")
      .addOption(
        new Option("--engine <engine>", "where to run it: the kernel, or the userspace interpreter or JIT")
          .choices(["kernel", "interp", "jit"])
          .default("kernel"),
      )
      .description(
        "run a program once (or --repeat times) on a packet with BPF_PROG_TEST_RUN, or in the userspace runtime",
      )
      .addHelpText(
        "after",
        "\nExamples:\n  plexus prog run xdp.o --prog xdp_count --data-hex 0202...\n  plexus prog run tc.o --prog cls --data-file pkt.bin --map counters 00000000=0100000000000000 --json\n  plexus prog run xdp.o --prog xdp_count --data-hex 0202... --engine jit   (no root needed)",
      ),
  ).action(async (file: string, o: RunOptions) => {
    const { result, progType } = await runProgram(file, o);
    if (o.json) process.stdout.write(`${json(result)}\n`);
    else
      process.stdout.write(
        `retval: ${result.retval}${verdictName(progType, result.retval)}\nduration: ${result.durationNs} ns\ndata out: ${result.dataOutHex}\n` +
          (result.ctxOutHex !== undefined ? `ctx out: ${result.ctxOutHex}\n` : ""),
      );
  });
}
