// Control-plane timings of the hypervisor, in a throw-away DUT namespace with two hosts:
// creating a two-port instance attached to two interfaces (program load, stubs, tables) and
// deleting it, against setting up the Linux bridge for the same two interfaces with iproute2;
// and a hot upgrade. Medians of alternating rounds.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Hypervisor } from "../src/core/hypervisor.js";
import { mountBpffs } from "../src/testbed/bpffs.js";
import { dutWithHosts, enterNetns } from "../src/testbed/netns.js";
import { alternate, median } from "./harness.js";
import type { Comparison } from "./harness.js";

const ROUNDS = 15;

export async function run(): Promise<Comparison[]> {
  const net = await dutWithHosts([
    { ipv4: "198.18.0.1", ipv6: "fd00::1" },
    { ipv4: "198.18.0.2", ipv6: "fd00::2" },
  ]);
  const bpffs = mountBpffs();
  const stateDir = mkdtempSync(join(tmpdir(), "px-bench-state-"));
  const guard = enterNetns(net.dut);
  const [d0, d1] = net.hosts.map((h) => h.dutIfname);
  let hv: Hypervisor | undefined;
  try {
    hv = await Hypervisor.start({ stateDir, bpffs: bpffs.path });
    const h = hv;
    const timed = async (fn: () => Promise<unknown> | unknown): Promise<number> => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    const createTimes: number[] = [];
    const plexusArm = async () => {
      const ms = await timed(() =>
        h.createInstance({
          name: "w",
          type: "wire",
          mode: "xdp",
          ports: [
            { name: "a", peer: d0 },
            { name: "b", peer: d1 },
          ],
        }),
      );
      createTimes.push(ms);
      await h.deleteInstance("w");
      return 1000 / ms;
    };
    const linuxArm = async () => {
      const ms = await timed(() =>
        execFileSync("ip", ["-batch", "-"], {
          input: `link add pxbbr type bridge\nlink set ${d0} master pxbbr\nlink set ${d1} master pxbbr\nlink set pxbbr up\n`,
        }),
      );
      execFileSync("ip", ["link", "del", "pxbbr"]);
      return 1000 / ms;
    };
    await plexusArm(); // warm up
    const arms = await alternate(
      [
        { name: "plexus: create wire instance, 2 ports attached (xdp)", run: plexusArm },
        { name: "Linux bridge with 2 ports (ip -batch)", run: linuxArm },
      ],
      ROUNDS,
    );

    // 100,000 routes: the router's bulk table load (batched map updates) against iproute2
    // loading the same routes into the kernel's FIB (ip -batch), in the same namespace.
    const prefixes = Array.from(
      { length: 100_000 },
      (_, i) => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`,
    ).filter((p) => !p.startsWith("198.18.0."));
    const routeArm = async () => {
      await h.createInstance({
        name: "r",
        type: "router",
        mode: "xdp",
        ports: [
          { name: "a", peer: d0, config: { ipv4: ["198.18.0.254/24"] } },
          { name: "b", peer: d1 },
        ],
      });
      const entries = prefixes.map((prefix) => ({ prefix, via: "198.18.0.1" }));
      const ms = await timed(() => h.tableAddMany("r", "route", entries));
      await h.deleteInstance("r");
      return 1000 / ms;
    };
    const ipArm = async () => {
      execFileSync("ip", ["addr", "add", "198.18.0.254/24", "dev", d0]);
      const batch = prefixes.map((p) => `route add ${p} via 198.18.0.1`).join("\n");
      const ms = await timed(() => execFileSync("ip", ["-batch", "-"], { input: batch }));
      execFileSync("ip", ["addr", "del", "198.18.0.254/24", "dev", d0]); // takes its routes with it
      return 1000 / ms;
    };
    const routeArms = await alternate(
      [
        { name: `plexus router: ${prefixes.length} routes, bulk table load`, run: routeArm },
        { name: `Linux FIB: ${prefixes.length} routes with ip -batch`, run: ipArm },
      ],
      3,
    );

    await h.createInstance({
      name: "w",
      type: "wire",
      mode: "xdp",
      ports: [
        { name: "a", peer: d0 },
        { name: "b", peer: d1 },
      ],
    });
    const upgrades: number[] = [];
    for (let i = 0; i < ROUNDS; i++) upgrades.push(await timed(() => h.upgrade("w")));
    await h.deleteInstance("w");
    const up = median(upgrades);
    const create = median(createTimes);
    const routeMs = 1000 / (routeArms[0]?.median ?? 1);
    return [
      {
        title: "load 100,000 routes",
        unit: "loads/s",
        arms: routeArms,
        baseline: routeArms[1].name,
        notes: [`plexus bulk route load median ${(routeMs / 1000).toFixed(2)} s`],
      },
      {
        title: "create an instance and attach it",
        unit: "setups/s",
        arms,
        baseline: "Linux bridge with 2 ports (ip -batch)",
        notes: [
          `plexus create + attach median ${create.toFixed(1)} ms (target < 50 ms): ${create < 50 ? "met" : "NOT met"}`,
          `hot upgrade (load the new object with the instance's maps, swap the patch-panel slot) median ${up.toFixed(1)} ms over ${ROUNDS}`,
        ],
      },
    ];
  } finally {
    await hv?.destroy();
    guard.restore();
    bpffs.cleanup();
    net.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
