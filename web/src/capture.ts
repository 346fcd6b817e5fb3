// Packet capture from the page: POST /v1/captures with a stop condition (a duration or a packet
// count), the pcap stream read whole and handed to the browser as a file download.
import { postJson } from "./api.js";

export interface CaptureRequest {
  /** "INSTANCE:PORT" or a host interface. */
  target: string;
  direction?: "in" | "out" | "inout";
  filter?: string;
  durationMs?: number;
  count?: number;
}

/** Captures, then saves the pcap; resolves with its size in bytes. */
export async function downloadCapture(req: CaptureRequest, signal?: AbortSignal): Promise<number> {
  const res = await postJson("/v1/captures", req, signal);
  const blob = await res.blob();
  const url = URL.createObjectURL(new Blob([blob], { type: "application/vnd.tcpdump.pcap" }));
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const a = document.createElement("a");
  a.href = url;
  a.download = `${req.target.replace(/[^A-Za-z0-9_.-]/g, "_")}-${stamp}.pcap`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return blob.size;
}
