// How hypervisor commands find the daemon: --socket PATH or PLEXUS_SOCKET (default
// /run/plexus/plexus.sock), or --url http://HOST:PORT or PLEXUS_URL with PLEXUS_TOKEN.
import type { Command } from "commander";
import { ApiClient, DEFAULT_SOCKET } from "../../api/client.js";
import { UsageError } from "../errors.js";

export function addDaemonOptions(program: Command): Command {
  return program
    .option("--socket <path>", `the daemon's unix socket (env PLEXUS_SOCKET; default ${DEFAULT_SOCKET})`)
    .option(
      "--url <url>",
      "the daemon's TCP address, e.g. http://127.0.0.1:7420 (env PLEXUS_URL; token in PLEXUS_TOKEN)",
    );
}

export function apiClient(cmd: Command): ApiClient {
  const o = cmd.optsWithGlobals<{ socket?: string; url?: string }>();
  const url = o.url ?? (o.socket ? undefined : process.env.PLEXUS_URL);
  if (url) {
    if (!/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`--url wants http://HOST:PORT, got '${url}'`);
    return new ApiClient({ url, token: process.env.PLEXUS_TOKEN });
  }
  return new ApiClient({ socket: o.socket ?? process.env.PLEXUS_SOCKET ?? DEFAULT_SOCKET });
}

/** "NAME:PORT" split, or a usage error naming the argument. */
export function splitPort(text: string, what: string): [string, string] {
  const m = /^([^:]+):([^:]+)$/.exec(text);
  if (!m) throw new UsageError(`${what} wants INSTANCE:PORT, got '${text}'`);
  return [m[1], m[2]];
}

export const examples = (lines: string[]): string =>
  `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`;
