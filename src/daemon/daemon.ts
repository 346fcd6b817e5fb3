// plexusd: one Hypervisor in whatever network namespace the process runs in, with the REST API on a
// unix socket (root only) and optionally on TCP (bearer token). Logs are JSON lines on stderr.
// SIGINT and SIGTERM stop the process and leave the data plane forwarding.
import { chmodSync, existsSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pino, type Logger } from "pino";
import { PlexusBpfError } from "../bpf/errors.js";
import { PlexusError } from "../core/errors.js";
import type { Hypervisor } from "../core/hypervisor.js";
import type { Api } from "../api/server.js";
import { DEFAULTS } from "./defaults.js";
import { claimSocket, claimStateDir, DaemonStartError, parseListen, readToken } from "./endpoint.js";

export interface DaemonOptions {
  socket?: string;
  stateDir?: string;
  bpffs?: string;
  /** HOST:PORT for a TCP listener (needs tokenFile). */
  listen?: string;
  tokenFile?: string;
  logLevel?: string;
  /** Built-in NF packages (default: the project's nf/). */
  nfDir?: string;
}

/** The core, with errors it does not type (a bpffs path that is a file...) turned into start errors. */
async function startHypervisor(
  stateDir: string,
  bpffs: string,
  log: Logger,
  nfDir?: string,
): Promise<Hypervisor> {
  if (existsSync(bpffs) && !statSync(bpffs).isDirectory())
    throw new DaemonStartError(
      `--bpffs ${bpffs} is not a directory; give a directory on (or for) a bpf filesystem`,
    );
  // Loaded only now: option and endpoint errors are reported without loading the core.
  const { Hypervisor } = await import("../core/hypervisor.js");
  try {
    return await Hypervisor.start({ stateDir, bpffs, logger: log, builtinNfDir: nfDir });
  } catch (e) {
    if (e instanceof PlexusError || e instanceof PlexusBpfError) throw e;
    throw new DaemonStartError(`cannot start the hypervisor: ${(e as Error).message}`);
  }
}

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

export interface RunningDaemon {
  log: Logger;
  /** Resolves when the daemon has stopped (after a signal or stop()). */
  stopped: Promise<void>;
  stop(): Promise<void>;
}

/** Starts the daemon; throws DaemonStartError (or the core's error) when it cannot. */
export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const level = opts.logLevel ?? "info";
  if (!LEVELS.includes(level))
    throw new DaemonStartError(`--log-level wants one of ${LEVELS.join(", ")}, got '${level}'`);
  const log = pino({ level, name: "plexusd" }, pino.destination({ dest: 2, sync: true }));
  const socket = resolve(opts.socket ?? DEFAULTS.socket);
  const stateDir = resolve(opts.stateDir ?? DEFAULTS.stateDir);
  const bpffs = resolve(opts.bpffs ?? DEFAULTS.bpffs);
  const tcp = opts.listen ? parseListen(opts.listen) : undefined;
  if (tcp && !opts.tokenFile)
    throw new DaemonStartError(
      "listening on TCP needs a bearer token: --token-file FILE (clients send it with PLEXUS_TOKEN)",
    );
  const token = opts.tokenFile ? readToken(opts.tokenFile) : undefined;

  await claimSocket(socket);
  const releaseState = claimStateDir(stateDir);
  const cleanups: (() => unknown)[] = [releaseState];
  const undo = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        log.error({ err: e }, "cleanup failed");
      }
    }
  };
  let hv: Hypervisor;
  const apps: Api[] = [];
  try {
    hv = await startHypervisor(stateDir, bpffs, log, opts.nfDir);
    cleanups.push(() => hv.stop());
    const info = { stateDir, bpffs, startedAt: Date.now() };
    const workDir = join(stateDir, "tmp");
    rmSync(workDir, { recursive: true, force: true }); // uploads a killed daemon left behind
    const { buildApi } = await import("../api/server.js");
    const local = await buildApi({ hv, log, workDir, info });
    cleanups.push(() => local.close());
    apps.push(local);
    // Owner-only from the start: create the socket under a umask that leaves no access to others.
    const oldMask = process.umask(0o177);
    try {
      await local.listen({ path: socket });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(socket, 0o600);
    cleanups.push(() => rmSync(socket, { force: true }));
    if (tcp) {
      const remote = await buildApi({ hv, log, workDir, info, token });
      cleanups.push(() => remote.close());
      apps.push(remote);
      try {
        await remote.listen({ host: tcp.host, port: tcp.port });
      } catch (e) {
        throw new DaemonStartError(`cannot listen on ${opts.listen}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    await undo();
    throw e;
  }

  let resolveStopped: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info("stopping; the data plane keeps forwarding");
      await undo();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      log.info("stopped");
      resolveStopped();
    })();
    return stopping;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal: sig }, "second signal: exiting now");
      process.exit(1);
    }
    log.info({ signal: sig }, "signal received");
    void stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  log.info(
    {
      socket,
      ...(tcp ? { listen: `${tcp.host}:${tcp.port}` } : {}),
      stateDir,
      bpffs,
      instances: hv.listInstances().length,
    },
    "plexusd ready",
  );
  return { log, stopped, stop };
}
