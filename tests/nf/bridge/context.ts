// A stand-in for the hypervisor's InstanceContext, so the bridge's control plane runs against a
// data plane loaded by the tests themselves (NfTestRun), without the daemon.
import { pino } from "pino";
import type { LoadedObject } from "../../../src/bpf/object/load.js";
import type { HookMode, InstanceContext, PortInfo } from "../../../src/core/nf-api.js";

export interface StandInContext extends InstanceContext {
  setPorts(ports: PortInfo[]): void;
  setConfig(config: Record<string, unknown>): void;
  readonly events: { kind: string; message: string }[];
}

export function standInContext(
  loaded: LoadedObject,
  opts: { mode: HookMode; slot: number; ports?: PortInfo[]; config?: Record<string, unknown>; name?: string },
): StandInContext {
  let ports = opts.ports ?? [];
  let config = opts.config ?? {};
  const events: { kind: string; message: string }[] = [];
  return {
    name: opts.name ?? "br0",
    type: "bridge",
    mode: opts.mode,
    slot: opts.slot,
    get config() {
      return config;
    },
    ports: () => ports,
    port: (p) => ports.find((x) => x.name === p || x.index === p),
    map: (name) => loaded.map(name),
    program: (name) => loaded.program(name),
    send: () => {
      throw new Error("the stand-in context sends nothing");
    },
    event: (kind, message) => void events.push({ kind, message }),
    log: pino({ level: "silent" }),
    setPorts: (p) => void (ports = p),
    setConfig: (c) => void (config = c),
    events,
  };
}
