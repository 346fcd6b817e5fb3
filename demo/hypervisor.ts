// npm run demo: plexusd in a throw-away namespace with three hosts around it, a bridge and a
// router built with the plexus command while nothing else runs, real traffic (ping, iperf3)
// through them, the topology, and live counters until Ctrl-C (or --seconds N). Everything it
// made is removed on the way out, whichever way that is.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../src/build/compile-bpf.js";
import { mountBpffs } from "../src/testbed/bpffs.js";
import { dutWithHosts, ping } from "../src/testbed/netns.js";
import { onExit } from "../src/testbed/on-exit.js";

if (process.getuid?.() !== 0) {
  console.error("plexus demo: needs root (network namespaces and bpf(2)); run it as root");
  process.exit(1);
}
const secondsArg = process.argv.indexOf("--seconds");
const liveSeconds =
  secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : process.stdout.isTTY ? Infinity : 10;
const mode = process.argv.includes("--tc") ? "tc" : "xdp";

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s: string) => console.log(`\n${bold(`== ${s}`)}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const net = await dutWithHosts([
  {
    ipv4: "198.18.1.1",
    ipv6: "fd00:1::1",
    extra: ["route add default via 198.18.1.254", "route add default via fd00:1::fe"],
  },
  {
    ipv4: "198.18.1.2",
    ipv6: "fd00:1::2",
    extra: ["route add default via 198.18.1.254", "route add default via fd00:1::fe"],
  },
  {
    ipv4: "198.18.2.1",
    ipv6: "fd00:2::1",
    extra: ["route add default via 198.18.2.254", "route add default via fd00:2::fe"],
  },
]);
const bpffs = mountBpffs();
const stateDir = mkdtempSync(join(tmpdir(), "px-demo-"));
const socket = join(stateDir, "plexus.sock");
const children: ChildProcess[] = [];
onExit(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(stateDir, { recursive: true, force: true });
});

const [h1, h2, h3] = net.hosts;
const plexusBin = join(projectRoot, "bin", "plexus.js");

/** Runs the plexus command as a user would, printing it and its output. */
function plexus(...args: string[]): string {
  console.log(`$ plexus ${args.join(" ")}`);
  const r = spawnSync(process.execPath, [plexusBin, ...args], {
    encoding: "utf8",
    env: { ...process.env, PLEXUS_SOCKET: socket },
  });
  const out = (r.stdout + r.stderr).trimEnd();
  if (out) console.log(out);
  if (r.status !== 0) throw new Error(`plexus ${args.join(" ")} failed`);
  return r.stdout;
}

try {
  say(
    `hosts: h1 ${h1.ipv4} and h2 ${h2.ipv4} on one LAN, h3 ${h3.ipv4} on another; plexusd in namespace ${net.dut}`,
  );
  const daemon = spawn(
    "ip",
    [
      "netns",
      "exec",
      net.dut,
      process.execPath,
      join(projectRoot, "bin", "plexusd.js"),
      "--socket",
      socket,
      "--state-dir",
      stateDir,
      "--bpffs",
      bpffs.path,
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  children.push(daemon);
  for (
    let i = 0;
    spawnSync(process.execPath, [plexusBin, "status"], { env: { ...process.env, PLEXUS_SOCKET: socket } })
      .status !== 0;
    i++
  ) {
    if (i > 100 || daemon.exitCode !== null) throw new Error("plexusd did not come up");
    await sleep(100);
  }

  say(`a bridge for the LAN, a router between the LANs (${mode} mode)`);
  plexus("create", "bridge", "br0", "--mode", mode);
  plexus("port", "add", "br0", "h1", "--peer", h1.dutIfname);
  plexus("port", "add", "br0", "h2", "--peer", h2.dutIfname);
  plexus("port", "add", "br0", "uplink");
  plexus("create", "router", "r1", "--mode", mode);
  plexus("port", "add", "r1", "lan", "ipv4=198.18.1.254/24", "ipv6=fd00:1::fe/64");
  plexus("port", "add", "r1", "wan", "--peer", h3.dutIfname, "ipv4=198.18.2.254/24", "ipv6=fd00:2::fe/64");
  plexus("connect", "br0:uplink", "r1:lan");
  plexus("topology");

  say("traffic: bridged and routed, IPv4 and IPv6");
  for (const [from, to, what] of [
    [h1, h2.ipv4, "h1 -> h2 (bridged)"],
    [h1, h3.ipv4, "h1 -> h3 (bridged, then routed)"],
    [h2, h3.ipv6, "h2 -> h3 over IPv6"],
  ] as const) {
    const r = await ping(from.ns, to, { count: 5, interval: 0.05 });
    console.log(`ping ${what}: ${r.received}/${r.transmitted} replies`);
  }
  const server = spawn("ip", ["netns", "exec", h3.ns, "iperf3", "-s", "-1"], { stdio: "ignore" });
  children.push(server);
  await sleep(300);
  const iperf = spawnSync("ip", ["netns", "exec", h1.ns, "iperf3", "-c", h3.ipv4, "-t", "2", "-J"], {
    encoding: "utf8",
    timeout: 20_000,
  });
  try {
    const bps = (JSON.parse(iperf.stdout) as { end: { sum_received: { bits_per_second: number } } }).end
      .sum_received.bits_per_second;
    console.log(`iperf3 h1 -> h3 (TCP through the bridge and the router): ${(bps / 1e9).toFixed(2)} Gbit/s`);
  } catch {
    console.log(
      `iperf3 h1 -> h3 failed (exit ${iperf.status}, ${String(iperf.error ?? iperf.signal)}): ${(iperf.stdout + iperf.stderr).slice(0, 600)}`,
    );
  }
  plexus("br0", "fdb", "show");
  plexus("r1", "route", "show");
  plexus("r1", "neigh", "show");

  say(
    `live counters${Number.isFinite(liveSeconds) ? ` for ${liveSeconds} s` : ""} (Ctrl-C ends the demo and removes everything)`,
  );
  const pinger = spawn("ip", ["netns", "exec", h1.ns, "ping", "-q", "-i", "0.01", h3.ipv4], {
    stdio: "ignore",
  });
  children.push(pinger);
  const until = Date.now() + liveSeconds * 1000;
  while (Date.now() < until) {
    await sleep(2000);
    if (process.stdout.isTTY) process.stdout.write("\x1b[2J\x1b[H");
    console.log(bold(`plexus show  (${new Date().toLocaleTimeString()}; h1 pings h3 100 times a second)`));
    const r = spawnSync(process.execPath, [plexusBin, "show"], {
      encoding: "utf8",
      env: { ...process.env, PLEXUS_SOCKET: socket },
    });
    console.log(r.stdout.trimEnd());
  }
} finally {
  for (const c of children) c.kill("SIGTERM");
  await sleep(200);
  bpffs.cleanup();
  net.cleanup();
  console.log("\nplexus demo: namespaces, daemon and pins removed");
}
