// GET /v1/traces/stream: the data plane's per-packet trace records (nf/include/plexus.h, "per-packet
// trace") as server-sent events, with the daemon's names for what the records number: instance
// and port for a slot and port, interface for an ifindex, reason name for a drop. The trace is
// switched on for a flow by a capture with trace=true (POST /v1/captures); `plexus trace` opens
// this stream, then such captures at the topology's entry points, and prints each packet's hops.
import { Type, type Static } from "typebox";
import { decodeTrace, type TraceRecord } from "../../../nf/capture/cp/trace.js";
import { native } from "../../bpf/sys/native.js";
import { FRAMEWORK_DROP_NAMES } from "../../core/dataplane/abi.js";
import type { Hypervisor } from "../../core/hypervisor.js";
import { peerText } from "../../core/hypervisor.js";
import type { DesiredState } from "../../core/state.js";
import type { Api, ApiContext } from "../server.js";

const KEEPALIVE_MS = 15_000;
const NAMES_TTL_MS = 250;

export const TraceHop = Type.Object({
  point: Type.String({
    description: "start, enter, tx, next, drop, pass, iface, to_cp, clone or broadcast",
  }),
  instance: Type.Optional(Type.String()),
  type: Type.Optional(Type.String({ description: "The instance's NF type and version (its program)" })),
  port: Type.Optional(Type.String()),
  /** Where a transparent instance (the tracing capture) is attached. */
  attachedTo: Type.Optional(Type.String()),
  iface: Type.Optional(Type.String({ description: "iface, clone: the interface the packet left by" })),
  reason: Type.Optional(Type.String({ description: "drop, to_cp: why" })),
  length: Type.Integer(),
  /** CLOCK_MONOTONIC nanoseconds, as a decimal string (exact). */
  timeNs: Type.String(),
  traceId: Type.Integer(),
  cpu: Type.Integer(),
  hops: Type.Integer(),
});
export type TraceHopJson = Static<typeof TraceHop>;

interface Names {
  state: DesiredState;
  bySlot: Map<number, string>;
}

/** Resolves trace records against the daemon's state (cached briefly: records come in bursts). */
function resolver(hv: Hypervisor): (r: TraceRecord) => TraceHopJson {
  let names: Names | undefined;
  let at = 0;
  const current = (): Names => {
    if (!names || Date.now() - at > NAMES_TTL_MS) {
      const state = hv.desiredState();
      names = { state, bySlot: new Map(Object.entries(state.instances).map(([n, i]) => [i.slot, n])) };
      at = Date.now();
    }
    return names;
  };
  return (r) => {
    const { state, bySlot } = current();
    const name = bySlot.get(r.slot);
    const inst = name ? state.instances[name] : undefined;
    const out: TraceHopJson = {
      point: r.point,
      length: r.length,
      timeNs: r.tstamp.toString(),
      traceId: r.traceId,
      cpu: r.cpu,
      hops: r.hops,
    };
    if (name && inst) {
      out.instance = name;
      out.type = `${inst.type} ${inst.version}`;
      const port = Object.entries(inst.ports).find(([, p]) => p.index === r.port)?.[0];
      if (port && ["enter", "tx", "drop", "clone"].includes(r.point)) out.port = port;
      if (inst.attachment)
        out.attachedTo = `${peerText(inst.attachment.target)} ${inst.attachment.direction}`;
    } else if (r.slot) out.instance = `slot ${r.slot}`;
    if (r.point === "iface" || r.point === "clone")
      out.iface = native().ifIndexToName(r.arg) ?? `ifindex ${r.arg}`;
    if (r.point === "to_cp") out.reason = `reason ${r.arg}`; // the NF's own numbering
    if (r.point === "drop") {
      let reason: string | undefined = FRAMEWORK_DROP_NAMES[r.arg];
      if (!reason && inst) {
        try {
          reason = hv.registry.get(inst.type, inst.version).manifest.dropReasons?.[String(r.arg)];
        } catch {
          // a package gone since: the number will do
        }
      }
      out.reason = reason ?? `reason ${r.arg}`;
    }
    return out;
  };
}

export function registerTraceRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  app.get(
    "/v1/traces/stream",
    {
      schema: {
        summary: "A text/event-stream of per-packet trace records (switched on by captures with trace=true)",
        description:
          "The first event is `ready` (the stream is subscribed); then one `hop` event per trace record, in the order the data plane wrote them. Records of one packet share cpu and traceId and begin with point=start.",
        tags: ["captures"],
        produces: ["text/event-stream"],
        response: { 200: Type.String({ description: "text/event-stream" }) },
      },
    },
    (req, reply) => {
      const resolve = resolver(hv);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        connection: "keep-alive",
      });
      const read = (rec: Uint8Array) => {
        const t = decodeTrace(rec);
        if (t) res.write(`event: hop\ndata: ${JSON.stringify(resolve(t))}\n\n`);
      };
      hv.traceReaders.add(read);
      res.write(`event: ready\ndata: {"ready":true}\n\n`);
      const timer = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
      const end = () => {
        hv.traceReaders.delete(read);
        clearInterval(timer);
      };
      const stream = {
        end: () => {
          end();
          res.end();
        },
      };
      ctx.streams.add(stream);
      req.raw.on("close", () => {
        end();
        ctx.streams.delete(stream);
      });
    },
  );
}
