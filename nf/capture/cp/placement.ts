// Where the instances of one capture go: which directions of the target point to attach to, in
// which hook mode, and where in the chain of what is attached there already. Ingress captures run
// first (tcpdump sees a received packet before tc and netfilter do), egress captures last (it sees
// what really leaves). Pure: decided from the desired state.
import { NotFoundError, ValidationError } from "../../../src/core/errors.js";
import type { HookMode } from "../../../src/core/nf-api.js";
import type { DesiredState } from "../../../src/core/state.js";

/** tcpdump -Q: in (received), out (sent) or both. */
export type CaptureDirection = "in" | "out" | "inout";

export interface CapturePlacement {
  direction: "ingress" | "egress";
  mode: HookMode;
  position: "first" | "last";
}

export interface PlacementRequest {
  /** "INSTANCE:PORT" or a host interface. */
  target: string;
  direction: CaptureDirection;
  /** Hook mode asked for; default: what the point needs. */
  mode?: HookMode;
}

const hookOf = (m: HookMode) => (m === "tc" ? "tc" : "xdp");

/** The mode of what already runs where an ingress capture on interface `iface` would join it. */
function ingressModeAt(state: DesiredState, iface: string): HookMode | undefined {
  for (const i of Object.values(state.instances))
    for (const p of Object.values(i.ports))
      if (p.peer && "iface" in p.peer && p.peer.iface === iface) return i.mode;
  for (const i of Object.values(state.instances)) {
    const a = i.attachment;
    if (a && "iface" in a.target && a.target.iface === iface && a.direction === "ingress") return i.mode;
  }
  return undefined;
}

export function placeCapture(
  state: DesiredState,
  req: PlacementRequest,
  interfaceExists: (name: string) => boolean,
): CapturePlacement[] {
  const dirs: ("ingress" | "egress")[] =
    req.direction === "in" ? ["ingress"] : req.direction === "out" ? ["egress"] : ["ingress", "egress"];
  const m = /^([^:]+):([^:]+)$/.exec(req.target);
  /** The mode a direction must have, or undefined when nothing there constrains it. */
  let needs: (dir: "ingress" | "egress") => HookMode | undefined;
  if (m) {
    const [, name, port] = m;
    const inst = state.instances[name];
    if (!inst)
      throw new NotFoundError(
        `no instance '${name}' to capture at (instances: ${Object.keys(state.instances).sort().join(", ") || "none"})`,
      );
    if (!inst.ports[port])
      throw new NotFoundError(
        `${name} has no port '${port}' (ports: ${Object.keys(inst.ports).sort().join(", ") || "none"})`,
      );
    // Captures at a port run in the port's tail-call chain: the instance's hook, either direction.
    needs = () => inst.mode;
  } else {
    if (!interfaceExists(req.target))
      throw new NotFoundError(`interface '${req.target}' does not exist in the daemon's network namespace`);
    needs = (dir) => (dir === "egress" ? "tc" : ingressModeAt(state, req.target));
  }
  return dirs.map((direction) => {
    const want = needs(direction);
    if (req.mode && !m && direction === "egress" && hookOf(req.mode) !== "tc")
      throw new ValidationError(
        `packets leaving interface ${req.target} can only be captured in tc mode (XDP has no egress hook); use --mode tc, or -Q in`,
      );
    if (req.mode && want && hookOf(req.mode) !== hookOf(want))
      throw new ValidationError(
        `a capture at ${req.target} ${direction} runs in the same chain as ${m ? `${m[1]} (${want})` : `what is attached there (${want})`}: it must be ${hookOf(want) === "tc" ? "tc" : "xdp or xdp-generic"}, not ${req.mode}`,
      );
    return {
      direction,
      mode: req.mode ?? want ?? "tc",
      position: direction === "ingress" ? "first" : "last",
    };
  });
}
