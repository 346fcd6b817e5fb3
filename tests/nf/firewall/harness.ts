// The firewall's data plane and its real control plane (cp/firewall.ts) without the daemon: the
// object runs alone through BPF_PROG_TEST_RUN in a private patch panel (NfTestRun), and the
// Firewall class drives its maps through a minimal InstanceContext.
import { join } from "node:path";
import { TcAction, XdpAction } from "../../../src/bpf/constants.js";
import { projectRoot } from "../../../src/build/compile-bpf.js";
import { buildNfPackage } from "../../../src/build/build-nf.js";
import type { InstanceContext } from "../../../src/core/nf-api.js";
import { NfTestRun } from "../../../src/testbed/nf-testrun.js";
import { Firewall } from "../../../nf/firewall/cp/firewall.js";

export type Hook = "xdp" | "tc";
export type Verdict = "pass" | "drop" | "back" | "other";

export const FW_DIR = join(projectRoot, "nf", "firewall");

let built: Promise<unknown> | undefined;
/** Builds the package once per process (tests run against the current C). */
export const buildFirewall = (): Promise<unknown> => (built ??= buildNfPackage(FW_DIR));

export interface RunResult {
  verdict: Verdict;
  retval: number;
  data: Buffer;
  drops: number[];
}

export interface FwHarness {
  hook: Hook;
  t: NfTestRun;
  fw: Firewall;
  ctx: InstanceContext & { config: Record<string, unknown> };
  events: { kind: string; message: string }[];
  run(frame: Uint8Array): RunResult;
  configure(patch: Record<string, unknown>): void;
  close(): void;
}

function verdictOf(hook: Hook, retval: number): Verdict {
  if (hook === "xdp")
    return retval === XdpAction.PASS
      ? "pass"
      : retval === XdpAction.DROP
        ? "drop"
        : retval === XdpAction.TX || retval === XdpAction.REDIRECT
          ? "back" // rejects are redirected to the interface they came in on
          : "other";
  if (retval === 0xffffffff) return "pass";
  if (retval === TcAction.SHOT) return "drop";
  if (retval === TcAction.REDIRECT) return "back";
  return "other";
}

/** Loads the firewall for `hook` into `slot`, passing what it lets through to the host. */
export async function openFirewall(
  hook: Hook,
  bpffs: string,
  config: Record<string, unknown> = {},
  opts: { slot?: number; name?: string } = {},
): Promise<FwHarness> {
  await buildFirewall();
  const t = await NfTestRun.open(join(FW_DIR, "build", `firewall.${hook}.o`), bpffs, {
    program: "firewall",
    slot: opts.slot ?? 1,
  });
  const ctx = t.transparentContext({ name: opts.name ?? "fw-test", type: "firewall", mode: hook, config });
  const events = ctx.events;
  const fw = new Firewall(ctx);
  await fw.start();
  return {
    hook,
    t,
    fw,
    ctx,
    events,
    run(frame) {
      const r = t.run(frame, 0);
      return { verdict: verdictOf(hook, r.retval), retval: r.retval, data: r.data, drops: r.drops };
    },
    configure(patch) {
      ctx.config = { ...ctx.config, ...patch };
      fw.applyConfig(ctx.config);
    },
    close() {
      fw.destroy();
      t.close();
    },
  };
}
