// Requests to the daemon's REST API from the page: same origin, bearer token from auth.ts, problem
// documents turned into ApiError. A 401 calls the handler set by main.ts (it shows the login form).
import { getToken } from "./auth.js";
import type { Problem } from "./types.js";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(detail);
  }
}

let onUnauthorized: () => void = () => undefined;

export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

function headers(extra?: HeadersInit): Headers {
  const h = new Headers(extra);
  const token = getToken();
  if (token) h.set("authorization", `Bearer ${token}`);
  return h;
}

/** A raw request (streams, downloads); throws ApiError on a non-2xx answer. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(path, { ...init, headers: headers(init.headers) });
  if (res.ok) return res;
  let detail = `${res.status} ${res.statusText}`;
  try {
    const p = (await res.json()) as Problem;
    if (p.detail) detail = p.detail;
  } catch {
    // not a problem document
  }
  if (res.status === 401) onUnauthorized();
  throw new ApiError(res.status, detail);
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await request(path, { signal, headers: { accept: "application/json" } });
  return (await res.json()) as T;
}

export async function postJson(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return request(path, {
    method: "POST",
    signal,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}
