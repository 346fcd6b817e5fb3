// One observability test's lab: hosts around a DUT namespace where an in-process Hypervisor runs
// (so tests read its counters directly) with the REST API built on it (requests by inject). Hosts
// speak IPv4 only, with static neighbours, so that the only frames on the wire are the ones a test
// sends and every counter can be compared with exact numbers.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { buildApi, type Api } from "../../src/api/server.js";
import { Hypervisor } from "../../src/core/hypervisor.js";
import type { InstanceStats, StatsSnapshot } from "../../src/core/stats/snapshot.js";
import { mountBpffs, type Bpffs } from "../../src/testbed/bpffs.js";
import {
  dutWithHosts,
  enterNetns,
  exec,
  ipBatch,
  type DutTopology,
  type HostSpec,
  type NetnsGuard,
} from "../../src/testbed/netns.js";

export interface ObsLab {
  net: DutTopology;
  hv: Hypervisor;
  api: Api;
  get(url: string): Promise<{ status: number; type: string; body: string }>;
  stats(): Promise<StatsSnapshot>;
  instance(name: string): Promise<InstanceStats>;
  /** MAC of an interface in the DUT namespace. */
  dutMac(ifname: string): Promise<string>;
  /** A permanent neighbour entry on host i. */
  neighbour(i: number, ip: string, mac: string): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startObsLab(hosts: readonly HostSpec[]): Promise<ObsLab> {
  const net = await dutWithHosts(hosts);
  let bpffs: Bpffs | undefined;
  let guard: NetnsGuard | undefined;
  let hv: Hypervisor | undefined;
  const stateDir = mkdtempSync(join(tmpdir(), "px-obs-state-"));
  const workDir = mkdtempSync(join(tmpdir(), "px-obs-work-"));
  const cleanup = async () => {
    try {
      await hv?.destroy();
    } finally {
      guard?.restore();
      bpffs?.cleanup();
      net.cleanup();
      rmSync(stateDir, { recursive: true, force: true });
      rmSync(workDir, { recursive: true, force: true });
    }
  };
  try {
    for (const h of net.hosts) {
      // No IPv6 (router solicitations, MLD reports) on the hosts: only the test's frames move.
      await exec(h.ns, "sysctl", ["-q", "-w", `net.ipv6.conf.${h.ifname}.disable_ipv6=1`]);
    }
    bpffs = mountBpffs();
    guard = enterNetns(net.dut);
    hv = await Hypervisor.start({ stateDir, bpffs: bpffs.path });
    const api = await buildApi({
      hv,
      log: pino({ level: "silent" }),
      workDir,
      info: { stateDir, bpffs: bpffs.path, startedAt: Date.now() },
    });
    const h = hv;
    const get = async (url: string) => {
      const r = await api.inject({ method: "GET", url });
      return { status: r.statusCode, type: String(r.headers["content-type"] ?? ""), body: r.body };
    };
    const stats = async () => JSON.parse((await get("/v1/stats")).body) as StatsSnapshot;
    return {
      net,
      hv: h,
      api,
      get,
      stats,
      async instance(name) {
        const i = (await stats()).instances.find((x) => x.name === name);
        if (!i) throw new Error(`no instance ${name} in /v1/stats`);
        return i;
      },
      async dutMac(ifname) {
        const r = await exec(net.dut, "ip", ["-j", "link", "show", ifname]);
        return (JSON.parse(r.stdout) as { address: string }[])[0].address;
      },
      async neighbour(i, ip, mac) {
        const host = net.hosts[i];
        await ipBatch(host.ns, [`neigh replace ${ip} lladdr ${mac} dev ${host.ifname} nud permanent`]);
      },
      async cleanup() {
        await api.close();
        await cleanup();
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
