// Runs the real `plexus` command (bin/plexus.js) as a child process.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { projectRoot } from "../../src/build/compile-bpf.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function plexus(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [join(projectRoot, "bin", "plexus.js"), ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
