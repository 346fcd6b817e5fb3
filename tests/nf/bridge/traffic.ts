// Real traffic for the bridge's end-to-end tests.
import { exec, spawn } from "../../../src/testbed/netns.js";

export interface IperfResult {
  /** Bytes the receiver got. */
  bytes: number;
  /** UDP: datagrams sent and lost. */
  packets?: number;
  lost?: number;
}

interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bytes: number };
    sum?: { bytes: number; packets?: number; lost_packets?: number };
  };
}

/**
 * iperf3 for a second from namespace `client` to `addr`, served from namespace `server`. Retries
 * while the server is not listening yet, for at most `deadlineMs`.
 */
export async function iperf(
  client: string,
  server: string,
  addr: string,
  args: string[] = [],
  deadlineMs = 15_000,
): Promise<IperfResult> {
  const srv = spawn(server, "iperf3", ["-s", "-1", "-B", addr]);
  const deadline = Date.now() + deadlineMs;
  try {
    for (;;) {
      const r = await exec(
        client,
        "iperf3",
        ["-c", addr, "-t", "1", "-J", "--connect-timeout", "1000", ...args],
        { allowFailure: true, timeoutMs: Math.max(1000, deadline - Date.now()) },
      );
      let j: IperfJson | undefined;
      try {
        j = JSON.parse(r.stdout) as IperfJson;
      } catch {
        j = undefined;
      }
      if (r.code === 0 && j?.end && !j.error) {
        const sum = j.end.sum_received ?? j.end.sum;
        return { bytes: sum?.bytes ?? 0, packets: j.end.sum?.packets, lost: j.end.sum?.lost_packets };
      }
      if (Date.now() > deadline)
        throw new Error(`iperf3 ${args.join(" ")} to ${addr}: ${j?.error ?? (r.stdout + r.stderr).trim()}`);
      await new Promise((res) => setTimeout(res, 100)); // the server is not listening yet
    }
  } finally {
    srv.kill("SIGKILL");
  }
}
