// The interface between the hypervisor and a network function's control plane (control.ts of an
// NF package). Built-in NFs and users' NFs get exactly this; there is no other way in.
import type { Logger } from "pino";
import type { BpfMap } from "../bpf/map/map.js";
import type { BpfProgram } from "../bpf/prog/program.js";

export type HookMode = "tc" | "xdp" | "xdp-generic";

/** What a port is connected to. */
export type PortPeer =
  | { kind: "iface"; ifname: string; ifindex: number; mac: string }
  | { kind: "port"; instance: string; port: string };

export interface PortInfo {
  name: string;
  /** Index 0..127 inside the instance (what the data plane sees as in_port). */
  index: number;
  peer?: PortPeer;
  /**
   * The host interface a copy must be sent to to reach the peer in a multi-destination send
   * (the peer interface itself, or the link veth towards another instance), when connected.
   */
  floodIfindex?: number;
  /** Port configuration, validated against the manifest's portConfig schema. */
  config: Record<string, unknown>;
}

/** A packet the data plane handed to the control plane with px_to_cp(). */
export interface SlowPathPacket {
  port: number;
  reason: number;
  /** The NF-defined value given to px_to_cp(). */
  user: number;
  /** Length of the whole packet (data may be shorter). */
  length: number;
  data: Buffer;
  timestampNs: bigint;
}

export interface InstanceContext {
  readonly name: string;
  readonly type: string;
  readonly mode: HookMode;
  readonly slot: number;
  /** The instance configuration (validated against the manifest's config schema). */
  readonly config: Readonly<Record<string, unknown>>;
  ports(): PortInfo[];
  port(nameOrIndex: string | number): PortInfo | undefined;
  /** One of the instance's own maps, by the name it has in dataplane.c. */
  map(name: string): BpfMap;
  /** One of the instance's programs other than its entry point (e.g. a devmap egress program). */
  program(name: string): BpfProgram;
  /** Sends a frame out of a port (through the port's peer, whatever it is). */
  send(port: string | number, frame: Uint8Array): void;
  /** Counts packets the control plane dropped (queue overflow, timeouts) under a drop reason 0..11. */
  countDrop?(reason: number, packets?: number): void;
  /** Records an event (shown by `plexus events`). */
  event(kind: string, message: string, data?: Record<string, unknown>): void;
  readonly log: Logger;
}

type Entry = Record<string, unknown>;

/**
 * Custom handling of one of the NF's tables (otherwise the map is read and written generically).
 * `add` may return the entry in canonical form (defaults filled in, addresses normalised): that is
 * what the desired state records and restores.
 */
export interface TableHandler {
  list?(ctx: InstanceContext): Entry[] | Promise<Entry[]>;
  add?(ctx: InstanceContext, entry: Entry): void | Entry | Promise<void | Entry>;
  /** Many entries at once (bulk loads: batched map updates). Returns canonical entries, in order. */
  addMany?(ctx: InstanceContext, entries: Entry[]): void | Entry[] | Promise<void | Entry[]>;
  delete?(ctx: InstanceContext, key: Entry): void | Promise<void>;
}

export interface ControlPlane {
  /** The instance exists (created now, or adopted after a daemon restart when `adopted`). */
  init?(ctx: InstanceContext, adopted: boolean): void | Promise<void>;
  /** Instance configuration changed (not called at init). */
  configure?(ctx: InstanceContext, config: Record<string, unknown>): void | Promise<void>;
  /** A port was added, removed, connected, disconnected or reconfigured. */
  portsChanged?(ctx: InstanceContext): void | Promise<void>;
  /** A packet from px_to_cp(). */
  packet?(ctx: InstanceContext, pkt: SlowPathPacket): void | Promise<void>;
  /** Periodic work (aging, probes). */
  timers?: { intervalMs: number; run(ctx: InstanceContext): void | Promise<void> }[];
  tables?: Record<string, TableHandler>;
  /** The instance is being deleted. */
  destroy?(ctx: InstanceContext): void | Promise<void>;
}

/** What control.ts exports as default. */
export const defineControlPlane = (cp: ControlPlane): ControlPlane => cp;
