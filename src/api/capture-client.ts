// The client side of POST /v1/captures: sends the request over the daemon's unix socket or TCP
// (as ApiClient does), hands the pcap stream over chunk by chunk, and returns the counters of the
// trailer. A refusal is an ApiError with the daemon's problem document.
import { request, type IncomingMessage } from "node:http";
import { Type, type Static } from "typebox";
import { ApiError, ConnectionError, type ApiClient } from "./client.js";
import type { Problem } from "./problem.js";
import { Mode, Name, PeerText } from "./schemas.js";

export const PCAP_TYPE = "application/vnd.tcpdump.pcap";
/** Trailer with the capture's counters (JSON). */
export const CAPTURE_TRAILER = "x-plexus-capture";
/** Header with the capture's id (DELETE /v1/captures/:id stops it). */
export const CAPTURE_ID_HEADER = "x-plexus-capture-id";

/** What POST /v1/captures takes. */
export const CaptureBody = Type.Object(
  {
    target: Type.Optional(PeerText),
    instance: Type.Optional(Name),
    direction: Type.Optional(
      Type.Union([Type.Literal("in"), Type.Literal("out"), Type.Literal("inout")], {
        description: "tcpdump -Q: in (received), out (sent), inout (default)",
      }),
    ),
    filter: Type.Optional(Type.String({ maxLength: 8192, description: "tcpdump expression" })),
    snaplen: Type.Optional(Type.Integer({ minimum: 1, maximum: 262144 })),
    count: Type.Optional(Type.Integer({ minimum: 1, description: "Stop after this many packets" })),
    durationMs: Type.Optional(Type.Integer({ minimum: 1, description: "Stop after this long" })),
    mode: Type.Optional(Mode),
    trace: Type.Optional(Type.Boolean({ description: "Trace the selected packets through the data plane" })),
    precision: Type.Optional(Type.Union([Type.Literal("micro"), Type.Literal("nano")])),
  },
  { additionalProperties: false },
);
export type CaptureRequestBody = Static<typeof CaptureBody>;

/** The counters of the trailer. */
export interface CaptureTotals {
  /** Packets written to the stream. */
  packets: number;
  /** Packets the filters saw, selected and recorded; selected but lost (ring full), read errors. */
  seen: number;
  matched: number;
  captured: number;
  lost: number;
  errors: number;
  /** count, duration or stopped. */
  reason: string;
}

export interface CaptureHandlers {
  /** The capture runs: its id (for DELETE /v1/captures/:id). */
  started?(id: string): void;
  /** Bytes of the pcap stream, in order (awaited: backpressure). */
  data(chunk: Buffer): void | Promise<void>;
}

function open(client: ApiClient, body: CaptureRequestBody): Promise<IncomingMessage> {
  const ep = client.endpoint;
  const payload = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = {
    accept: "application/vnd.tcpdump.pcap, application/problem+json",
    "content-type": "application/json",
    "content-length": String(payload.length),
  };
  if (ep.token) headers.authorization = `Bearer ${ep.token}`;
  const target = ep.url
    ? (() => {
        const u = new URL("/v1/captures", ep.url);
        return { host: u.hostname, port: u.port || 80, path: u.pathname };
      })()
    : { socketPath: client.where, path: "/v1/captures" };
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method: "POST", headers }, resolve);
    req.on("error", (e: NodeJS.ErrnoException) =>
      reject(
        new ConnectionError(
          `cannot reach the daemon at ${client.where}: ${e.code ?? e.message}; is plexusd running? (give its socket with --socket or PLEXUS_SOCKET)`,
        ),
      ),
    );
    req.end(payload);
  });
}

/**
 * Runs a capture: resolves with the daemon's counters when the stream ends (undefined when it was
 * cut, by `signal` or by the daemon going away, before they came), or rejects with the daemon's
 * refusal.
 */
export async function runCapture(
  client: ApiClient,
  body: CaptureRequestBody,
  handlers: CaptureHandlers,
  signal?: AbortSignal,
): Promise<CaptureTotals | undefined> {
  const res = await open(client, body);
  const status = res.statusCode ?? 0;
  if (status >= 300) {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    let p: Partial<Problem>;
    try {
      p = JSON.parse(text) as Problem;
    } catch {
      p = { detail: text || `HTTP ${status}` };
    }
    throw new ApiError(status, {
      type: p.type ?? "about:blank",
      title: p.title ?? String(status),
      status,
      detail: p.detail ?? `HTTP ${status}`,
      ...(p.errors ? { errors: p.errors } : {}),
    });
  }
  const id = res.headers[CAPTURE_ID_HEADER];
  if (typeof id === "string") handlers.started?.(id);
  const abort = () => res.destroy();
  signal?.addEventListener("abort", abort);
  try {
    for await (const chunk of res) await handlers.data(chunk as Buffer);
  } catch (e) {
    // Cut by us (abort) or by the daemon (it stopped): what arrived stands, the counters did not.
    if (signal?.aborted || (e as NodeJS.ErrnoException).code === "ECONNRESET") return undefined;
    throw e;
  } finally {
    signal?.removeEventListener("abort", abort);
  }
  const t = res.trailers[CAPTURE_TRAILER];
  return t ? (JSON.parse(t) as CaptureTotals) : undefined;
}
