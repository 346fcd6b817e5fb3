// Reference devices under test: the Linux baselines plexus is compared with (bridge, IPv4/IPv6
// forwarding with one or many routes) and the eBPF references that bound what plexus can reach on
// this rig (bare XDP redirect: the ceiling; bpf_fib_lookup XDP forwarder; bare TC redirect).
import { attachTcx } from "../../src/bpf/link/tcx.js";
import { attachXdp } from "../../src/bpf/link/xdp.js";
import type { LoadedObject } from "../../src/bpf/object/load.js";
import type { DutConfig, DutContext } from "./dut.js";
import { loadRigObject } from "./programs.js";
import { FAR_V4, FAR_V6 } from "./topology.js";

const BRIDGE = "rigbr0";
const BRIDGE_NF = ["arptables", "iptables", "ip6tables"].map((t) => `net.bridge.bridge-nf-call-${t}`);
/** Most routes linuxForwarding() can install: /30s (and /126s) inside the far prefixes. */
export const MAX_ROUTES = 16384;

/** The Linux bridge between the DUT's two interfaces, bridge-nf-call-* off, the sink's MAC static. */
export const linuxBridge: DutConfig = {
  name: "Linux bridge",
  layer: 2,
  async setup(dut) {
    // br_netfilter's switches are per namespace; they exist only while the module is loaded.
    const present: Record<string, number> = {};
    for (const k of BRIDGE_NF)
      if ((await dut.exec("sysctl", ["-n", k], { allowFailure: true })).code === 0) present[k] = 0;
    await dut.sysctl(present);
    dut.defer(() => dut.ip([`link del ${BRIDGE}`]));
    await dut.ip([
      `link add ${BRIDGE} type bridge stp_state 0`,
      `link set ${dut.left.ifname} master ${BRIDGE}`,
      `link set ${dut.right.ifname} master ${BRIDGE}`,
      `link set ${BRIDGE} up`,
    ]);
    await dut.exec("bridge", ["fdb", "replace", dut.sink.mac, "dev", dut.right.ifname, "master", "static"]);
  },
};

/** The i-th /30 of the far IPv4 prefix (and /126 of the IPv6 one). */
export function moreSpecific(i: number): { v4: string; v6: string } {
  const a = 4 * i;
  return { v4: `198.19.${a >> 8}.${a & 255}/30`, v6: `fd00:19::${a.toString(16)}/126` };
}

/**
 * Routes to the far prefixes via the sink: with `routes` = 1 the two prefixes themselves, else
 * also routes - 1 more specific ones inside them (the frames' destinations, consecutive from the
 * first far address, each match one of them), so the FIB holds `routes` entries per family.
 */
export async function installFarRoutes(dut: DutContext, routes: number): Promise<void> {
  if (!Number.isInteger(routes) || routes < 1 || routes > MAX_ROUTES)
    throw new RangeError(`routes ${routes}: must be an integer in 1..${MAX_ROUTES}`);
  const via4 = dut.sink.ipv4;
  const via6 = dut.sink.ipv6;
  // `ip route flush` means IPv4 unless told -6, which batch lines cannot say: two commands.
  dut.defer(async () => {
    await dut.exec("ip", ["-4", "route", "flush", "root", FAR_V4.prefix]);
    await dut.exec("ip", ["-6", "route", "flush", "root", FAR_V6.prefix]);
  });
  const lines = [`route add ${FAR_V4.prefix} via ${via4}`, `route add ${FAR_V6.prefix} via ${via6}`];
  for (let i = 0; i < routes - 1; i++) {
    const r = moreSpecific(i);
    lines.push(`route add ${r.v4} via ${via4}`, `route add ${r.v6} via ${via6}`);
  }
  await dut.ip(lines);
}

const forwardingOn = (dut: DutContext) =>
  dut.sysctl({ "net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1 });

/** Linux IPv4/IPv6 forwarding through the DUT with `routes` routes per family. */
export function linuxForwarding(routes = 1): DutConfig {
  return {
    name: `Linux forwarding, ${routes.toLocaleString("en")} route${routes === 1 ? "" : "s"}`,
    layer: 3,
    async setup(dut) {
      await forwardingOn(dut);
      await installFarRoutes(dut, routes);
    },
  };
}

/** Loads rig_dut.c for `dut` (sending to its right interface); closed at teardown. */
async function dutObject(dut: DutContext): Promise<LoadedObject> {
  const obj = await loadRigObject("rig_dut", { out_ifindex: dut.right.ifindex });
  dut.defer(() => obj.close());
  return obj;
}

/** Reads and zeroes one per-CPU counter of dut_stats. */
function takeStat(obj: LoadedObject, index: number): number {
  const m = obj.map("dut_stats");
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index);
  const vals = m.lookupPerCpu(key) ?? [];
  m.updatePerCpu(
    key,
    vals.map(() => Buffer.alloc(8)),
  );
  return vals.reduce((s, b) => s + Number(b.readBigUInt64LE(0)), 0);
}

/** A bare XDP redirect from the DUT's left interface to its right one: the rig's ceiling. */
export function xdpRedirect(layer: 2 | 3 = 2): DutConfig {
  return {
    name: "XDP redirect (ceiling)",
    layer,
    async setup(dut) {
      const obj = await dutObject(dut);
      const link = dut.within(() =>
        attachXdp(obj.program("rig_xdp_redirect"), dut.left.ifname, { mode: "native" }),
      );
      dut.defer(() => link.close());
    },
  };
}

/** A bare TC (TCX ingress) redirect from the DUT's left interface to its right one. */
export function tcRedirect(layer: 2 | 3 = 2): DutConfig {
  return {
    name: "TC redirect",
    layer,
    async setup(dut) {
      const obj = await dutObject(dut);
      const link = dut.within(() => attachTcx(obj.program("rig_tc_redirect"), dut.left.ifname, "ingress"));
      dut.defer(() => link.close());
    },
  };
}

/**
 * An XDP forwarder on the DUT's left interface using bpf_fib_lookup() on the kernel's routes and
 * (static) neighbours, `routes` routes per family; every frame it leaves to the kernel is reported.
 */
export function xdpFibForwarder(routes = 1): DutConfig {
  return {
    name: `XDP bpf_fib_lookup forwarder, ${routes.toLocaleString("en")} route${routes === 1 ? "" : "s"}`,
    layer: 3,
    async setup(dut) {
      await forwardingOn(dut); // bpf_fib_lookup() refuses when forwarding is off
      await installFarRoutes(dut, routes);
      const obj = await dutObject(dut);
      const link = dut.within(() =>
        attachXdp(obj.program("rig_xdp_fib"), dut.left.ifname, { mode: "native" }),
      );
      dut.defer(() => link.close());
      // Stray frames (neighbour discovery from the generator's stack) may go to the kernel; the
      // generator's must not.
      dut.check(({ sent }) => {
        const forwarded = takeStat(obj, 0);
        const passed = takeStat(obj, 1);
        return forwarded < sent
          ? `the forwarder redirected ${forwarded} of ${sent} frames and left ${passed} to the kernel (fib lookup failed)`
          : undefined;
      });
    },
  };
}
