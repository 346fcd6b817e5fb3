// One test file's lab: hosts around a DUT namespace where a real plexusd runs, reached through its
// unix socket. Shared by the API, CLI and daemon tests.
import assert from "node:assert/strict";
import { ApiClient, ApiError } from "../../src/api/client.js";
import { dutWithHosts, ping, type DutTopology } from "../../src/testbed/netns.js";
import { daemonHome, startDaemon, type Daemon, type DaemonHome } from "../daemon/harness.js";

export const HOSTS = [
  { ipv4: "198.18.0.1", ipv6: "fd00::1" },
  { ipv4: "198.18.0.2", ipv6: "fd00::2" },
  { ipv4: "198.18.0.3", ipv6: "fd00::3" },
];

export interface Lab {
  net: DutTopology;
  home: DaemonHome;
  daemon: Daemon;
  api: ApiClient;
  /** The DUT-side interface of host i (what ports connect to). */
  iface(i: number): string;
  /** Pings host `to` from host `from`; returns the replies received. */
  ping(from: number, to: number, count?: number): Promise<number>;
  /** Starts the daemon again (after a stop or kill), in the same home. */
  restart(): Promise<Daemon>;
  cleanup(): Promise<void>;
}

export async function startLab(hosts = 2, extraArgs: string[] = []): Promise<Lab> {
  const net = await dutWithHosts(HOSTS.slice(0, hosts));
  let home: DaemonHome | undefined;
  try {
    home = daemonHome(net.dut);
    const daemon = await startDaemon(home, extraArgs);
    const h = home;
    const lab: Lab = {
      net,
      home: h,
      daemon,
      api: daemon.client,
      iface: (i) => net.hosts[i].dutIfname,
      async ping(from, to, count = 3) {
        const r = await ping(net.hosts[from].ns, net.hosts[to].ipv4, { count, interval: 0.02, wait: 1 });
        return r.received;
      },
      async restart() {
        lab.daemon = await startDaemon(h, extraArgs);
        lab.api = lab.daemon.client;
        return lab.daemon;
      },
      async cleanup() {
        try {
          await lab.daemon.stop();
        } finally {
          h.cleanup();
          net.cleanup();
        }
      },
    };
    return lab;
  } catch (e) {
    home?.cleanup();
    net.cleanup();
    throw e;
  }
}

/** Asserts that `p` fails with an API problem of `status` whose detail matches `detail`. */
export async function refused(p: Promise<unknown>, status: number, detail: RegExp): Promise<ApiError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ApiError, `expected an API error, got ${String(caught)}`);
  assert.equal(caught.status, status, `status of: ${caught.message}`);
  assert.equal(caught.problem.status, status);
  assert.match(caught.problem.detail, detail);
  assert.ok(caught.problem.type && caught.problem.title, "a problem document has type and title");
  return caught;
}
