// plexus trace FILTER: follows the packets a tcpdump expression selects through the topology and
// prints each one's hops (instance, port, verdict, program, time). It asks the daemon for the
// data plane's per-packet trace records (GET /v1/traces/stream), then starts captures with
// trace=true (POST /v1/captures: the capture NF switches the trace on for what its filter selects)
// at the entry points, the host interfaces connected to instance ports (or --at), receiving only;
// it stops after --count packets or --timeout seconds, and the captures go with their connections.
import type { Command } from "commander";
import { runCapture } from "../../api/capture-client.js";
import type { TraceHopJson } from "../../api/routes/traces.js";
import type { InstanceJson } from "../../api/schemas.js";
import { realtimeOffsetNs } from "../../../nf/capture/cp/session.js";
import { UsageError } from "../errors.js";
import { PathAssembler, describePacket, type TracedPacket } from "../trace/paths.js";
import { apiClient, examples } from "./client.js";

interface TraceOptions {
  count: string;
  timeout?: string;
  at?: string;
  output: string;
}

/** Host interfaces connected to ports of standard instances: where packets enter the topology. */
function entryPoints(instances: readonly InstanceJson[]): string[] {
  const out = new Set<string>();
  for (const i of instances)
    if (i.kind === "standard")
      for (const p of i.ports) if (p.peer !== undefined && !p.peer.includes(":")) out.add(p.peer);
  return [...out].sort();
}

export function registerTraceCommand(program: Command): void {
  program
    .command("trace")
    .description("follow the packets a filter selects through the topology, hop by hop")
    .argument("<filter...>", "a tcpdump expression, e.g. icmp and host 198.18.0.2")
    .option("-c, --count <n>", "stop after this many packets", "10")
    .option("--timeout <seconds>", "stop after this long, however many packets were traced")
    .option(
      "--at <points>",
      "where packets enter, comma-separated (interfaces or INSTANCE:PORT); default: every host interface connected to an instance",
    )
    .option("-o, --output <format>", "table or json (one JSON object per packet)", "table")
    .addHelpText(
      "after",
      examples([
        "plexus trace icmp",
        "plexus trace -c 3 'tcp port 80 and host 198.18.0.2'",
        "plexus trace --at eth0,br0:p2 --timeout 10 udp",
      ]) +
        "\nEach packet prints as: where it entered, then per hop the time since entry, the instance, the port,\nwhat happened there and the program (NF type and version) that decided it. The trace does not cross\nfrom an XDP instance to a TC one (a link veth) nor into the host stack.\n",
    )
    .action(async (words: string[], o: TraceOptions, cmd: Command) => {
      const count = Number(o.count);
      if (!Number.isInteger(count) || count < 1)
        throw new UsageError(`--count wants a positive whole number, got '${o.count}'`);
      const timeout = o.timeout === undefined ? undefined : Number(o.timeout);
      if (timeout !== undefined && !(timeout > 0))
        throw new UsageError(`--timeout wants seconds, got '${o.timeout}'`);
      if (!["table", "json"].includes(o.output))
        throw new UsageError(`-o wants table or json, got '${o.output}'`);
      const filter = words.join(" ");
      const api = apiClient(cmd);
      const points = o.at
        ? o.at.split(",").filter(Boolean)
        : entryPoints(await api.get<InstanceJson[]>("/v1/instances"));
      if (!points.length)
        throw new UsageError(
          "nothing to trace: no instance port is connected to a host interface (or give --at INTERFACE)",
        );

      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      const timer = timeout ? setTimeout(stop, timeout * 1000) : undefined;
      const offset = realtimeOffsetNs();
      // Only packets our own captures started: capture-<id>-in, for the ids the daemon gave them.
      const ids = new Set<string>();
      const ours = (p: TracedPacket) => [...ids].some((id) => p.tracer === `capture-${id}-in`);
      const held: TracedPacket[] = [];
      let printed = 0;
      let started = 0;
      const print = (p: TracedPacket) => {
        if (printed >= count || !ours(p)) return;
        printed++;
        if (o.output === "json") console.log(JSON.stringify({ packet: printed, at: p.at, hops: p.hops }));
        else console.log(describePacket(p, printed, offset).join("\n"));
        if (printed >= count) stop();
      };
      const assembler = new PathAssembler((p) => (started < points.length ? held.push(p) : print(p)));
      const stream = api.events<TraceHopJson | { ready: true }>("/v1/traces/stream", undefined, abort.signal);
      try {
        const first = await stream.next();
        if (first.done) throw new UsageError("the daemon closed the trace stream");
        const reading = (async () => {
          for await (const h of stream) if (!("ready" in h)) assembler.add(h);
        })();
        const captures = points.map((target) =>
          runCapture(
            api,
            { target, direction: "in", filter, trace: true, snaplen: 64 },
            {
              started: (id) => {
                ids.add(id);
                if (++started === points.length) held.splice(0).forEach(print);
              },
              data: () => undefined,
            },
            abort.signal,
          ),
        );
        // A capture refused (a bad filter, a point that does not exist) ends the trace with its reason.
        const failed = Promise.all(captures).then(
          () => undefined,
          (e: unknown) => {
            stop();
            throw e;
          },
        );
        await Promise.race([reading, failed, new Promise((r) => abort.signal.addEventListener("abort", r))]);
        stop();
        await Promise.allSettled([reading, ...captures]);
        await failed;
      } finally {
        if (timer) clearTimeout(timer);
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        abort.abort();
      }
      if (o.output !== "json")
        console.error(
          `${printed} packet${printed === 1 ? "" : "s"} traced at ${points.join(", ")}${printed < count && timeout ? ` (stopped after ${timeout} s)` : ""}`,
        );
    });
}
