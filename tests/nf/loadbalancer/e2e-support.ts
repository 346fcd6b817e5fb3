// Servers and clients for the load balancer's end-to-end tests: a Python HTTP server that says which
// backend answered and to whom (and serves a slow download), and curl helpers.
import assert from "node:assert/strict";
import { exec } from "../../../src/testbed/netns.js";

export const BIG = 600_000;

/**
 * An HTTP/1.0 server (one connection per request) that answers `NAME CLIENT LOCAL`: which backend
 * answered, whom it saw, and the address it was reached at (dual-stack: IPv4 shows as ::ffff:a.b.c.d).
 */
export const SERVER = `
import http.server, socket, sys, time
name, port = sys.argv[1], int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        big = self.path.startswith("/big")
        b = (name + " " + self.client_address[0] + " " + self.connection.getsockname()[0] + "\\n").encode()
        self.send_response(200)
        self.send_header("X-Backend", name)
        self.send_header("Content-Length", str(${BIG} if big else len(b)))
        self.end_headers()
        if not big:
            self.wfile.write(b)
            return
        # Slowly (6 s), so that the connection is established while the test acts.
        for i in range(60):
            self.wfile.write(b"x" * ${BIG / 60})
            self.wfile.flush()
            time.sleep(0.1)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
S(("::", port), H).serve_forever()
`;

export const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** `n` requests in one curl, each on a new connection; the answering backend of each. */
export async function requests(ns: string, url: string, n: number): Promise<string[]> {
  const r = await exec(ns, "curl", ["-s", "-g", "--max-time", "5", ...Array<string>(n).fill(url)], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 0, `curl: exit ${r.code} ${r.stderr}`);
  return r.stdout.trim().split("\n");
}

/** A slow download of /big: which backend served it, how much arrived, curl's exit code. */
export async function download(
  ns: string,
  url: string,
): Promise<{ backend: string; size: number; code: number }> {
  const r = await exec(
    ns,
    "curl",
    [
      "-s",
      "-g",
      "--max-time",
      "20",
      "--limit-rate",
      "100k",
      "-D",
      "-",
      "-o",
      "/dev/null",
      "-w",
      "size=%{size_download}\n",
      url,
    ],
    { allowFailure: true, timeoutMs: 30_000 },
  );
  return {
    backend: /X-Backend: (\S+)/i.exec(r.stdout)?.[1] ?? "?",
    size: Number(/size=(\d+)/.exec(r.stdout)?.[1] ?? 0),
    code: r.code,
  };
}

/** An answer's fields: backend name, the client address it saw, the address it was reached at. */
export function answer(line: string): { backend: string; client: string; local: string } {
  const [backend, client, local] = line.split(" ");
  const v4 = (a = "") => a.replace(/^::ffff:/, "");
  return { backend, client: v4(client), local: v4(local) };
}
