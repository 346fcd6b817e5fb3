// Active health checks, run from the daemon's namespace: a TCP connect or an HTTP GET (2xx or 3xx
// passes) to each backend every interval, with a timeout. `fall` consecutive failures take a
// backend out, `rise` consecutive successes put it back; the owner is told of each change.
import { request } from "node:http";
import { connect } from "node:net";
import type { HealthCheck } from "./service.js";

export interface Probe {
  host: string;
  port: number;
  check: HealthCheck;
}

/** One check; resolves to undefined when it passed, else to what went wrong. */
export function probe(p: Probe): Promise<string | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (err: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(err);
    };
    const timer = setTimeout(() => {
      finish(`no answer within ${p.check.timeoutMs} ms`);
      cleanup();
    }, p.check.timeoutMs);
    let cleanup = () => {};
    if (p.check.kind === "http") {
      const req = request(
        {
          host: p.host,
          port: p.port,
          path: p.check.path,
          method: "GET",
          agent: false,
          headers: { Connection: "close" },
        },
        (res) => {
          const code = res.statusCode ?? 0;
          res.resume();
          res.on("error", () => undefined);
          finish(code >= 200 && code < 400 ? undefined : `HTTP ${code}`);
          req.destroy();
        },
      );
      req.on("error", (e) => finish(e.message));
      req.end();
      cleanup = () => req.destroy();
    } else {
      const s = connect({ host: p.host, port: p.port });
      s.on("connect", () => {
        finish(undefined);
        s.destroy();
      });
      s.on("error", (e) => finish(e.message));
      cleanup = () => s.destroy();
    }
  });
}

export interface Health {
  up: boolean;
  /** Consecutive results of the kind that would change `up`. */
  streak: number;
  lastError?: string;
  nextAt: number;
  running: boolean;
}

export const freshHealth = (): Health => ({ up: true, streak: 0, nextAt: 0, running: false });

/** Folds one result into `h`; returns whether `up` changed. */
export function record(h: Health, err: string | undefined, check: HealthCheck): boolean {
  const ok = err === undefined;
  h.lastError = err;
  if (ok === h.up) {
    h.streak = 0;
    return false;
  }
  h.streak++;
  if (h.streak >= (h.up ? check.fall : check.rise)) {
    h.up = ok;
    h.streak = 0;
    return true;
  }
  return false;
}
