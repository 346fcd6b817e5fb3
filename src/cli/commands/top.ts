// plexus top: a live view of the data plane, refreshed in place like top(1): instances and their
// ports sorted by packet rate, drops highlighted. Plain ANSI (works over SSH); NO_COLOR or a
// stdout that is not a terminal gives plain text, and --once prints one frame for scripts.
import type { Command } from "commander";
import type { StatsJson } from "../../api/routes/stats.js";
import { UsageError } from "../errors.js";
import { renderTop } from "../top/render.js";
import { apiClient, examples } from "./client.js";

const CLEAR = "\x1b[H\x1b[2J";
const HIDE_CURSOR = "\x1b[?25l";
const SHOW_CURSOR = "\x1b[?25h";

export function registerTopCommand(program: Command): void {
  program
    .command("top")
    .description("live counters: instances and ports sorted by packet rate, drops highlighted")
    .option("--once", "print one frame and exit (scripts, tests)")
    .option("-d, --interval <seconds>", "seconds between refreshes", "1")
    .option("-o, --output <format>", "table or json (--once only: the daemon's /v1/stats)", "table")
    .addHelpText(
      "after",
      examples([
        "plexus top",
        "plexus top -d 5",
        "plexus top --once",
        "NO_COLOR=1 plexus top --once | grep br0",
      ]) +
        "\nRates are per second, computed by the daemon over its sampling interval; drops happening now are\nred (or marked '!' without colour), drops in the past yellow.\n",
    )
    .action(async (o: { once?: boolean; interval: string; output: string }, cmd: Command) => {
      const interval = Number(o.interval);
      if (!(interval >= 0.2 && interval <= 3600))
        throw new UsageError(`--interval wants seconds between 0.2 and 3600, got '${o.interval}'`);
      if (!["table", "json"].includes(o.output))
        throw new UsageError(`-o wants table or json, got '${o.output}'`);
      if (o.output === "json" && !o.once) throw new UsageError("-o json needs --once");
      const api = apiClient(cmd);
      const tty = Boolean(process.stdout.isTTY);
      const color = tty && !process.env.NO_COLOR;
      const frame = async () => {
        const s = await api.get<StatsJson>("/v1/stats");
        return renderTop(s, { color, width: tty ? process.stdout.columns : 0 });
      };
      if (o.once) {
        if (o.output === "json")
          process.stdout.write(`${JSON.stringify(await api.get<StatsJson>("/v1/stats"), null, 2)}\n`);
        else process.stdout.write(`${(await frame()).join("\n")}\n`);
        return;
      }
      await loop(frame, interval * 1000, tty);
    });
}

/** Refreshes until Ctrl-C: in place on a terminal, one frame after another (blank line between) otherwise. */
async function loop(frame: () => Promise<string[]>, everyMs: number, tty: boolean): Promise<void> {
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  if (tty) process.stdout.write(HIDE_CURSOR);
  try {
    for (let first = true; ; first = false) {
      const lines = await frame();
      process.stdout.write(
        tty ? `${CLEAR}${lines.join("\n")}\n` : `${first ? "" : "\n"}${lines.join("\n")}\n`,
      );
      let timer: NodeJS.Timeout | undefined;
      const next = new Promise<"next">((r) => (timer = setTimeout(() => r("next"), everyMs)));
      const why = await Promise.race([next, stopped.then(() => "stop" as const)]);
      clearTimeout(timer);
      if (why === "stop") return;
    }
  } finally {
    if (tty) process.stdout.write(SHOW_CURSOR);
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
