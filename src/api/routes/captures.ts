// Packet captures (`plexus capture`): POST /v1/captures checks the filter, creates and attaches
// capture instances at the asked point (one per direction) and answers with a live pcap stream
// (application/vnd.tcpdump.pcap) of what they record, until a packet count, a duration, DELETE
// /v1/captures/:id or the client going away; then the instances are removed and the counters sent
// as an HTTP trailer. It can also stream an existing capture instance ({ instance }).
// Everything that can be refused is checked before the stream starts, so errors are problem
// documents and nothing is left half set up.
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { Type } from "typebox";
import { captureInstance } from "../../../nf/capture/control.js";
import type { CaptureInstance } from "../../../nf/capture/cp/capture.js";
import type { CaptureStats } from "../../../nf/capture/cp/layout.js";
import { placeCapture } from "../../../nf/capture/cp/placement.js";
import type { CaptureReader } from "../../../nf/capture/cp/reader.js";
import { PcapStream, type StopReason } from "../../../nf/capture/cp/session.js";
import { MAX_SNAPLEN, compileExpression } from "../../../nf/capture/cp/tcpdump.js";
import { native } from "../../bpf/sys/native.js";
import { NotFoundError, ValidationError } from "../../core/errors.js";
import type { Hypervisor } from "../../core/hypervisor.js";
import {
  CAPTURE_ID_HEADER,
  CAPTURE_TRAILER,
  CaptureBody,
  PCAP_TYPE,
  type CaptureRequestBody,
  type CaptureTotals,
} from "../capture-client.js";
import { ApiRequestError } from "../problem.js";
import type { Api, ApiContext } from "../server.js";
import { errorResponses } from "../schemas.js";

const CAPTURE_TYPE = "capture";

export const CaptureInfo = Type.Object({
  id: Type.String(),
  target: Type.String(),
  direction: Type.String(),
  filter: Type.String(),
  instances: Type.Array(Type.String()),
  packets: Type.Integer(),
  startedAt: Type.String(),
});

interface LiveCapture {
  id: string;
  target: string;
  direction: string;
  filter: string;
  instances: string[];
  stream: PcapStream;
  startedAt: Date;
  /** Resolves when the capture is over and its instances are gone. */
  done: Promise<void>;
}

/** Captures running in this process (shared by the unix-socket and TCP APIs). */
const live = new Map<string, LiveCapture>();

const newId = () => randomBytes(4).toString("hex");

function captureOf(name: string): CaptureInstance {
  const c = captureInstance(name);
  if (!c) throw new NotFoundError(`${name} is not a running capture instance`);
  return c;
}

function totals(instances: readonly CaptureInstance[], packets: number, reason: StopReason): CaptureTotals {
  const sum: CaptureStats = { seen: 0n, matched: 0n, captured: 0n, lost: 0n, errors: 0n };
  for (const i of instances) {
    const s = i.stats();
    for (const k of Object.keys(sum) as (keyof CaptureStats)[]) sum[k] += s[k];
  }
  return {
    packets,
    seen: Number(sum.seen),
    matched: Number(sum.matched),
    captured: Number(sum.captured),
    lost: Number(sum.lost),
    errors: Number(sum.errors),
    reason,
  };
}

/** Removes capture instances a previous daemon process left behind (their client is gone). */
async function reapStale(hv: Hypervisor, log: ApiContext["log"]): Promise<void> {
  const owned = new Set([...live.values()].flatMap((c) => c.instances));
  for (const i of hv.listInstances()) {
    if (i.type !== CAPTURE_TYPE || typeof i.config.session !== "string" || owned.has(i.name)) continue;
    try {
      await hv.deleteInstance(i.name);
      log.info({ instance: i.name }, "removed a capture instance left over from an earlier daemon");
    } catch (e) {
      log.warn({ err: e, instance: i.name }, "could not remove a left-over capture instance");
    }
  }
}

/** Creates and attaches the capture's instances; undoes what it did when a step fails. */
async function setUp(
  hv: Hypervisor,
  body: CaptureRequestBody & { target: string },
  id: string,
): Promise<{
  names: string[];
  captures: CaptureInstance[];
  readers: CaptureReader[];
  undo(): Promise<void>;
}> {
  const direction = body.direction ?? "inout";
  const places = placeCapture(
    hv.desiredState(),
    { target: body.target, direction, mode: body.mode },
    (n) => native().ifNameToIndex(n) > 0,
  );
  const filter = body.filter ?? "";
  const snaplen = body.snaplen ?? MAX_SNAPLEN;
  await compileExpression(filter, snaplen); // refuses a bad expression before anything exists
  const names: string[] = [];
  const readers: CaptureReader[] = [];
  const undo = async () => {
    for (const r of readers) r.close();
    for (const n of names.reverse()) await hv.deleteInstance(n).catch(() => undefined);
  };
  try {
    const captures: CaptureInstance[] = [];
    for (const p of places) {
      const name = `capture-${id}-${p.direction === "ingress" ? "in" : "out"}`;
      await hv.createInstance({
        name,
        type: CAPTURE_TYPE,
        mode: p.mode,
        config: { filter, snaplen, trace: body.trace ?? false, session: id },
      });
      names.push(name);
      const c = captureOf(name);
      await c.settled();
      if (c.status.state !== "active")
        throw new ValidationError(
          `capture at ${body.target}: ${c.status.error ?? `filter is ${c.status.state}`}`,
        );
      captures.push(c);
      // The reader before the attachment: no packet of the capture is recorded before it reads.
      readers.push(c.openReader());
    }
    for (const [i, p] of places.entries())
      await hv.attach(
        names[i],
        body.target,
        p.direction,
        p.position === "first" ? { first: true } : { last: true },
      );
    return { names, captures, readers, undo };
  } catch (e) {
    await undo();
    throw e;
  }
}

/** Writes a chunk; when the client's socket is full, waits until it drains (or closes). */
async function writeTo(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (res.destroyed || res.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

export function registerCaptureRoutes(app: Api, ctx: ApiContext): void {
  const { hv } = ctx;
  const tags = ["captures"];
  setImmediate(() => void reapStale(hv, ctx.log));

  app.post(
    "/v1/captures",
    {
      schema: {
        summary: "Capture packets at a port or interface (or from a capture instance) as a live pcap stream",
        description:
          "Give target (INSTANCE:PORT or an interface), or instance (an existing capture instance). The answer is application/vnd.tcpdump.pcap, streamed until count packets, durationMs, DELETE /v1/captures/:id (its id is in the x-plexus-capture-id header) or the client closing; the counters follow in the x-plexus-capture trailer.",
        tags,
        body: CaptureBody,
        produces: [PCAP_TYPE],
        response: { 200: Type.String({ description: PCAP_TYPE }), ...errorResponses(400, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const body = req.body;
      if ((body.target === undefined) === (body.instance === undefined))
        throw new ApiRequestError("give either target (INSTANCE:PORT or an interface) or instance", 422);
      const id = newId();
      let names: string[] = [];
      let captures: CaptureInstance[];
      let readers: CaptureReader[];
      let undo: () => Promise<void>;
      let snaplen = body.snaplen ?? MAX_SNAPLEN;
      if (body.instance !== undefined) {
        const extra = (["direction", "filter", "snaplen", "mode", "trace"] as const).filter(
          (k) => body[k] !== undefined,
        );
        if (extra.length)
          throw new ApiRequestError(
            `${extra.join(", ")}: an existing capture instance has its own configuration; change it with PATCH /v1/instances/${body.instance}`,
            422,
          );
        const view = hv.getInstance(body.instance);
        if (view.type !== CAPTURE_TYPE)
          throw new ApiRequestError(`${body.instance} is a ${view.type}, not a capture instance`, 422);
        const c = captureOf(body.instance);
        snaplen = c.status.snaplen;
        captures = [c];
        readers = [c.openReader()];
        undo = async () => readers.forEach((r) => r.close());
      } else {
        const s = await setUp(hv, { ...body, target: body.target as string }, id);
        ({ names, captures, readers, undo } = s);
      }

      const stream = new PcapStream(readers, {
        snaplen,
        precision: body.precision,
        count: body.count,
        durationMs: body.durationMs,
      });
      let resolveDone: () => void = () => undefined;
      const capture: LiveCapture = {
        id,
        target: body.target ?? body.instance ?? "",
        direction: body.instance ? "-" : (body.direction ?? "inout"),
        filter: body.instance ? captures[0].status.expression : (body.filter ?? ""),
        instances: names,
        stream,
        startedAt: new Date(),
        done: new Promise<void>((r) => (resolveDone = r)),
      };
      live.set(id, capture);
      const handle = { end: () => stream.stop() };
      ctx.streams.add(handle);

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": PCAP_TYPE,
        "cache-control": "no-cache",
        trailer: CAPTURE_TRAILER,
        [CAPTURE_ID_HEADER]: id,
      });
      res.on("close", () => stream.stop());
      void (async () => {
        let reason: StopReason = "stopped";
        try {
          reason = await stream.run((chunk) => writeTo(res, chunk));
        } catch (e) {
          req.log.error({ err: e, capture: id }, "capture stream failed");
        }
        try {
          if (!res.destroyed) {
            res.addTrailers({ [CAPTURE_TRAILER]: JSON.stringify(totals(captures, stream.packets, reason)) });
            res.end();
          }
        } finally {
          ctx.streams.delete(handle);
          try {
            await undo();
          } catch (e) {
            req.log.error({ err: e, capture: id }, "removing the capture's instances failed");
          }
          live.delete(id);
          resolveDone();
        }
      })();
    },
  );

  app.get(
    "/v1/captures",
    {
      schema: { summary: "Captures streaming now", tags, response: { 200: Type.Array(CaptureInfo) } },
    },
    async () =>
      [...live.values()].map((c) => ({
        id: c.id,
        target: c.target,
        direction: c.direction,
        filter: c.filter,
        instances: c.instances,
        packets: c.stream.packets,
        startedAt: c.startedAt.toISOString(),
      })),
  );

  app.delete(
    "/v1/captures/:id",
    {
      schema: {
        summary: "Stop a capture (its stream ends with the counters; its instances are removed)",
        tags,
        params: Type.Object({ id: Type.String({ pattern: "^[0-9a-f]{1,16}$" }) }),
        response: { 204: Type.Null(), ...errorResponses(400, 404) },
      },
    },
    async (req, reply) => {
      const c = live.get(req.params.id);
      if (!c)
        throw new NotFoundError(
          `no capture '${req.params.id}' (running: ${[...live.keys()].join(", ") || "none"})`,
        );
      c.stream.stop();
      await c.done;
      return reply.code(204).send(null);
    },
  );

  // The daemon stopping: streams are ended (server.ts) and their instances removed before it goes.
  app.addHook("preClose", async () => {
    for (const c of live.values()) c.stream.stop();
    await Promise.all([...live.values()].map((c) => c.done));
  });
}
