// The packet-rate rig: three throw-away namespaces gen —veth— dut —veth— sink. A live-frames XDP
// generator (BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES through plexus/bpf) sends counted
// 64-byte (or larger) Ethernet/IPv4|IPv6/UDP frames, rewritten on every send, with as many flows as
// asked for; a per-CPU counting XDP sink on the far side checks that every frame arrived, and a run
// that does not add up is reported (with the interface counter that says where frames went),
// never used. Whatever sits in the DUT namespace is an arm: a DutConfig whose setup() gets the
// DUT namespace and interface names and undoes itself with dut.defer().
//
// Two rates per run: `pps`, delivered frames per wall-clock second, and `ppsPerCpu`, per CPU-second
// of the pipeline (generator, DUT and sink all run on the calling thread, in softirq): on this
// shared machine other tasks take the CPU away and drag `pps` down, not `ppsPerCpu`. With
// { cpu: "auto" } each run is pinned to the CPU with the least other network traffic.
//
// A new arm in a few lines, measured against the Linux bridge in the same run:
//
//   import { alternate } from "../harness.js";
//   import { describeRun, linuxBridge, withRig, type DutConfig } from "./rig/index.js";
//
//   const myBridge: DutConfig = {
//     name: "plexus bridge (xdp)",
//     layer: 2, // frames go to the sink's MAC; 3: to the DUT's, IP destinations routed via the sink
//     async setup(dut) {
//       // dut.ns, dut.left.ifname (faces the generator), dut.right.ifname (faces the sink),
//       // dut.sink.mac, dut.ip([...]), dut.sysctl({...}), dut.exec(...), dut.within(() => attachXdp(...))
//       const link = dut.within(() => attachXdp(prog, dut.left.ifname));
//       dut.defer(() => link.close()); // teardown runs these newest first, then checks the DUT is clean
//       dut.check(({ sent }) => (myCounter() < sent ? "the bridge missed frames" : undefined)); // optional
//     },
//   };
//
//   const results = await withRig(
//     async (rig) => {
//       // One-off: configure, measure, tear down.
//       const r = await rig.withDut(myBridge, () => rig.measure({ frames: 2e6, size: 64, flows: { srcPorts: 256 } }));
//       console.log(describeRun(r)); // r.pps, r.ppsPerCpu, r.ok, r.problems, r.cpus, r.counters
//       // Benchmarks: arms alternate on the same rig; medians of the runs that added up.
//       const opts = { flows: { srcPorts: 16, dstAddrs: 1024 }, metric: "ppsPerCpu" } as const;
//       return alternate([rig.arm(linuxBridge, opts), rig.arm(myBridge, opts)], 5);
//     },
//     { cpu: "auto" },
//   );
//
// Routers: layer 3, frames to FAR_V4.first (FAR_V6.first with ipv6) and up, routed via dut.sink's
// addresses; the DUT's neighbours (gen, sink) are static entries already. bench/rig-baselines.ts
// shows the reference arms (reference-duts.ts) together.
export { withRig, Rig, RigAccountingError, describeRun, RIG_DPORT, RIG_SPORT, MAX_SRC_ADDRS } from "./rig.js";
export type { ArmOptions, MeasureOptions, RigOptions, RunReport, UseDutOptions } from "./rig.js";
export type { CpuUse } from "./cpu-time.js";
export type { CpuChoice, Placement } from "./affinity.js";
export type { DutCheck, DutConfig, DutContext, DutSession, RunTotals } from "./dut.js";
export { buildFrame, flowCount, flowOf, type Flows, type FrameSpec } from "./frames.js";
export { FAR_V4, FAR_V6, type RigTopology } from "./topology.js";
export {
  installFarRoutes,
  linuxBridge,
  linuxForwarding,
  MAX_ROUTES,
  moreSpecific,
  tcRedirect,
  xdpFibForwarder,
  xdpRedirect,
} from "./reference-duts.js";
export { BenchDaemon, dutHypervisor } from "./plexusd.js";
