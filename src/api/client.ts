// A small client of the REST API over the daemon's unix socket or TCP (with a bearer token): used
// by the CLI and the tests. Non-2xx answers become ApiError with the server's problem document.
import { request, type IncomingMessage } from "node:http";
import type { Problem } from "./problem.js";

export const DEFAULT_SOCKET = "/run/plexus/plexus.sock";

export interface Endpoint {
  /** Unix socket path (default /run/plexus/plexus.sock). */
  socket?: string;
  /** http://HOST:PORT instead of the socket. */
  url?: string;
  token?: string;
}

/** The daemon answered with an error. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail);
  }
}

/** The daemon could not be reached at all. */
export class ConnectionError extends Error {
  override name = "ConnectionError";
}

export interface RequestOptions {
  body?: unknown;
  /** Raw body (uploads); `contentType` says what it is. */
  raw?: Buffer;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
}

export class ApiClient {
  constructor(readonly endpoint: Endpoint = {}) {}

  get where(): string {
    return this.endpoint.url ?? this.endpoint.socket ?? DEFAULT_SOCKET;
  }

  private open(method: string, path: string, opts: RequestOptions): Promise<IncomingMessage> {
    const q = Object.entries(opts.query ?? {}).filter(([, v]) => v !== undefined);
    const fullPath = q.length
      ? `${path}?${q.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join("&")}`
      : path;
    const headers: Record<string, string> = { accept: "application/json" };
    let payload: Buffer | undefined;
    if (opts.raw) {
      payload = opts.raw;
      headers["content-type"] = opts.contentType ?? "application/octet-stream";
    } else if (opts.body !== undefined) {
      payload = Buffer.from(JSON.stringify(opts.body));
      headers["content-type"] = "application/json";
    }
    if (payload) headers["content-length"] = String(payload.length);
    if (this.endpoint.token) headers.authorization = `Bearer ${this.endpoint.token}`;
    const target = this.endpoint.url
      ? (() => {
          const u = new URL(fullPath, this.endpoint.url);
          return { host: u.hostname, port: u.port || 80, path: u.pathname + u.search };
        })()
      : { socketPath: this.endpoint.socket ?? DEFAULT_SOCKET, path: fullPath };
    return new Promise((resolve, reject) => {
      const req = request({ ...target, method, headers }, resolve);
      req.on("error", (e: NodeJS.ErrnoException) => {
        const hint = this.endpoint.url
          ? "is plexusd listening there (--listen)?"
          : "is plexusd running? (give its socket with --socket or PLEXUS_SOCKET)";
        reject(
          new ConnectionError(`cannot reach the daemon at ${this.where}: ${e.code ?? e.message}; ${hint}`),
        );
      });
      if (opts.timeoutMs)
        req.setTimeout(opts.timeoutMs, () =>
          req.destroy(new Error(`no answer from ${this.where} in ${opts.timeoutMs} ms`)),
        );
      req.end(payload);
    });
  }

  /** Sends a request and returns the parsed JSON answer (undefined for 204). */
  async call<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, opts);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const status = res.statusCode ?? 0;
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    if (status >= 200 && status < 300) return body as T;
    const p = body as Partial<Problem> | undefined;
    throw new ApiError(status, {
      type: p?.type ?? "about:blank",
      title: p?.title ?? String(status),
      status,
      detail: p?.detail ?? (typeof body === "string" && body ? body : `HTTP ${status}`),
      ...(p?.errors ? { errors: p.errors } : {}),
      ...(p?.verifierLog ? { verifierLog: p.verifierLog } : {}),
    });
  }

  get<T = unknown>(path: string, query?: RequestOptions["query"]): Promise<T> {
    return this.call<T>("GET", path, { query });
  }
  post<T = unknown>(path: string, body?: unknown, query?: RequestOptions["query"]): Promise<T> {
    return this.call<T>("POST", path, { body, query });
  }
  put<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.call<T>("PUT", path, { body });
  }
  patch<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.call<T>("PATCH", path, { body });
  }
  delete<T = unknown>(path: string, body?: unknown, query?: RequestOptions["query"]): Promise<T> {
    return this.call<T>("DELETE", path, { body, query });
  }

  /**
   * Server-sent events from `path`: yields each event's data (parsed JSON) until the stream ends
   * or `signal` aborts.
   */
  async *events<T = unknown>(
    path: string,
    query?: RequestOptions["query"],
    signal?: AbortSignal,
  ): AsyncGenerator<T> {
    const res = await this.open("GET", path, { query });
    if ((res.statusCode ?? 0) >= 400) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const p = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Problem;
      throw new ApiError(res.statusCode ?? 0, p);
    }
    signal?.addEventListener("abort", () => res.destroy());
    let buf = "";
    try {
      for await (const chunk of res) {
        buf += (chunk as Buffer).toString("utf8");
        let cut: number;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart())
            .join("\n");
          if (data) yield JSON.parse(data) as T;
        }
      }
    } catch (e) {
      if (!signal?.aborted) throw e;
    }
  }
}

/** `name` safe in a URL path. */
export const seg = (s: string): string => encodeURIComponent(s);
