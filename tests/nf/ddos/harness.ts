// The DDoS mitigator's data plane and its real control plane (cp/ddos.ts) without the daemon: the
// object runs alone through BPF_PROG_TEST_RUN in a private patch panel (NfTestRun), what it hands
// on goes to the host, and the Ddos class drives its maps through a minimal InstanceContext.
import { join } from "node:path";
import { TcAction, XdpAction } from "../../../src/bpf/constants.js";
import { BpfObject } from "../../../src/bpf/object/object.js";
import type { LoadedObject } from "../../../src/bpf/object/load.js";
import { projectRoot } from "../../../src/build/compile-bpf.js";
import { buildNfPackage } from "../../../src/build/build-nf.js";
import type { InstanceContext } from "../../../src/core/nf-api.js";
import { NfTestRun } from "../../../src/testbed/nf-testrun.js";
import { Ddos } from "../../../nf/ddos/cp/ddos.js";
import { fixture } from "../../helpers/fixtures.js";

export type Hook = "xdp" | "tc";
/** pass: handed on; drop; back: the answer goes back out (SYN cookie); other: anything else. */
export type Verdict = "pass" | "drop" | "back" | "other";

export const DDOS_DIR = join(projectRoot, "nf", "ddos");

let built: Promise<unknown> | undefined;
/** Builds the package once per process (tests run against the current C). */
export const buildDdos = (): Promise<unknown> => (built ??= buildNfPackage(DDOS_DIR));

export interface RunResult {
  verdict: Verdict;
  retval: number;
  data: Buffer;
  drops: number[];
}

export interface DdosHarness {
  hook: Hook;
  t: NfTestRun;
  d: Ddos;
  ctx: InstanceContext & { config: Record<string, unknown> };
  run(frame: Uint8Array): RunResult;
  configure(patch: Record<string, unknown>): void;
  close(): void;
}

export function verdictOf(hook: Hook, retval: number): Verdict {
  if (hook === "xdp")
    return retval === XdpAction.PASS
      ? "pass"
      : retval === XdpAction.DROP
        ? "drop"
        : retval === XdpAction.REDIRECT
          ? "back"
          : "other";
  if (retval === 0xffffffff) return "pass";
  if (retval === TcAction.SHOT) return "drop";
  if (retval === TcAction.REDIRECT) return "back";
  return "other";
}

/** Loads the mitigator for `hook` into `slot` with `config`, passing what it hands on to the host. */
export async function openDdos(
  hook: Hook,
  bpffs: string,
  config: Record<string, unknown> = {},
  opts: { slot?: number; name?: string } = {},
): Promise<DdosHarness> {
  await buildDdos();
  const t = await NfTestRun.open(join(DDOS_DIR, "build", `ddos.${hook}.o`), bpffs, {
    program: "ddos",
    slot: opts.slot ?? 1,
  });
  const ctx = t.transparentContext({ name: opts.name ?? "ddos-test", type: "ddos", mode: hook, config });
  const d = new Ddos(ctx);
  d.start();
  return {
    hook,
    t,
    d,
    ctx,
    run(frame) {
      const r = t.run(frame, 0);
      return { verdict: verdictOf(hook, r.retval), retval: r.retval, data: r.data, drops: r.drops };
    },
    configure(patch) {
      ctx.config = { ...ctx.config, ...patch };
      d.applyConfig(ctx.config);
    },
    close() {
      d.destroy();
      t.close();
    },
  };
}

/** The kernel's own verdict on a cookie: runs the client's ACK through tests/fixtures/ddos_cookie_check.c. */
export class CookieOracle {
  private constructor(private readonly obj: LoadedObject) {}

  static async open(): Promise<CookieOracle> {
    return new CookieOracle(await BpfObject.open(await fixture("ddos_cookie_check")).load());
  }

  /** Whether the ACK acknowledges a valid SYN cookie. */
  valid(ack: Uint8Array): boolean {
    const r = this.obj.program("ddos_cookie_check").testRun({ data: ack });
    if (r.retval === XdpAction.ABORTED) throw new Error("the cookie oracle did not understand the ACK");
    return r.retval === XdpAction.PASS;
  }

  close(): void {
    this.obj.close();
  }
}
