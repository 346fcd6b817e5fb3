// plexus run: an object's program as a userspace data plane, on a capture file or on live
// interfaces (AF_PACKET), with per-verdict counters.
import type { Command } from "commander";
import { InvalidArgumentError, Option } from "commander";
import { BpfObject } from "../../bpf/object/object.js";
import { PacketPipeline } from "../../vm/dataplane.js";
import { readCapture, runCapture, runLive } from "../../vm/io/run.js";
import type { RunStats } from "../../vm/io/run.js";
import "../../vm/jit/engine.js";
import { contextOf } from "../../vm/object.js";
import type { EngineName } from "../../vm/vm.js";
import { Vm } from "../../vm/vm.js";
import { UsageError } from "../errors.js";
import { json } from "../output.js";
import { objectOpenOptions, typeOption } from "./options.js";
import { parseMapFills } from "./prog.js";

interface RunCliOptions {
  prog: string;
  pcap?: string;
  out?: string;
  iface?: string[];
  engine: EngineName;
  count?: number;
  duration?: number;
  ingressIfindex?: number;
  map?: string[];
  type?: string[];
  json?: boolean;
}

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a positive number");
  return n;
};

function printStats(s: RunStats, asJson: boolean | undefined, out: string | undefined): void {
  if (asJson) {
    process.stdout.write(`${json(s)}\n`);
    return;
  }
  const c = s.counters;
  process.stdout.write(
    `packets: ${s.packets} in ${s.seconds.toFixed(3)} s (${Math.round(s.packetsPerSecond).toLocaleString("en")} packets/s)\n` +
      `pass ${c.pass}  drop ${c.drop}  tx ${c.tx}  redirect ${c.redirect}  aborted ${c.aborted}  error ${c.error}\n` +
      (s.written !== undefined ? `written: ${s.written} packets to ${out}\n` : "") +
      (s.sent !== undefined ? `sent: ${s.sent} frames (${s.sendErrors} failed)\n` : "") +
      s.faults.map((f) => `fault (${f.count}x): ${f.message}\n`).join(""),
  );
}

export function registerRunCommand(program: Command): void {
  typeOption(
    program
      .command("run")
      .argument("<file>", "eBPF object file")
      .requiredOption("--prog <name>", "XDP or TC program to run")
      .option("--pcap <file>", "read packets from a pcap or pcapng capture")
      .option(
        "--out <file>",
        "write the packets that pass, are transmitted or redirected (.pcapng: with verdicts)",
      )
      .option(
        "--iface <name...>",
        "capture on these interfaces (AF_PACKET); XDP_TX and redirects are sent out",
      )
      .addOption(new Option("--engine <engine>", "interp or jit").choices(["interp", "jit"]).default("jit"))
      .addOption(new Option("--count <n>", "live: stop after n packets").argParser(positive))
      .addOption(new Option("--duration <seconds>", "live: stop after this long").argParser(positive))
      .addOption(
        new Option(
          "--ingress-ifindex <n>",
          "capture files: the receiving ifindex the program sees",
        ).argParser(positive),
      )
      .option(
        "--map <name-and-entries...>",
        "fill a map first: --map NAME KEYHEX=VALUEHEX [KEYHEX=VALUEHEX...]",
      )
      .option("--json", "print the counters as JSON")
      .description(
        "run a program in the userspace runtime as a data plane, on a capture or on live interfaces",
      )
      .addHelpText(
        "after",
        "\nExamples:\n  plexus run fw.o --prog firewall --pcap in.pcap --out passed.pcapng\n  plexus run pong.o --prog pong --iface eth1 --count 100   (root)",
      ),
  ).action(async (file: string, o: RunCliOptions) => {
    if ((o.pcap === undefined) === (o.iface === undefined))
      throw new UsageError("give the packets with exactly one of --pcap FILE or --iface NAME");
    if (o.out && !o.pcap) throw new UsageError("--out goes with --pcap");
    const spec = BpfObject.open(file, objectOpenOptions(o)).spec;
    const ps = spec.programs.get(o.prog);
    if (!ps)
      throw new UsageError(
        `${file}: no program '${o.prog}' (programs: ${[...spec.programs.keys()].join(", ")})`,
      );
    const kind = contextOf(ps.type);
    if (kind !== "xdp" && kind !== "tc")
      throw new UsageError(`program '${o.prog}' is not an XDP or TC program`);
    const vm = new Vm({ engine: o.engine });
    const runnable = [...spec.programs.values()]
      .filter((p) => p.name === o.prog || (p.autoload && contextOf(p.type) === kind))
      .map((p) => p.name);
    const obj = vm.loadObject(spec, { programs: runnable });
    for (const f of parseMapFills(o.map ?? [])) obj.map(f.map).update(f.key, f.value);
    const pipeline = new PacketPipeline(vm, obj.program(o.prog), { engine: o.engine });
    try {
      if (o.pcap) {
        const packets = readCapture(o.pcap);
        printStats(
          runCapture(pipeline, packets, { out: o.out, ingressIfindex: o.ingressIfindex }),
          o.json,
          o.out,
        );
        return;
      }
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        const s = await runLive(pipeline, o.iface ?? [], {
          count: o.count,
          durationMs: o.duration !== undefined ? o.duration * 1000 : undefined,
          signal: ac.signal,
          onReady: () => process.stderr.write(`plexus: running ${o.prog} on ${(o.iface ?? []).join(", ")}\n`),
        });
        printStats(s, o.json, undefined);
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    } finally {
      pipeline.close();
    }
  });
}
