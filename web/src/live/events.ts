// The daemon's event stream (GET /v1/events/stream, server-sent events) read with fetch, because
// EventSource cannot send the bearer header. Reconnects after a drop, asking for what it missed.
import { request } from "../api.js";
import type { PlexusEvent } from "../types.js";

export interface FollowOptions {
  instance?: string;
  /** Deliver the stored events after this sequence number first. */
  since?: number;
  signal: AbortSignal;
  onEvent(e: PlexusEvent): void;
}

function parseBlock(block: string): PlexusEvent | undefined {
  const data = block
    .split("\n")
    .filter((l) => l.startsWith("data:"))
    .map((l) => l.slice(5).trimStart())
    .join("\n");
  if (!data) return undefined;
  try {
    return JSON.parse(data) as PlexusEvent;
  } catch {
    return undefined;
  }
}

export async function followEvents(opts: FollowOptions): Promise<void> {
  let since = opts.since;
  while (!opts.signal.aborted) {
    try {
      const q = new URLSearchParams();
      if (since !== undefined) q.set("since", String(since));
      if (opts.instance) q.set("instance", opts.instance);
      const res = await request(`/v1/events/stream?${q}`, {
        signal: opts.signal,
        headers: { accept: "text/event-stream" },
      });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut: number;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const e = parseBlock(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
          if (e) {
            since = e.seq;
            opts.onEvent(e);
          }
        }
      }
    } catch (e) {
      if (opts.signal.aborted) return;
      if ((e as { status?: number }).status === 401) return;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
