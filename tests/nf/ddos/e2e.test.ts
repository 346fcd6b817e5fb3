// The DDoS mitigator through a real daemon and the real `plexus` command, in throw-away
// namespaces: an HTTP server in the daemon's namespace, protected by a ddos instance attached to
// the ingress of the interface it is reached through, is flooded by the test (spoofed SYNs over
// IPv4 and IPv6, an ACK flood from a block list of 20,000 prefixes loaded from a file, one source
// far over its rate) while a legitimate client keeps fetching pages with curl. Every fetch must
// succeed, quickly; the flood is answered (SYN cookies) or dropped for its reason and never
// reaches the server; the client's own connections complete through SYN cookies made in the data
// plane (the server's TCP stack counts them as cookies it received). In tc and xdp modes.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ChildProcess } from "node:child_process";
import { projectRoot } from "../../../src/build/compile-bpf.js";
import { exec, ipBatch, run, spawn, type ExecResult } from "../../../src/testbed/netns.js";
import { startLab, type Lab } from "../../api/lab.js";
import { TCP } from "./frames.js";
import { Flood, type FloodSpec } from "./flood.js";
import { buildDdos } from "./harness.js";

const BIN = join(projectRoot, "bin", "plexus.js");
const SERVER4 = "198.18.0.254";
const SERVER6 = "fd00::fe";
/** Fetches during the flood, alternating IPv4 and IPv6. */
const FETCHES = 10;

/** A dual-stack HTTP server that answers every GET with the client's address. */
const WHO = `
import http.server, socket
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = (self.client_address[0] + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
S(("::", 80), H).serve_forever()
`;

/** The TcpExt counters of a namespace's TCP stack. */
async function tcpExt(ns: string): Promise<Record<string, number>> {
  const text = (await exec(ns, "cat", ["/proc/net/netstat"])).stdout.split("\n");
  const i = text.findIndex((l) => l.startsWith("TcpExt:"));
  const names = text[i].split(/\s+/).slice(1);
  const values = text[i + 1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, k) => [n, values[k]]));
}

interface Fetch {
  code: string;
  seconds: number;
  family: 4 | 6;
}

describe("ddos end to end", () => {
  let lab: Lab;
  let scratch: string;
  let flood: Flood;
  let server: ChildProcess;
  let dutIf: string;
  let dutMac: string;

  const px = (...args: string[]): Promise<ExecResult> =>
    run("env", [`PLEXUS_SOCKET=${lab.home.socket}`, process.execPath, BIN, ...args], {
      allowFailure: true,
      timeoutMs: 60_000,
    });
  const pxOk = async (...args: string[]): Promise<string> => {
    const r = await px(...args);
    assert.equal(r.code, 0, `plexus ${args.join(" ")}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  /** A table's rows through the API (the CLI shows the same; it is exercised above). */
  const table = <T>(name: string, t: string): Promise<T[]> =>
    lab.api.get<T[]>(`/v1/instances/${name}/tables/${t}`);
  const curl = (url: string, maxTime = 3) =>
    exec(
      lab.net.hosts[0].ns,
      "curl",
      ["-s", "-g", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "--max-time", String(maxTime), url],
      { allowFailure: true, timeoutMs: 20_000 },
    );

  before(async () => {
    await buildDdos();
    lab = await startLab(1);
    scratch = mkdtempSync(join(tmpdir(), "px-ddos-"));
    const dut = lab.net.dut;
    dutIf = lab.iface(0);
    await ipBatch(dut, [`addr add ${SERVER4}/24 dev ${dutIf}`, `addr add ${SERVER6}/64 dev ${dutIf} nodad`]);
    // The server accepts the cookies the data plane makes (see nf/ddos/README.md); GRO on the
    // DUT side delivers the flood's redirected frames in tc mode (NOTES.md).
    await exec(dut, "sysctl", ["-qw", "net.ipv4.tcp_syncookies=2"]);
    await exec(dut, "ethtool", ["-K", dutIf, "gro", "on"]);
    const link = JSON.parse((await exec(dut, "ip", ["-j", "link", "show", "dev", dutIf])).stdout) as {
      address: string;
    }[];
    dutMac = link[0].address;
    server = spawn(dut, existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3", ["-c", WHO]);
    for (let i = 0; ; i++) {
      if ((await curl(`http://${SERVER4}/`, 1)).stdout.startsWith("200")) break;
      if (i > 50) throw new Error("the HTTP server did not come up");
      await new Promise((r) => setTimeout(r, 100));
    }
    flood = await Flood.open(lab.net.hosts[0]);
  });
  after(async () => {
    server?.kill("SIGKILL");
    flood?.close();
    try {
      await lab?.cleanup();
    } finally {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    }
  });

  for (const mode of ["tc", "xdp"] as const) {
    test(`${mode}: a flooded server keeps serving a legitimate client`, async () => {
      const h = lab.net.hosts[0];
      const name = `dd-${mode}`;
      await pxOk("create", "ddos", name, "--mode", mode, "synCookies=always", "rate=2000", "burst=500");
      try {
        await pxOk("attach", name, dutIf);

        // A block list of 20,000 prefixes from a file: 19,000 IPv4 hosts from 198.19.0.0, 1,000 IPv6 /48s.
        const file = join(scratch, "drop.txt");
        const lines = ["# spoofed sources seen in the last attack"];
        for (let i = 0; i < 19_000; i++) lines.push(`198.19.${i >> 8}.${i & 255}`);
        for (let i = 0; i < 1000; i++) lines.push(`fd00:bad:${i.toString(16)}::/48 action=drop`);
        writeFileSync(file, lines.join("\n") + "\n");
        if (mode === "xdp") {
          assert.match(await pxOk(name, "src", "load", file), /loaded 20000 entries/);
          // A bad file: refused naming the item, nothing of it applied.
          const bad = join(scratch, "bad.txt");
          writeFileSync(bad, "198.18.200.0/24\n198.18.201.1/24\n");
          const refused = await px(name, "src", "load", bad);
          assert.notEqual(refused.code, 0);
          assert.match(refused.stderr, /198\.18\.201\.1\/24.*host bits set/);
        } else {
          // The same bulk load through the API (what `load` sends).
          const entries = lines.slice(1).map((l) => {
            const [prefix, action] = l.split(" action=");
            return action ? { prefix, action } : { prefix };
          });
          const r = await lab.api.post<{ added: number }>(`/v1/instances/${name}/tables/src/bulk`, entries);
          assert.equal(r.added, 20_000);
          // A named list through the API; one contradicting it is refused naming both.
          await lab.api.post(`/v1/instances/${name}/tables/list`, {
            name: "bogons",
            side: "src",
            prefixes: "198.18.99.0/24 ; SBL1\nfd00:99::/32",
          });
          await assert.rejects(
            lab.api.post(`/v1/instances/${name}/tables/list`, {
              name: "friends",
              side: "src",
              action: "allow",
              prefixes: "198.18.99.0/24",
            }),
            /list friends: 198\.18\.99\.0\/24 is 'allow' here but 'drop' in list bogons/,
          );
          const lists = await table<{ name: string; ipv4: number; ipv6: number }>(name, "list");
          assert.deepEqual(
            lists.map((l) => [l.name, l.ipv4, l.ipv6]),
            [["bogons", 1, 1]],
          );
        }
        const singles = await table<{ prefix: string }>(name, "src");
        assert.equal(singles.length, 20_000);
        assert.ok(!singles.some((s) => s.prefix === "198.18.200.0/24"));

        // Before the flood: both families work, the first connection primes the server.
        assert.match((await curl(`http://${SERVER4}/`)).stdout, /^200 /);
        assert.match((await curl(`http://[${SERVER6}]/`)).stdout, /^200 /);
        const ext0 = await tcpExt(lab.net.dut);

        // The floods, in turn, one chunk each, while the client fetches.
        const base = { srcMac: h.mac, dstMac: dutMac, dport: 80 };
        const kinds: { what: string; spec: FloodSpec; frames: number }[] = [
          {
            what: "spoofed IPv4 SYNs",
            spec: { ...base, src: "198.18.128.0", sources: 16_384, ports: 64, dst: SERVER4 },
            frames: 0,
          },
          {
            what: "spoofed IPv6 SYNs",
            spec: { ...base, src: "fd00:0:1::1", srcWord: 1, sources: 16_384, ports: 64, dst: SERVER6 },
            frames: 0,
          },
          {
            what: "ACKs from the block list",
            spec: { ...base, src: "198.19.0.0", sources: 19_000, flags: TCP.ACK, dst: SERVER4 },
            frames: 0,
          },
          {
            what: "ACKs from one source over its rate",
            spec: { ...base, src: "198.18.0.9", flags: TCP.ACK, ports: 1000, dst: SERVER4 },
            frames: 0,
          },
        ];
        const statsBefore = await stats(name);
        let fetches: Fetch[] | undefined;
        const client = (async () => {
          const out: Fetch[] = [];
          for (let i = 0; i < FETCHES; i++) {
            const family = i % 2 ? 6 : 4;
            const r = await curl(family === 4 ? `http://${SERVER4}/` : `http://[${SERVER6}]/`);
            const [code, secs] = r.stdout.split(" ");
            out.push({ code, seconds: Number(secs), family });
            await new Promise((res) => setTimeout(res, 50));
          }
          fetches = out;
        })();
        let k = 0;
        const t0 = performance.now();
        while (!fetches) {
          const kind = kinds[k++ % kinds.length];
          flood.configure(kind.spec);
          const sent = flood.sent();
          flood.send(25_000);
          kind.frames += flood.sent() - sent;
          await new Promise((r) => setImmediate(r));
        }
        await client;
        const seconds = (performance.now() - t0) / 1000;
        const ext1 = await tcpExt(lab.net.dut);
        const st = await stats(name);
        const d = (c: string) => (st[c] ?? 0) - (statsBefore[c] ?? 0);
        const total = kinds.reduce((s, x) => s + x.frames, 0);
        const detail = `${total} flood frames in ${seconds.toFixed(1)} s (${kinds.map((x) => `${x.what}: ${x.frames}`).join(", ")}); fetches ${JSON.stringify(fetches)}; counters ${JSON.stringify(st)}`;

        // The legitimate client: every fetch succeeded, none slow.
        assert.ok(total > 100_000, `a real flood: ${detail}`);
        assert.ok(
          fetches.every((f) => f.code === "200"),
          `every fetch succeeded: ${detail}`,
        );
        const times = fetches.map((f) => f.seconds).sort((a, b) => a - b);
        assert.ok(times[times.length - 1] < 2, `slowest fetch ${times[times.length - 1]} s: ${detail}`);
        assert.ok(times[times.length >> 1] < 0.5, `median fetch ${times[times.length >> 1]} s: ${detail}`);

        // The flood was answered or dropped for its reason.
        // Frames can be lost before the NF sees them (the generator outruns the receiving veth's
        // 256-frame ring when the machine is quiet): most of the flood must reach it, and every
        // SYN that does gets a cookie, none is passed on.
        const syns = kinds[0].frames + kinds[1].frames;
        assert.ok(d("syn_cookie") >= syns * 0.9, `the flood SYNs got cookies: ${detail}`);
        assert.equal(
          d("syn_passed") + d("syn_cookie_failed") + d("syn_unanswerable"),
          0,
          `no SYN let through: ${detail}`,
        );
        assert.ok(d("src_blocked") >= kinds[2].frames * 0.9, `the block list dropped its sources: ${detail}`);
        assert.ok(
          d("rate_limited") >= kinds[3].frames * 0.9 - 500 - 2000 * seconds,
          `one source over its rate: ${detail}`,
        );
        // None of it reached the server: it made next to no cookies of its own (the priming SYNs
        // only), while the client's connections came in as cookie ACKs it accepted.
        const sent = ext1.SyncookiesSent - ext0.SyncookiesSent;
        const recv = ext1.SyncookiesRecv - ext0.SyncookiesRecv;
        assert.ok(sent <= 4, `the server answered ${sent} SYNs itself: ${detail}`);
        assert.ok(
          recv >= FETCHES - 4,
          `the server took ${recv} cookie ACKs for ${FETCHES} fetches: ${detail}`,
        );
        // The ACKs the server did refuse as cookies are the one source's, within its rate.
        const failed = ext1.SyncookiesFailed - ext0.SyncookiesFailed;
        assert.ok(failed <= 500 + 2000 * seconds, `${failed} ACKs refused as cookies: ${detail}`);

        // What the views say.
        const sources = await table<{ source: string; dropped: number }>(name, "sources");
        assert.equal(sources[0]?.source, "198.18.0.9");
        const syn = await table<{ destination: string; port: number; cookies: number }>(name, "syn");
        for (const dst of [SERVER4, SERVER6])
          assert.ok(
            syn.some((s) => s.destination === dst && s.port === 80 && s.cookies > 0),
            JSON.stringify(syn),
          );
      } finally {
        await lab.api.delete(`/v1/instances/${name}`);
      }
    });
  }

  /** The instance's counters, by name. */
  async function stats(name: string): Promise<Record<string, number>> {
    const rows = await table<{ counter: string; packets: number }>(name, "stats");
    return Object.fromEntries(rows.map((r) => [r.counter, r.packets]));
  }
});
