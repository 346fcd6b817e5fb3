// The rig's wiring: gen —veth— dut —veth— sink in three throw-away namespaces (src/testbed), with
// static neighbour entries everywhere so no ARP or neighbour discovery runs during a measurement,
// and NAPI (GRO) on the DUT's left veth, without which frames the generator redirects into it
// would vanish (NOTES.md: a redirect into a veth is delivered only if the peer has NAPI).
import { exec, ipBatch, threeNs, type Endpoint, type ThreeNs } from "../../src/testbed/netns.js";

/** Destinations routed through the sink, away from the rig's own subnets (benchmarking ranges only). */
export const FAR_V4 = { prefix: "198.19.0.0/16", first: "198.19.0.1" } as const;
export const FAR_V6 = { prefix: "fd00:19::/64", first: "fd00:19::1" } as const;

export interface RigTopology {
  id: string;
  /** The generator's namespace and its veth (198.18.1.1/24, fd00:1::1/64). */
  gen: Endpoint;
  /** The device under test: `left` faces the generator (198.18.1.254), `right` the sink (198.18.2.254). */
  dut: { ns: string; left: Endpoint; right: Endpoint };
  /** The sink's namespace and veth (198.18.2.1/24, fd00:2::1/64). */
  sink: Endpoint;
  namespaces: string[];
  /** Removes the three namespaces and everything in them (idempotent; also done at exit). */
  cleanup(): void;
}

const neigh = (peer: Endpoint, dev: string): string[] => [
  `neigh replace ${peer.ipv4} lladdr ${peer.mac} dev ${dev} nud permanent`,
  `neigh replace ${peer.ipv6} lladdr ${peer.mac} dev ${dev} nud permanent`,
];

/** Whether generic receive offload is on for `ifname` in `ns` (ethtool -k). */
export async function groEnabled(ns: string, ifname: string): Promise<boolean> {
  const { stdout } = await exec(ns, "ethtool", ["-k", ifname]);
  return /^generic-receive-offload: on/m.test(stdout);
}

/** Builds the three namespaces; on failure nothing is left behind. */
export async function createTopology(): Promise<RigTopology> {
  const net: ThreeNs = await threeNs({ forwarding: false });
  try {
    const { sender: gen, dut, sink } = net;
    await ipBatch(gen.ns, neigh(dut.left, gen.ifname));
    await ipBatch(dut.ns, [...neigh(gen, dut.left.ifname), ...neigh(sink, dut.right.ifname)]);
    await ipBatch(sink.ns, neigh(dut.right, sink.ifname));
    await exec(dut.ns, "ethtool", ["-K", dut.left.ifname, "gro", "on"]);
    if (!(await groEnabled(dut.ns, dut.left.ifname)))
      throw new Error(`could not turn GRO on for ${dut.left.ifname}: the generator's frames would be lost`);
    return { id: net.id, gen, dut, sink, namespaces: net.namespaces, cleanup: net.cleanup };
  } catch (e) {
    net.cleanup();
    throw e;
  }
}
