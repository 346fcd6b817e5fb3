// What a daemon claims before it starts: its unix socket (a live daemon there stops us; a stale
// socket file left by a killed one is removed) and its state directory (a pid file, so two daemons
// never drive the same state and data plane).
import { connect } from "node:net";
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { PlexusError } from "../core/errors.js";

/** The daemon cannot start; the message says why and what to do. */
export class DaemonStartError extends PlexusError {
  override name = "DaemonStartError";
}

/** Resolves true when something accepts connections on the unix socket. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/** Makes `path` free for a new socket: its directory exists, no live daemon, no stale file. */
export async function claimSocket(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket())
    throw new DaemonStartError(`${path} exists and is not a socket; remove it or choose another --socket`);
  if (await socketAnswers(path))
    throw new DaemonStartError(
      `another daemon is listening on ${path}; stop it first, or give this one another --socket`,
    );
  rmSync(path, { force: true }); // stale: its daemon died without removing it
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Records our pid in the state directory; refuses when a live daemon holds it. */
export function claimStateDir(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, "plexusd.pid");
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      let cmd = "";
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        // gone meanwhile
      }
      if (cmd.includes("plexus"))
        throw new DaemonStartError(
          `state directory ${stateDir} is in use by the daemon with pid ${pid}; stop it first, or give this one another --state-dir`,
        );
    }
  }
  writeFileSync(file, `${process.pid}\n`, { mode: 0o600 });
  return () => {
    try {
      if (Number(readFileSync(file, "utf8").trim()) === process.pid) rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
}

/** "HOST:PORT", "[::1]:PORT" or ":PORT" (all addresses). */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535)
    throw new DaemonStartError(`--listen wants HOST:PORT (e.g. 127.0.0.1:7420), got '${text}'`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** Reads the bearer token for TCP clients; the file must not be readable by others. */
export function readToken(file: string): string {
  let token: string;
  let mode: number;
  try {
    token = readFileSync(file, "utf8").trim();
    mode = lstatSync(file).mode;
  } catch (e) {
    throw new DaemonStartError(`cannot read the token file ${file}: ${(e as Error).message}`);
  }
  if (mode & 0o077) throw new DaemonStartError(`token file ${file} is readable by others; chmod 600 ${file}`);
  if (token.length < 16)
    throw new DaemonStartError(
      `the token in ${file} is too short (${token.length} characters, at least 16); e.g. openssl rand -hex 32 > ${file}`,
    );
  return token;
}
