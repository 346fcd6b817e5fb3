// The NAT's data plane and its real control plane (cp/nat.ts) without the daemon: the object runs
// alone through BPF_PROG_TEST_RUN in a private patch panel (NfTestRun), passing what it lets
// through to the host, and the Nat class drives its maps through a stand-in InstanceContext.
import { join } from "node:path";
import { pino } from "pino";
import { TcAction, XdpAction } from "../../../src/bpf/constants.js";
import { projectRoot } from "../../../src/build/compile-bpf.js";
import { buildNfPackage } from "../../../src/build/build-nf.js";
import { encodeHop, u32Key } from "../../../src/core/dataplane/abi.js";
import type { BpfMap } from "../../../src/bpf/map/map.js";
import type { BpfProgram } from "../../../src/bpf/prog/program.js";
import type { HookMode, InstanceContext, PortInfo } from "../../../src/core/nf-api.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { NfTestRun } from "../../../src/testbed/nf-testrun.js";
import { Nat } from "../../../nf/nat/cp/nat.js";
import type { Addr, Family } from "../../../nf/nat/cp/addr.js";
import { parse, type Parsed } from "./frames.js";

export type Hook = "xdp" | "tc";
export const NAT_DIR = join(projectRoot, "nf", "nat");

let built: Promise<unknown> | undefined;
/** Builds the package once per process (tests run against the current C). */
export const buildNat = (): Promise<unknown> => (built ??= buildNfPackage(NAT_DIR));

class Ctx implements InstanceContext {
  readonly type = "nat";
  readonly slot: number;
  readonly log = pino({ level: "silent" });
  events: { kind: string; message: string }[] = [];
  constructor(
    readonly name: string,
    readonly mode: HookMode,
    private readonly t: NfTestRun,
    public config: Record<string, unknown>,
  ) {
    this.slot = t.slot;
  }
  ports(): PortInfo[] {
    return [];
  }
  port(): PortInfo | undefined {
    return undefined;
  }
  map(name: string): BpfMap {
    return this.t.map(name);
  }
  program(name: string): BpfProgram {
    return this.t.loaded.program(name);
  }
  send(): void {
    throw new Error("the NAT sends nothing");
  }
  event(kind: string, message: string): void {
    this.events.push({ kind, message });
  }
}

export interface Out {
  verdict: "pass" | "drop" | "other";
  frame: Buffer;
  p: Parsed;
  drops: number[];
}

export interface NatRig {
  hook: Hook;
  t: NfTestRun;
  nat: Nat;
  ctx: Ctx;
  /** Interface addresses masquerade sees (the test sets them). */
  ifaddrs: Map<string, Addr>;
  run(frame: Buffer): Out;
  close(): void;
}

/**
 * Loads the NAT for `hook` with its control plane. Several rigs can share one bpffs (`shared`) to
 * run two instances (e.g. egress and ingress) in one zone.
 */
export async function openNat(
  hook: Hook,
  config: Record<string, unknown> = {},
  opts: { bpffs?: Bpffs; slot?: number; name?: string } = {},
): Promise<NatRig> {
  await buildNat();
  const bpffs = opts.bpffs ?? mountBpffs();
  const slot = opts.slot ?? 1;
  let t: NfTestRun | undefined;
  try {
    // Each instance gets its own maps: a pin directory of its own under the shared bpffs.
    t = await NfTestRun.open(join(NAT_DIR, "build", `nat.${hook}.o`), bpffs.path, { slot });
    t.map("px_after").update(u32Key(slot), encodeHop({ kind: "pass" }));
    const ctx = new Ctx(opts.name ?? `nat${slot}`, hook, t, config);
    const ifaddrs = new Map<string, Addr>();
    const nat = new Nat(ctx, (ifname: string, family: Family) => {
      const a = ifaddrs.get(ifname);
      return a && a.family === family ? a : undefined;
    });
    nat.start();
    const tt = t;
    return {
      hook,
      t,
      nat,
      ctx,
      ifaddrs,
      run(frame: Buffer): Out {
        const r = tt.run(frame, 0);
        const pass = hook === "xdp" ? r.retval === XdpAction.PASS : r.retval === 0xffffffff;
        const drop = hook === "xdp" ? r.retval === XdpAction.DROP : r.retval === TcAction.SHOT;
        return {
          verdict: pass ? "pass" : drop ? "drop" : "other",
          frame: r.data,
          p: parse(r.data),
          drops: r.drops,
        };
      },
      close() {
        nat.destroy();
        tt.close();
        if (!opts.bpffs) bpffs.cleanup();
      },
    };
  } catch (e) {
    t?.close();
    if (!opts.bpffs) bpffs.cleanup();
    throw e;
  }
}
