// Driving a packet pipeline from a capture file or from live interfaces: every frame through the
// program, then what its verdict says (transmit back out, redirect to another interface), with
// counters per action; capture files can be written with the packets that left the program.
import { readFileSync, writeFileSync } from "node:fs";
import { PlexusBpfError } from "../../bpf/errors.js";
import { ProgType, TcAction, XdpAction } from "../../bpf/constants.js";
import type { Action, PacketPipeline, PacketResult } from "../dataplane.js";
import { PacketSocket } from "./afpacket.js";
import { PcapWriter, isPcap, readPcap } from "./pcap.js";
import type { CapturedPacket } from "./pcap.js";
import { PcapngWriter, isPcapng, readPcapng } from "./pcapng.js";

export interface RunStats {
  packets: number;
  seconds: number;
  packetsPerSecond: number;
  counters: Record<Action, number>;
  /** Packets written to the output capture. */
  written?: number;
  /** Live: frames sent (transmitted or redirected) and sends that failed. */
  sent?: number;
  sendErrors?: number;
  /** The first faults seen, with how often each happened. */
  faults: { message: string; count: number }[];
}

const ACTIONS: Action[] = ["pass", "drop", "tx", "redirect", "aborted", "error"];

function stats(p: PacketPipeline, packets: number, seconds: number): RunStats {
  const counters = Object.fromEntries(ACTIONS.map((a) => [a, p.counters.get(a) ?? 0])) as Record<
    Action,
    number
  >;
  return {
    packets,
    seconds,
    packetsPerSecond: seconds > 0 ? packets / seconds : 0,
    counters,
    faults: [...p.faults].slice(0, 5).map(([message, count]) => ({ message, count })),
  };
}

/** Reads a pcap or pcapng file. */
export function readCapture(path: string): CapturedPacket[] {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch (e) {
    throw new PlexusBpfError(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (isPcapng(file)) return [...readPcapng(file, path)];
  if (isPcap(file)) return [...readPcap(file, path)];
  throw new PlexusBpfError(`${path}: neither a pcap nor a pcapng file`);
}

/** The verdict as the kernel's constant name. */
export function verdictText(progType: number, r: PacketResult): string {
  const table: Record<string, number> = progType === ProgType.XDP ? XdpAction : TcAction;
  const name = Object.entries(table).find(
    ([, v]) => v === (progType === ProgType.XDP ? r.retval : r.retval | 0),
  )?.[0];
  const base = name ? `${progType === ProgType.XDP ? "XDP" : "TC_ACT"}_${name}` : `verdict ${r.retval}`;
  const rd = r.redirect;
  return rd ? `${base} to ${rd.kind} ${rd.target}${rd.map ? ` (map ${rd.map}[${rd.key}])` : ""}` : base;
}

export interface CaptureRunOptions {
  /** Where to write the packets that leave the program (pass, tx, redirect): .pcapng gets verdict comments. */
  out?: string;
  ingressIfindex?: number;
}

/** Runs every packet of a capture through the pipeline. */
export function runCapture(
  p: PacketPipeline,
  packets: readonly CapturedPacket[],
  o: CaptureRunOptions = {},
): RunStats {
  const ng = o.out?.endsWith(".pcapng");
  const writer = o.out ? (ng ? new PcapngWriter() : new PcapWriter()) : undefined;
  let written = 0;
  const t0 = process.hrtime.bigint();
  // No interfaces behind a capture file: clones may go anywhere, and are written out.
  p.vm.hasInterface = () => true;
  for (const pkt of packets) {
    const r = p.process(pkt.data, o.ingressIfindex ?? 1);
    for (const c of r.clones ?? []) {
      if (!writer) break;
      const comment = `clone to ifindex ${c.ifindex}${c.ingress ? " (ingress)" : ""}`;
      if (writer instanceof PcapngWriter)
        writer.add({ timeNs: pkt.timeNs, data: c.data, iface: "redirect", comment });
      else writer.add({ timeNs: pkt.timeNs, data: c.data });
      written++;
    }
    if (writer && (r.action === "pass" || r.action === "tx" || r.action === "redirect")) {
      const data = Buffer.from(p.output);
      if (writer instanceof PcapngWriter)
        writer.add({ timeNs: pkt.timeNs, data, iface: r.action, comment: verdictText(p.prog.type, r) });
      else writer.add({ timeNs: pkt.timeNs, data });
      written++;
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (writer && o.out) writeFileSync(o.out, writer.bytes());
  return { ...stats(p, packets.length, seconds), ...(writer ? { written } : {}) };
}

export interface LiveRunOptions {
  /** Stop after this many packets. */
  count?: number;
  /** Stop after this many milliseconds. */
  durationMs?: number;
  /** Aborts the run (SIGINT, SIGTERM). */
  signal?: AbortSignal;
  /** Called once every socket is open and capturing. */
  onReady?: () => void;
}

/** Captures on live interfaces (AF_PACKET), runs each frame, transmits and redirects as told. */
export function runLive(
  p: PacketPipeline,
  ifnames: readonly string[],
  o: LiveRunOptions = {},
): Promise<RunStats> {
  const sockets = ifnames.map((n) => new PacketSocket(n));
  const byIndex = new Map(sockets.map((s) => [s.ifindex, s]));
  p.vm.hasInterface = (ifindex) => byIndex.has(ifindex);
  let packets = 0;
  const t0 = process.hrtime.bigint();
  return new Promise<RunStats>((resolve, reject) => {
    let done = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const sent = sockets.reduce((n, s) => n + s.sent, 0);
      const sendErrors = sockets.reduce((n, s) => n + s.sendErrors, 0);
      for (const s of sockets) s.close();
      if (err) reject(err);
      else resolve({ ...stats(p, packets, seconds), sent, sendErrors });
    };
    const onAbort = (): void => finish();
    const timer = o.durationMs !== undefined ? setTimeout(() => finish(), o.durationMs) : undefined;
    o.signal?.addEventListener("abort", onAbort);
    o.onReady?.();
    for (const s of sockets) {
      s.onReadable(() => {
        try {
          s.drain((frame) => {
            if (done) return;
            packets++;
            const r = p.process(frame, s.ifindex);
            for (const c of r.clones ?? []) byIndex.get(c.ifindex)?.sendTo(c.data, c.ifindex);
            if (r.action === "tx") s.send(p.output);
            else if (
              r.action === "redirect" &&
              r.redirect &&
              (r.redirect.kind === "ifindex" || r.redirect.kind === "devmap")
            )
              (byIndex.get(r.redirect.target) ?? s).sendTo(p.output, r.redirect.target);
            if (o.count !== undefined && packets >= o.count) finish();
          });
        } catch (e) {
          finish(e);
        }
      });
    }
  });
}
