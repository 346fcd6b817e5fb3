// plexus events [--follow]: what the hypervisor did and what NFs reported.
import type { Command } from "commander";
import { ConnectionError, type ApiClient } from "../../api/client.js";
import type { EventJson, StatusJson } from "../../api/schemas.js";
import { UsageError } from "../errors.js";
import { apiClient, examples } from "./client.js";

const line = (e: EventJson) =>
  `${e.time}  ${e.kind.padEnd(20)} ${(e.instance ?? "-").padEnd(10)} ${e.message}`;

export function registerEventCommands(program: Command): void {
  program
    .command("events")
    .description("recent events; --follow streams new ones until Ctrl-C")
    .option("-f, --follow", "keep streaming new events")
    .option("--instance <name>", "only this instance's events")
    .option("--since <seq>", "only events after this sequence number")
    .option("-n, --limit <n>", "at most this many recent events", "100")
    .option("-o, --output <format>", "table or json (one JSON object per line)", "table")
    .addHelpText(
      "after",
      examples(["plexus events", "plexus events --follow --instance br0", "plexus events -o json"]),
    )
    .action(
      async (
        o: { follow?: boolean; instance?: string; since?: string; limit: string; output: string },
        cmd: Command,
      ) => {
        if (!["table", "json"].includes(o.output))
          throw new UsageError(`-o wants table or json, got '${o.output}'`);
        const since = o.since === undefined ? undefined : Number(o.since);
        const limit = Number(o.limit);
        if (since !== undefined && !(Number.isInteger(since) && since >= 0))
          throw new UsageError(`--since wants a sequence number, got '${o.since}'`);
        if (!(Number.isInteger(limit) && limit > 0))
          throw new UsageError(`--limit wants a positive number, got '${o.limit}'`);
        const print = (e: EventJson) => console.log(o.output === "json" ? JSON.stringify(e) : line(e));
        const api = apiClient(cmd);
        const recent = await api.get<EventJson[]>("/v1/events", { since, instance: o.instance, limit });
        for (const e of recent) print(e);
        if (!o.follow) return;
        // Continue right after what was printed: nothing emitted in between is missed.
        let last = recent.length ? recent[recent.length - 1].seq : (since ?? 0);
        let pid = (await api.get<StatusJson>("/v1/status")).pid;
        const abort = new AbortController();
        const stop = () => abort.abort();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        try {
          while (!abort.signal.aborted) {
            try {
              for await (const e of api.events<EventJson>(
                "/v1/events/stream",
                { since: last, instance: o.instance },
                abort.signal,
              )) {
                print(e);
                last = e.seq;
              }
            } catch (e) {
              if (!(e instanceof ConnectionError) && !isReset(e)) throw e;
            }
            if (abort.signal.aborted) break;
            // The daemon went away (a restart, a crash): wait for it, then go on. A new daemon
            // numbers its events from 1 again: everything it recorded (its adoption first) is new.
            process.stderr.write(
              "plexus: the daemon went away; waiting for it to come back (Ctrl-C to stop)\n",
            );
            const back = await waitForDaemon(api, abort.signal);
            if (back === undefined) break;
            if (back !== pid) last = 0;
            pid = back;
          }
        } finally {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
        }
      },
    );
}

const isReset = (e: unknown) =>
  ["ECONNRESET", "ECONNREFUSED", "ENOENT", "EPIPE"].includes((e as NodeJS.ErrnoException).code ?? "");

/** Polls the daemon until it answers (its pid) or `signal` aborts (undefined). */
async function waitForDaemon(api: ApiClient, signal: AbortSignal): Promise<number | undefined> {
  while (!signal.aborted) {
    try {
      return (await api.get<StatusJson>("/v1/status")).pid;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return undefined;
}
