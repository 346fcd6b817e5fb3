// The rig: topology + generator + sink + the DUT an arm configures, and measure(), which sends a
// counted number of frames and checks that the sink counted exactly what was sent. A run that does
// not add up carries its problems in the report; arm() retries it and records it, and never hands
// its rate to the benchmark.
import { run as runCmd } from "../../src/testbed/netns.js";
import { median, type Arm, type ArmResult } from "../harness.js";
import {
  delta,
  driverLossCounters,
  lossCounters,
  snapshot,
  type IfaceRef,
  type RigCounters,
} from "./counters.js";
import { ThreadAffinity, type CpuChoice, type Placement } from "./affinity.js";
import { cpuUse, type CpuUse } from "./cpu-time.js";
import { dutState, startDut, type DutConfig, type DutSession } from "./dut.js";
import { checkSpec, flowCount, type Flows, type FrameSpec } from "./frames.js";
import { DEFAULT_BATCH, Generator } from "./generator.js";
import { Sink, type SinkCounts } from "./sink.js";
import { createTopology, FAR_V4, FAR_V6, groEnabled, type RigTopology } from "./topology.js";

/** UDP destination port of the generator's frames (discard): how the sink knows them. */
export const RIG_DPORT = 9;
export const RIG_SPORT = 10000;
/** At most this many source addresses, so sources stay inside the generator's /24 (and /64). */
export const MAX_SRC_ADDRS = 200;

export interface RigOptions {
  /**
   * Pin the calling thread, which runs the generator and (inline, in softirq) the DUT and the
   * sink, to this CPU; "auto": before each run, to the CPU with the least other network traffic
   * (whose softirqs would otherwise run inline in the pipeline and be charged to it). Default: not
   * pinned (reports still say where the work ran).
   */
  cpu?: CpuChoice;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface MeasureOptions {
  /** Frames to send. Default: as many as take `seconds`, from a short calibration run. */
  frames?: number;
  /** Target duration of a run when `frames` is not given (default 1.5 s). */
  seconds?: number;
  /** Frame size as XDP sees it, without FCS (default 64). */
  size?: number;
  /** Ethernet/IPv6/UDP instead of IPv4. */
  ipv6?: boolean;
  /** Flow variety (default one flow). Sources at most MAX_SRC_ADDRS. */
  flows?: Flows;
  /**
   * Live-frames batch size, 1..256 (default 64, NAPI's budget). Above 128 a batch can overrun the
   * 256-slot ring of the DUT's veth, and the run reports the frames lost there.
   */
  batchSize?: number;
  /** IP TTL / hop limit of the frames (default 64). */
  ttl?: number;
  /** Sink checks every frame and records flows (slow; for tests). */
  verify?: boolean;
  /** Sink passes frames to its stack (for tcpdump) instead of dropping them. */
  pass?: boolean;
}

export interface ArmOptions extends MeasureOptions {
  /** The arm's name (default the DutConfig's): tells apart arms that share a DUT, not traffic. */
  name?: string;
  /**
   * What the arm returns: delivered frames per wall-clock second (default) or per CPU-second of
   * the pipeline, which other tasks on a shared machine do not drag down.
   */
  metric?: "pps" | "ppsPerCpu";
}

export interface UseDutOptions {
  /**
   * Send bursts of 1,000 frames until one arrives whole before returning, and fail if none does
   * within about 3 s (default true). Off for DUTs meant to lose frames.
   */
  waitReady?: boolean;
}

export interface RunReport {
  /** The DUT configuration measured. */
  arm: string;
  /** The frames sent: packet i was buildFrame(spec, i). */
  spec: FrameSpec;
  frames: number;
  /** Frames the generator handed to the redirect: `frames`, or more if a signal restarted a test run. */
  sent: number;
  /** Frames of this run the sink counted (well-formed ones, when verifying). */
  received: number;
  /** sent - received - malformed. */
  lost: number;
  malformed: number;
  /** Frames of earlier runs, and unrelated frames, seen by the sink meanwhile (not counted). */
  stale: number;
  other: number;
  seconds: number;
  /** Delivered frames per second. */
  pps: number;
  /** Generated frames per second. */
  sendPps: number;
  /**
   * Delivered frames per CPU-second of the run (the calling thread plus ksoftirqd): what the
   * pipeline does with a CPU to itself. Steadier than `pps` on a shared machine.
   */
  ppsPerCpu: number;
  /** CPU seconds the run used, the share deferred to ksoftirqd, and how long the thread waited. */
  cpu: CpuUse;
  /** Where the rig pinned the run, when it pins. */
  placed?: Placement;
  /** CPU -> frames, for the generator and for the sink. */
  cpus: { generator: Record<string, number>; sink: Record<string, number> };
  /** Interface counters that moved during the run, by role. */
  counters: RigCounters;
  /** Why this run does not add up; empty when it does. */
  problems: string[];
  ok: boolean;
}

export class RigAccountingError extends Error {
  override name = "RigAccountingError";
  constructor(
    message: string,
    readonly reports: RunReport[],
  ) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const perCpu = (xs: number[]): Record<string, number> =>
  Object.fromEntries(xs.flatMap((n, cpu) => (n ? [[`cpu${cpu}`, n]] : [])));

/**
 * Frames counted at each hop (veth counters; stray frames such as neighbour discovery add a few):
 * the first hop that shows fewer than were sent is where they went missing. A redirect into a veth
 * without NAPI shows up here only, no drop counter moves for it.
 */
function pathLine(sent: number, c: RigCounters): string {
  const n = (role: string, k: string) => c[role]?.[k] ?? 0;
  return (
    `path: generator ${sent} -> gen veth tx ${n("gen", "tx_packets")}` +
    ` -> dut left rx ${n("dut left", "rx_packets")} -> dut right tx ${n("dut right", "tx_packets")}` +
    ` -> sink rx ${n("sink", "rx_packets")}`
  );
}

/** One line for a report: rate, counts and, if any, problems. */
export function describeRun(r: RunReport): string {
  const where = `generator on ${Object.keys(r.cpus.generator).join("+") || "?"}, sink on ${Object.keys(r.cpus.sink).join("+") || "?"}`;
  const deferred = r.cpu.deferred ? `, ${(100 * r.cpu.deferred).toFixed(0)}% deferred to ksoftirqd` : "";
  const cpu = `${(r.ppsPerCpu / 1e6).toFixed(2)} Mpps per CPU-second${deferred}, waited ${r.cpu.waitSeconds.toFixed(2)} s for a CPU`;
  const base = `${r.arm}: ${(r.pps / 1e6).toFixed(2)} Mpps, ${r.received}/${r.sent} frames in ${r.seconds.toFixed(3)} s (${cpu}; ${where})`;
  return r.ok ? base : `${base}: ${r.problems.join("; ")}`;
}

export class Rig {
  readonly anomalies: string[] = [];
  readonly reports: RunReport[] = [];
  #epoch = 0;
  #session: DutSession | undefined;
  #calibrated = new Map<string, number>();
  #pristine = "";
  /** The generator's thread as the kernel numbers it, once a run has told. */
  #genTid = 0;

  private constructor(
    readonly topology: RigTopology,
    readonly generator: Generator,
    readonly sink: Sink,
    private readonly affinity: ThreadAffinity | undefined,
    private readonly cpuChoice: CpuChoice | undefined,
    private readonly log: (line: string) => void,
  ) {}

  static async create(opts: RigOptions = {}): Promise<Rig> {
    const topo = await createTopology();
    let gen: Generator | undefined;
    let sink: Sink | undefined;
    try {
      gen = await Generator.load(topo.gen);
      sink = await Sink.attach(topo.sink, RIG_DPORT);
      const affinity = opts.cpu === undefined ? undefined : await ThreadAffinity.save();
      const rig = new Rig(topo, gen, sink, affinity, opts.cpu, opts.log ?? (() => undefined));
      rig.#pristine = await dutState(topo.dut);
      return rig;
    } catch (e) {
      sink?.close();
      gen?.close();
      topo.cleanup();
      throw e;
    }
  }

  get dut(): RigTopology["dut"] {
    return this.topology.dut;
  }

  /**
   * Configures the DUT with `config` and (unless told not to) waits until frames go through it.
   * One DUT at a time.
   */
  async useDut(config: DutConfig, opts: UseDutOptions = {}): Promise<DutSession> {
    if (this.#session)
      throw new Error(`DUT '${this.#session.config.name}' is still configured: tear it down first`);
    const { dut, gen, sink } = this.topology;
    const session = await startDut({ ...dut, gen, sink }, config, this.#pristine);
    const wrapped: DutSession = {
      config,
      checks: (run) => session.checks(run),
      teardown: async () => {
        if (this.#session === wrapped) this.#session = undefined;
        await session.teardown();
      },
    };
    this.#session = wrapped;
    try {
      if (opts.waitReady !== false) await this.#waitReady();
    } catch (e) {
      await wrapped.teardown().catch(() => undefined);
      throw e;
    }
    return wrapped;
  }

  /** useDut, fn, teardown (also when fn throws). */
  async withDut<T>(
    config: DutConfig,
    fn: (session: DutSession) => Promise<T>,
    opts: UseDutOptions = {},
  ): Promise<T> {
    const s = await this.useDut(config, opts);
    try {
      return await fn(s);
    } finally {
      await s.teardown();
    }
  }

  /** Bursts of 1,000 frames until one arrives whole (bridge ports come up, links settle). */
  async #waitReady(): Promise<void> {
    let last: RunReport | undefined;
    for (let i = 0; i < 30; i++) {
      last = await this.measure({ frames: 1000 }, { record: false });
      if (last.ok) return;
      this.log(`not ready yet: ${describeRun(last)}`);
      await sleep(100);
    }
    throw new RigAccountingError(
      `DUT '${this.#session?.config.name}' never delivered a whole burst of 1,000 frames: ${last?.problems.join("; ")}`,
      last ? [last] : [],
    );
  }

  /** The frames measure() sends for `opts` through the current DUT. */
  frameSpec(opts: MeasureOptions = {}): FrameSpec {
    const layer = this.#session?.config.layer ?? 3;
    const { gen, sink, dut } = this.topology;
    const v6 = opts.ipv6 ?? false;
    const flows = { srcAddrs: 1, srcPorts: 1, dstAddrs: 1, ...opts.flows };
    if (flows.srcAddrs > MAX_SRC_ADDRS)
      throw new RangeError(
        `flows.srcAddrs ${flows.srcAddrs}: at most ${MAX_SRC_ADDRS}; vary ports for more flows`,
      );
    const spec: FrameSpec = {
      size: opts.size ?? 64,
      srcMac: gen.mac,
      dstMac: layer === 2 ? sink.mac : dut.left.mac,
      src: v6 ? gen.ipv6 : gen.ipv4,
      dst: v6 ? FAR_V6.first : FAR_V4.first,
      sport: RIG_SPORT,
      dport: RIG_DPORT,
      ttl: opts.ttl ?? 64,
      epoch: this.#epoch,
      flows,
    };
    checkSpec(spec);
    return spec;
  }

  /**
   * Sends frames through the configured DUT and reports what the sink counted. Never throws for
   * frames that went missing: the report says so (ok false, problems).
   */
  async measure(opts: MeasureOptions = {}, internal: { record?: boolean } = {}): Promise<RunReport> {
    const session = this.#session;
    if (!session) throw new Error("measure(): configure a DUT first (useDut / withDut)");
    let frames = opts.frames;
    const problems: string[] = [];
    if (frames === undefined) {
      const key = JSON.stringify([session.config.name, { ...opts, frames: 0 }]);
      frames = this.#calibrated.get(key);
      if (frames === undefined) {
        const probe = await this.measure({ ...opts, frames: 200_000 }, { record: false });
        if (!probe.ok) problems.push(`calibration run: ${probe.problems.join("; ")}`);
        const seconds = opts.seconds ?? 1.5;
        frames = Math.max(200_000, Math.min(100_000_000, Math.round((probe.pps || probe.sendPps) * seconds)));
        this.#calibrated.set(key, frames);
      }
    }

    this.#epoch = (this.#epoch % 0xfffe) + 1;
    const spec = this.frameSpec(opts);
    this.generator.configure(spec);
    this.sink.arm(spec.epoch, { verify: opts.verify, pass: opts.pass, genTid: this.#genTid });
    const ifaces = this.#ifaces();
    const placed =
      this.affinity && this.cpuChoice !== undefined ? await this.affinity.place(this.cpuChoice) : undefined;
    const before = snapshot(ifaces);

    const sent = await this.generator.send(frames, opts.batchSize ?? DEFAULT_BATCH);
    const counts = await this.#settle(sent.sent);
    const deferred = this.#genTid && counts.sampled ? counts.deferred / counts.sampled : 0;
    const cpu = cpuUse(sent.cpu, deferred);
    this.#genTid = sent.tid;
    const counters = delta(before, snapshot(ifaces));

    // More than asked for: a signal restarted a test run (see generator.ts CHUNK); fewer: a bug.
    if (sent.sent < frames) problems.push(`the generator ran ${sent.sent} times for ${frames} frames`);
    const lost = sent.sent - counts.good - counts.malformed;
    if (counts.malformed) problems.push(`${counts.malformed} malformed frames at the sink`);
    if (lost !== 0) {
      const where = lossCounters(counters);
      const driver = await driverLossCounters(ifaces, new Set(["sink:rx_queue_0_xdp_drops"]));
      problems.push(
        `${lost > 0 ? `${lost} frames lost` : `${-lost} frames more than sent`} (${((100 * Math.abs(lost)) / sent.sent).toFixed(3)}%)` +
          (where.length ? `: ${where.join(", ")}` : ": no interface counter says where"),
        pathLine(sent.sent, counters),
        ...(driver.length ? [`veth driver counters since the rig was built: ${driver.join(", ")}`] : []),
        ...(await this.#napiProblems()),
      );
    }
    if (!this.sink.attached()) problems.push("the sink's XDP program is no longer attached");
    problems.push(...(await session.checks({ sent: sent.sent, received: counts.good })));

    const report: RunReport = {
      arm: session.config.name,
      spec,
      frames,
      sent: sent.sent,
      received: counts.good,
      lost,
      malformed: counts.malformed,
      stale: counts.stale,
      other: counts.other,
      seconds: sent.seconds,
      pps: counts.good / sent.seconds,
      sendPps: sent.sent / sent.seconds,
      ppsPerCpu: cpu.cpuSeconds > 0 ? counts.good / cpu.cpuSeconds : 0,
      cpu,
      placed,
      cpus: { generator: perCpu(sent.sentPerCpu), sink: perCpu(counts.goodPerCpu) },
      counters,
      problems,
      ok: problems.length === 0,
    };
    if (internal.record !== false) {
      this.reports.push(report);
      this.log(describeRun(report));
    }
    return report;
  }

  /** Waits until the sink has counted every frame of the run, or its counts stop moving. */
  async #settle(sent: number): Promise<SinkCounts> {
    let c = this.sink.counts();
    let seen = -1;
    let still = 0;
    const done = (x: SinkCounts) => x.good + x.malformed >= sent;
    for (let i = 0; i < 400 && !done(c); i++) {
      const n = c.good + c.malformed + c.stale;
      still = n === seen ? still + 1 : 0;
      if (still >= 20) break; // 100 ms without a frame: the rest is not coming
      seen = n;
      await sleep(5);
      c = this.sink.counts();
    }
    if (done(c)) await sleep(5); // frames beyond `sent` would show up now
    return this.sink.counts();
  }

  /** The NAPI rule: frames redirected into a veth whose peer has no NAPI vanish. */
  async #napiProblems(): Promise<string[]> {
    const { dut } = this.topology;
    const out: string[] = [];
    const xdpOn = async (ns: string, ifname: string) =>
      (await runCmd("ip", ["-n", ns, "-j", "link", "show", "dev", ifname])).stdout.includes('"xdp"');
    if (!(await xdpOn(dut.ns, dut.left.ifname)) && !(await groEnabled(dut.ns, dut.left.ifname)))
      out.push(
        `${dut.left.ifname} has neither XDP nor GRO: frames redirected into it vanish (veth NAPI rule)`,
      );
    return out;
  }

  #ifaces(): IfaceRef[] {
    const { gen, dut, sink } = this.topology;
    return [
      { role: "gen", ns: gen.ns, ifname: gen.ifname, ifindex: gen.ifindex },
      { role: "dut left", ns: dut.ns, ifname: dut.left.ifname, ifindex: dut.left.ifindex },
      { role: "dut right", ns: dut.ns, ifname: dut.right.ifname, ifindex: dut.right.ifindex },
      { role: "sink", ns: sink.ns, ifname: sink.ifname, ifindex: sink.ifindex },
    ];
  }

  /**
   * A harness arm: each call configures `config`, measures once and tears down, so arms of one
   * comparison alternate on the same rig. A run that does not add up is recorded in `anomalies`
   * and retried (up to 3 tries); its rate is never returned.
   */
  arm(config: DutConfig, opts: ArmOptions = {}): Arm {
    const name = opts.name ?? config.name;
    const named = { ...config, name };
    return {
      name,
      run: () =>
        this.withDut(named, async () => {
          const failed: RunReport[] = [];
          for (;;) {
            const r = await this.measure(opts);
            if (r.ok) return opts.metric === "ppsPerCpu" ? r.ppsPerCpu : r.pps;
            failed.push(r);
            this.anomalies.push(describeRun(r));
            if (failed.length >= 3)
              throw new RigAccountingError(`${name}: 3 runs in a row did not add up`, failed);
          }
        }),
    };
  }

  /** Medians of a metric over the runs of each arm that added up (reports kept by measure()). */
  medians(metric: "pps" | "ppsPerCpu"): Map<string, ArmResult> {
    const by = new Map<string, number[]>();
    for (const r of this.reports) if (r.ok) by.set(r.arm, [...(by.get(r.arm) ?? []), r[metric]]);
    return new Map([...by].map(([name, samples]) => [name, { name, median: median(samples), samples }]));
  }

  /** Tears down the DUT, detaches everything and removes the namespaces. */
  async close(): Promise<void> {
    try {
      await this.#session?.teardown();
    } finally {
      this.sink.close();
      this.generator.close();
      this.topology.cleanup();
      await this.affinity?.restore();
    }
  }
}

/** Builds a rig, runs `fn` with it and removes it afterwards (also when `fn` throws). */
export async function withRig<T>(fn: (rig: Rig) => Promise<T>, opts: RigOptions = {}): Promise<T> {
  const rig = await Rig.create(opts);
  try {
    return await fn(rig);
  } finally {
    await rig.close();
  }
}

export { flowCount };
