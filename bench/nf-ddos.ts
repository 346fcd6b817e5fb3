// The DDoS mitigator: how many legitimate requests per second a server keeps answering while a
// SYN flood against it rises, with no protection, with nftables dropping the attack's sources at
// the netdev ingress hook (a set of the same 20,000 prefixes), and with the plexus ddos (XDP)
// dropping them from its block list or answering every SYN with a SYN cookie (no list: the
// sources are unknown, which nftables alone cannot handle).
//
// Topology (throw-away namespaces): a client namespace, one veth, the DUT namespace with the
// server (net.ipv4.tcp_syncookies=2 in every arm: the kernel's own best defence is on). The
// legitimate client is a separate process: new TCP connection, request, 200-byte response, close
// (with RST, so no TIME_WAIT piles up), in a loop for a fixed time. The flood comes from the same
// namespace: spoofed SYNs from 16,384 sources to the server's port, sent by a live-frames XDP
// generator (tests/nf/ddos/flood.ts) paced to each level's rate. The whole receive path of the
// flood runs in softirq on the generator's CPU, and the server is pinned to that CPU (as on a
// host whose NIC hands the flood to the CPUs that serve), the client to the other. What the
// victim sends back to the spoofed sources is dropped by XDP on arrival at the attacker's
// interface (on a real network it would go elsewhere). Arms alternate within each level
// (bench/harness.ts); each level reports the medians and the attack rate really sent.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildNfPackage } from "../src/build/build-nf.js";
import { projectRoot } from "../src/build/compile-bpf.js";
import { Hypervisor } from "../src/core/hypervisor.js";
import { mountBpffs } from "../src/testbed/bpffs.js";
import { dutWithHosts, exec, ipBatch, run as runCmd, spawn, withNetns } from "../src/testbed/netns.js";
import { Flood } from "../tests/nf/ddos/flood.js";
import { alternate, median, type Arm, type Comparison } from "./harness.js";

const ROUNDS = 3;
/** Seconds of legitimate traffic per sample. */
const SECONDS = 2;
/**
 * Attack levels, SYNs per second. Fixed rates, not "as fast as it goes": the
 * generator shares the server's CPU, and flat out it would starve the server in every arm.
 */
const LEVELS = [50_000, 100_000, 200_000];
const SERVER = "198.18.0.254";
const ATTACKERS = { first: "198.19.0.0", count: 16_384 };
/** The system's Python, not a version manager's shim (a shell script per start). */
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
/** The server's CPU, shared with the generator (where the flood's receive path runs). */
const SERVER_CPU = 0;
const CLIENT_CPU = 1;

const SERVER_PY = `
import socket, threading
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80)); s.listen(4096)
body = b"HTTP/1.0 200 OK\\r\\nContent-Length: 162\\r\\n\\r\\n" + b"x" * 162
def serve(c):
    try:
        c.recv(4096); c.sendall(body)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** Requests for SECONDS seconds; prints "ok failed". */
const CLIENT_PY = `
import socket, struct, sys, time
addr, secs = sys.argv[1], float(sys.argv[2])
ok = bad = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    try:
        c = socket.create_connection((addr, 80), timeout=1)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        got = b""
        while len(got) < 200:
            d = c.recv(4096)
            if not d: break
            got += d
        c.close()
        if len(got) >= 200: ok += 1
        else: bad += 1
    except OSError:
        bad += 1
print(ok, bad)
`;

type Protection = "none" | "nftables" | "ddos-list" | "ddos-cookies";
const ARM_NAMES: Record<Protection, string> = {
  none: "no protection",
  nftables: "nftables netdev drop (set of 20,000 prefixes)",
  "ddos-list": "plexus ddos (xdp), block list of 20,000 prefixes",
  "ddos-cookies": "plexus ddos (xdp), SYN cookies, no list",
};

/** The block list: the attack's 16,384 sources and 3,616 other IPv4 hosts, as /32s. */
const blockList = (): string[] => Array.from({ length: 20_000 }, (_, i) => `198.19.${i >> 8}.${i & 255}`);

export async function run(): Promise<Comparison[]> {
  await buildNfPackage(join(projectRoot, "nf", "ddos"));
  const net = await dutWithHosts([{ ipv4: "198.18.0.1", ipv6: "fd00::1" }]);
  const fs = mountBpffs();
  const stateDir = mkdtempSync(join(tmpdir(), "px-bench-ddos-"));
  const undo: (() => unknown)[] = [];
  try {
    const dut = net.dut;
    const h = net.hosts[0];
    const dutIf = h.dutIfname;
    // A default route: the server's answers to spoofed sources really leave (and die at the
    // attacker's interface), as they would on a real network.
    await ipBatch(dut, [`addr add ${SERVER}/24 dev ${dutIf}`, `route add default via ${h.ipv4}`]);
    await exec(dut, "sysctl", ["-qw", "net.ipv4.tcp_syncookies=2", "net.core.somaxconn=4096"]);
    await exec(dut, "ethtool", ["-K", dutIf, "gro", "on"]);
    const dutMac = (
      JSON.parse((await exec(dut, "ip", ["-j", "link", "show", "dev", dutIf])).stdout) as {
        address: string;
      }[]
    )[0].address;
    // The flood is received in softirq on the generator's CPU: the server runs there too, as on a
    // host whose NIC delivers the flood to the CPUs that serve; the client runs on the other one.
    const pinned = cpus().length > 1;
    const on = (cpu: number, cmd: string[]) => (pinned ? ["taskset", "-c", String(cpu), ...cmd] : cmd);
    if (pinned) {
      const mask = /:\s*([0-9a-f]+)\s*$/.exec(
        (await runCmd("taskset", ["-p", String(process.pid)])).stdout,
      )?.[1];
      await runCmd("taskset", ["-p", "-c", String(SERVER_CPU), String(process.pid)]);
      if (mask) undo.push(() => runCmd("taskset", ["-p", mask, String(process.pid)]));
    }
    const [cmd0, ...args0] = on(SERVER_CPU, [PYTHON, "-c", SERVER_PY]);
    const server = spawn(dut, cmd0, args0);
    undo.push(() => server.kill("SIGKILL"));
    const hv = await withNetns(dut, () => Hypervisor.start({ stateDir, bpffs: fs.path }));
    undo.push(() => withNetns(dut, () => hv.destroy()));
    const list = blockList();
    await withNetns(dut, async () => {
      await hv.createInstance({ name: "ddl", type: "ddos", mode: "xdp", config: {} });
      await hv.tableAddMany(
        "ddl",
        "src",
        list.map((prefix) => ({ prefix })),
      );
      await hv.createInstance({ name: "ddc", type: "ddos", mode: "xdp", config: { synCookies: "always" } });
    });
    const nftRules = [
      "table netdev pxbench {",
      `  set blocked { type ipv4_addr; flags interval; elements = { ${list.join(", ")} } }`,
      "  chain ingress {",
      `    type filter hook ingress device "${dutIf}" priority -500; policy accept;`,
      "    ip saddr @blocked drop",
      "  }",
      "}",
    ].join("\n");

    let current: Protection = "none";
    const protect = async (p: Protection) => {
      if (p === current) return;
      if (current === "nftables") await exec(dut, "nft", ["delete", "table", "netdev", "pxbench"]);
      if (current === "ddos-list") await withNetns(dut, () => hv.detach("ddl"));
      if (current === "ddos-cookies") await withNetns(dut, () => hv.detach("ddc"));
      current = "none";
      if (p === "nftables") await exec(dut, "nft", ["-f", "-"], { input: nftRules });
      if (p === "ddos-list") await withNetns(dut, () => hv.attach("ddl", dutIf));
      if (p === "ddos-cookies") await withNetns(dut, () => hv.attach("ddc", dutIf));
      current = p;
    };
    undo.push(() => protect("none"));

    const flood = await Flood.open(h);
    undo.push(() => flood.close());
    undo.push(flood.sinkAnswers(h.ipv4));
    flood.configure({
      srcMac: h.mac,
      dstMac: dutMac,
      src: ATTACKERS.first,
      sources: ATTACKERS.count,
      ports: 64,
      dst: SERVER,
      dport: 80,
    });

    // Wait for the server.
    for (let i = 0; ; i++) {
      const r = await exec(h.ns, PYTHON, ["-c", CLIENT_PY, SERVER, "0.2"], { allowFailure: true });
      if (Number(r.stdout.split(" ")[0]) > 0) break;
      if (i > 50) throw new Error(`the server did not come up: ${r.stdout}${r.stderr}`);
      await new Promise((res) => setTimeout(res, 100));
    }

    /** Legitimate requests/s during one sample, with the flood at `pps`; records the attack rate. */
    const attackRates = new Map<string, number[]>();
    const sample = async (p: Protection, pps: number): Promise<number> => {
      await protect(p);
      const client = runCmd(
        "ip",
        ["netns", "exec", h.ns, ...on(CLIENT_CPU, [PYTHON, "-c", CLIENT_PY, SERVER, String(SECONDS)])],
        {
          timeoutMs: 60_000,
        },
      );
      let done = false;
      const result = client.finally(() => (done = true));
      const t0 = performance.now();
      const sent0 = flood.sent();
      const chunk = 4096;
      while (!done) {
        if (pps === 0) {
          await new Promise((r) => setTimeout(r, 20));
          continue;
        }
        flood.send(chunk);
        const ahead = ((flood.sent() - sent0) / pps) * 1000 - (performance.now() - t0);
        await new Promise((r) => (ahead > 1 ? setTimeout(r, ahead) : setImmediate(r)));
      }
      const secs = (performance.now() - t0) / 1000;
      const key = `${p}@${pps}`;
      attackRates.set(key, [...(attackRates.get(key) ?? []), (flood.sent() - sent0) / secs]);
      const [ok] = (await result).stdout.trim().split(" ").map(Number);
      return ok / SECONDS;
    };

    // Each sample is a pair, back to back with the same protection: no attack, then the level's
    // flood; what counts is the share of the first rate the second keeps (the machine's load
    // drifts between samples much more than within a pair).
    const out: Comparison[] = [];
    const protections: Protection[] = ["none", "nftables", "ddos-list", "ddos-cookies"];
    const quiet = new Map<Protection, number[]>();
    const flooded = new Map<string, number[]>();
    for (const pps of LEVELS) {
      const arms: Arm[] = protections.map((p) => ({
        name: ARM_NAMES[p],
        async run() {
          const calm = await sample(p, 0);
          const hit = await sample(p, pps);
          quiet.set(p, [...(quiet.get(p) ?? []), calm]);
          flooded.set(`${p}@${pps}`, [...(flooded.get(`${p}@${pps}`) ?? []), hit]);
          return calm ? (hit / calm) * 100 : 0;
        },
      }));
      const results = await alternate(arms, ROUNDS);
      const rates = protections
        .map((p) => {
          const sent = Math.round(median(attackRates.get(`${p}@${pps}`) ?? [0]) / 1000);
          const hit = Math.round(median(flooded.get(`${p}@${pps}`) ?? [0]));
          return `${ARM_NAMES[p]}: ${hit} req/s with ${sent} k SYN/s really sent`;
        })
        .join("; ");
      out.push({
        title: `ddos: share of the legitimate request rate kept under a ${pps / 1000} k/s SYN flood`,
        unit: "%",
        arms: results,
        baseline: ARM_NAMES.none,
        notes: [`medians under the flood: ${rates}`],
      });
      process.stderr.write(
        `  ${pps / 1000} k/s: ${results.map((r) => `${r.name} ${r.median.toFixed(0)}%`).join(", ")}\n`,
      );
    }
    out[0].notes?.push(
      `without attack (medians over all pairs): ${protections.map((p) => `${ARM_NAMES[p]} ${Math.round(median(quiet.get(p) ?? [0]))} req/s`).join("; ")}`,
      `${ROUNDS} alternating rounds per level of pairs of ${SECONDS}-s samples (no attack, then the flood); server and client are Python (one connection per request); tcp_syncookies=2 in every arm; the server shares its CPU with the generator and the flood's receive path, the client has the other one`,
    );
    return out;
  } finally {
    for (const f of undo.reverse()) {
      try {
        await f();
      } catch {
        // best effort: the namespaces go below
      }
    }
    net.cleanup();
    fs.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  }
}
