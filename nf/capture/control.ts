// The capture NF's control plane: the filter and data-plane config follow the instance
// configuration, the recorder stays current across upgrades, and the `filter` and `stats` tables.
// The streaming itself (ring -> pcap -> client) is the API's (src/api/routes/captures.ts), which
// finds an instance's CaptureInstance through captureInstance().
import { defineControlPlane, type InstanceContext } from "../../src/core/nf-api.js";
import { CaptureInstance } from "./cp/capture.js";

/** One CaptureInstance per instance (the module is shared by every instance of the type). */
const instances = new Map<string, CaptureInstance>();

function instance(ctx: InstanceContext): CaptureInstance {
  let c = instances.get(ctx.name);
  if (!c) {
    c = new CaptureInstance(ctx);
    instances.set(ctx.name, c);
  }
  c.ctx = ctx;
  return c;
}

/** The control plane of a running capture instance, if there is one by that name. */
export const captureInstance = (name: string): CaptureInstance | undefined => instances.get(name);

/** How often the recorder slot is checked against the instance's program (a hot upgrade swaps it). */
export const RECORDER_CHECK_MS = 1000;

export default defineControlPlane({
  async init(ctx) {
    instances.get(ctx.name)?.close();
    instances.delete(ctx.name);
    await instance(ctx).apply(ctx.config);
  },
  async configure(ctx, config) {
    await instance(ctx).apply(config);
  },
  timers: [{ intervalMs: RECORDER_CHECK_MS, run: (ctx) => instance(ctx).refreshRecorder() }],
  tables: {
    filter: {
      list: (ctx) => {
        const s = instance(ctx).status;
        return [
          {
            expression: s.expression,
            snaplen: s.snaplen,
            capture: s.capture,
            trace: s.trace,
            state: s.state,
            ...(s.classic !== undefined ? { classic: s.classic, ebpf: s.ebpf } : {}),
            ...(s.error ? { error: s.error } : {}),
          },
        ];
      },
    },
    stats: {
      list: (ctx) => {
        const s = instance(ctx).stats();
        return [
          {
            seen: Number(s.seen),
            matched: Number(s.matched),
            captured: Number(s.captured),
            lost: Number(s.lost),
            errors: Number(s.errors),
          },
        ];
      },
    },
  },
  destroy(ctx) {
    instances.get(ctx.name)?.close();
    instances.delete(ctx.name);
  },
});
