// plexus daemon (also installed as plexusd): runs the hypervisor and its API until a signal.
import type { Command } from "commander";
import { DEFAULTS } from "../../daemon/defaults.js";
import { examples } from "./client.js";

export function registerDaemonCommand(program: Command): void {
  program
    .command("daemon")
    .description("run the hypervisor daemon (plexusd) in the current network namespace")
    .option("--state-dir <dir>", "desired state and installed NF types", DEFAULTS.stateDir)
    .option("--bpffs <dir>", "bpf filesystem to pin under (mounted there if it is not one)", DEFAULTS.bpffs)
    .option("--listen <host:port>", "also serve the API on TCP (needs --token-file)")
    .option("--token-file <file>", "bearer token TCP clients must send (a file only root can read)")
    .option("--log-level <level>", "fatal, error, warn, info, debug, trace or silent", "info")
    .option("--nf-dir <dir>", "built-in NF packages (default: the nf/ of this installation)")
    .addHelpText(
      "after",
      examples([
        "plexusd                                   # socket /run/plexus/plexus.sock",
        "ip netns exec lab plexusd --socket /run/plexus/lab.sock --state-dir /var/lib/plexus/lab",
        "plexusd --listen 127.0.0.1:7420 --token-file /etc/plexus/token",
      ]),
    )
    .action(async (_o, cmd: Command) => {
      const o = cmd.optsWithGlobals<{
        socket?: string;
        stateDir: string;
        bpffs: string;
        listen?: string;
        tokenFile?: string;
        logLevel: string;
        nfDir?: string;
      }>();
      // Loaded here: the daemon's modules (core, Fastify) are heavy for every other command.
      const { startDaemon } = await import("../../daemon/daemon.js");
      const d = await startDaemon({
        socket: o.socket ?? process.env.PLEXUS_SOCKET,
        stateDir: o.stateDir,
        bpffs: o.bpffs,
        listen: o.listen,
        tokenFile: o.tokenFile,
        logLevel: o.logLevel,
        nfDir: o.nfDir,
      });
      await d.stopped;
    });
}
