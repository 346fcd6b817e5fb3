// plexus capture TARGET [EXPRESSION]: tcpdump for the hypervisor. Captures at an instance's port
// (br0:p1) or a host interface, in either direction, with a filter in tcpdump's language, as pcap
// to a file or standard output (-w FILE|-), or one line per packet. Ctrl-C stops the capture
// (the daemon then removes what it set up) and prints tcpdump's counters.
import { createWriteStream, type WriteStream } from "node:fs";
import { once } from "node:events";
import type { Command } from "commander";
import { runCapture, type CaptureRequestBody, type CaptureTotals } from "../../api/capture-client.js";
import { ConnectionError, seg } from "../../api/client.js";
import { PcapStreamParser } from "../../../nf/capture/cp/pcap.js";
import { summarize, timeOfDay } from "../../../nf/capture/cp/summary.js";
import { UsageError } from "../errors.js";
import { table } from "../output.js";
import { apiClient, examples } from "./client.js";

interface CaptureOptions {
  direction: string;
  snapshotLength: string;
  count?: string;
  write?: string;
  duration?: string;
  mode?: string;
  trace?: boolean;
  instance?: string;
  timeStampPrecision: string;
  quiet?: boolean;
  list?: boolean;
}

interface CaptureInfoJson {
  id: string;
  target: string;
  direction: string;
  filter: string;
  instances: string[];
  packets: number;
  startedAt: string;
}

function positiveInt(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${what} wants a positive whole number, got '${text}'`);
  return n;
}

function requestBody(target: string | undefined, words: string[], o: CaptureOptions): CaptureRequestBody {
  if (!["in", "out", "inout"].includes(o.direction))
    throw new UsageError(`-Q wants in, out or inout, got '${o.direction}'`);
  if (!["micro", "nano"].includes(o.timeStampPrecision))
    throw new UsageError(`--time-stamp-precision wants micro or nano, got '${o.timeStampPrecision}'`);
  if (o.mode !== undefined && !["tc", "xdp", "xdp-generic"].includes(o.mode))
    throw new UsageError(`--mode wants tc, xdp or xdp-generic, got '${o.mode}'`);
  const count = positiveInt(o.count, "-c");
  const seconds = o.duration === undefined ? undefined : Number(o.duration);
  if (seconds !== undefined && !(seconds > 0))
    throw new UsageError(`--duration wants seconds, got '${o.duration}'`);
  const common = {
    ...(count ? { count } : {}),
    ...(seconds ? { durationMs: Math.max(1, Math.round(seconds * 1000)) } : {}),
    precision: o.timeStampPrecision as "micro" | "nano",
  };
  if (o.instance !== undefined) {
    // The first word, if any, belongs to the expression: there is no target.
    if (target !== undefined || words.length)
      throw new UsageError(
        `--instance streams ${o.instance} as it is configured; no target or filter (change its filter with plexus ${o.instance} ...)`,
      );
    return { instance: o.instance, ...common };
  }
  if (target === undefined)
    throw new UsageError("give the port (INSTANCE:PORT) or interface to capture at: plexus capture br0:p1");
  const snaplen = positiveInt(o.snapshotLength, "-s");
  return {
    target,
    direction: o.direction as "in" | "out" | "inout",
    filter: words.join(" "),
    ...(snaplen ? { snaplen } : {}),
    ...(o.mode ? { mode: o.mode as "tc" | "xdp" | "xdp-generic" } : {}),
    ...(o.trace ? { trace: true } : {}),
    ...common,
  };
}

/** Writes pcap pieces to a file or stdout, or prints a line per record. */
class Output {
  private readonly parser = new PcapStreamParser();
  private file: WriteStream | undefined;
  private nano = false;
  /** The reader of stdout went away (tcpdump -c ... exited). */
  closed = false;

  constructor(private readonly path: string | undefined) {
    if (path !== undefined && path !== "-") this.file = createWriteStream(path);
  }

  private get out(): NodeJS.WritableStream | undefined {
    return this.path === "-" ? process.stdout : this.file;
  }

  async data(chunk: Buffer): Promise<void> {
    if (this.path === undefined) {
      for (const piece of this.parser.push(chunk)) this.print(piece);
      return;
    }
    // Whole records only (a stream cut later leaves a valid file), in one write per chunk.
    const piece = this.parser.pushWhole(chunk);
    if (this.closed || !piece.length) return;
    const out = this.out as NodeJS.WritableStream;
    if (!out.write(piece))
      await new Promise<void>((resolve) => {
        const done = () => {
          out.off("drain", done);
          out.off("close", done);
          resolve();
        };
        out.on("drain", done);
        out.on("close", done);
      });
  }

  private print(piece: Buffer): void {
    if (piece.length === 24) {
      this.nano = piece.readUInt32LE(0) === 0xa1b23c4d;
      return;
    }
    const data = piece.subarray(16);
    const line = `${timeOfDay(piece.readUInt32LE(0), piece.readUInt32LE(4), this.nano)} ${summarize(data, piece.readUInt32LE(12))}`;
    process.stdout.write(`${line}\n`);
  }

  get packets(): number {
    return this.parser.records;
  }

  async close(): Promise<void> {
    if (this.file) {
      this.file.end();
      await once(this.file, "close");
    }
  }
}

function printTotals(t: CaptureTotals | undefined, written: number): void {
  const lines = t
    ? [
        `${written} packet${written === 1 ? "" : "s"} captured`,
        `${t.seen} packet${t.seen === 1 ? "" : "s"} received by filter`,
        `${t.lost + t.errors} packet${t.lost + t.errors === 1 ? "" : "s"} dropped by kernel`,
      ]
    : [`${written} packet${written === 1 ? "" : "s"} captured (the daemon's counters were not received)`];
  process.stderr.write(`${lines.join("\n")}\n`);
}

async function list(cmd: Command): Promise<void> {
  const rows = await apiClient(cmd).get<CaptureInfoJson[]>("/v1/captures");
  if (!rows.length) {
    console.log("no captures running");
    return;
  }
  console.log(
    table(
      ["ID", "TARGET", "DIRECTION", "FILTER", "PACKETS", "STARTED"],
      rows.map((r) => [r.id, r.target, r.direction, r.filter || "-", r.packets, r.startedAt]),
    ),
  );
}

export function registerCaptureCommand(program: Command): void {
  program
    .command("capture [target] [expression...]")
    .description(
      "capture packets at an instance port (INSTANCE:PORT) or an interface, filtered by a tcpdump expression: pcap with -w FILE or -w -, else one line per packet",
    )
    .option("-Q, --direction <in|out|inout>", "packets received (in), sent (out) or both", "inout")
    .option("-s, --snapshot-length <bytes>", "bytes kept of each packet", "262144")
    .option("-c, --count <n>", "stop after n packets")
    .option("-w, --write <file>", "write pcap to FILE; '-' for standard output")
    .option("--duration <seconds>", "stop after this long")
    .option("--mode <tc|xdp|xdp-generic>", "hook of the capture (default: what the point needs)")
    .option("--trace", "trace the selected packets through the data plane (framework trace records)")
    .option(
      "--instance <name>",
      "stream an existing capture instance (plexus create capture NAME filter=...)",
    )
    .option("--time-stamp-precision <micro|nano>", "timestamp resolution of the pcap output", "micro")
    .option("-q, --quiet", "no counters at the end")
    .option("--list", "list the captures running now")
    .addHelpText(
      "after",
      examples([
        "plexus capture br0:p1",
        "plexus capture br0:p1 -w - | tcpdump -n -r -",
        "plexus capture r1:west -Q in -c 100 -w west.pcap tcp port 80",
        "plexus capture veth0 -s 128 'udp and not port 53'",
        "plexus capture --list",
      ]),
    )
    .action(async (target: string | undefined, words: string[], o: CaptureOptions, cmd: Command) => {
      if (o.list) return list(cmd);
      const body = requestBody(target, words, o);
      const api = apiClient(cmd);
      const output = new Output(o.write);
      let id: string | undefined;
      let stopping = false;
      const abort = new AbortController();
      // First Ctrl-C: the daemon ends the stream (with its counters); a second one: cut it.
      const stop = () => {
        if (stopping || !id) return abort.abort();
        stopping = true;
        api.delete(`/v1/captures/${seg(id)}`).catch(() => abort.abort());
      };
      const onPipe = (e: NodeJS.ErrnoException) => {
        if (e.code !== "EPIPE") throw e;
        output.closed = true;
        stop();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
      process.stdout.on("error", onPipe);
      let totals: CaptureTotals | undefined;
      try {
        totals = await runCapture(
          api,
          body,
          { started: (x) => (id = x), data: (chunk) => output.data(chunk) },
          abort.signal,
        );
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        await output.close();
      }
      if (!o.quiet) printTotals(totals, output.packets);
      if (output.closed) process.stdout.off("error", onPipe);
      if (!totals && !abort.signal.aborted)
        throw new ConnectionError(
          `the capture stream from ${api.where} ended without its counters (did plexusd stop?); what arrived was kept`,
        );
    });
}
