// The observability commands against a real plexusd in a throw-away namespace, with real traffic:
// `plexus events --follow` shows changes as they happen, `plexus top --once` shows what the traffic
// did (sorted by rate, drops marked), `plexus trace` prints each traced packet's hops.
import assert from "node:assert/strict";
import { spawn as spawnChild, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { ipBatch, ping, spawn } from "../../src/testbed/netns.js";
import { onExit } from "../../src/testbed/on-exit.js";
import { startLab, type Lab } from "../api/lab.js";
import { plexus } from "../helpers/cli.js";
import { sleep } from "./lab.js";

const DEAD_MAC = "02:00:00:00:99:01";

/** `plexus ARGS` running in the background, its output collected. */
function background(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawnChild(process.execPath, [join(projectRoot, "bin", "plexus.js"), ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const unregister = onExit(() => child.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      unregister();
      resolve(code);
    }),
  );
  return {
    child,
    exited,
    out: () => stdout,
    err: () => stderr,
    async waitFor(re: RegExp, ms = 20_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!re.test(stdout)) {
        if (Date.now() > deadline) throw new Error(`no ${re} within ${ms} ms in:\n${stdout}\n${stderr}`);
        if (child.exitCode !== null)
          throw new Error(`exited (${child.exitCode}) before ${re}:\n${stdout}\n${stderr}`);
        await sleep(50);
      }
    },
  };
}

describe("observability commands", () => {
  let lab: Lab;
  let sock: string[];
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = plexus([...sock, ...args], env);
    assert.equal(r.code, 0, `plexus ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    lab = await startLab(2);
    sock = ["--socket", lab.home.socket];
  });
  after(async () => lab?.cleanup());

  test("plexus events --follow shows creation, connection, upgrade and adoption after a restart as they happen", async () => {
    const ev = background([...sock, "events", "--follow"]);
    try {
      await ev.waitFor(/daemon\.started/);
      // Changes through the API (quicker than a CLI process each); the stream shows them live.
      await lab.api.post("/v1/instances", { name: "br0", type: "bridge" });
      await ev.waitFor(/instance\.created\s+br0/);
      await lab.api.post("/v1/instances/br0/ports", { name: "p0", peer: lab.iface(0) });
      await lab.api.post("/v1/instances/br0/ports", { name: "p1" });
      await lab.api.post("/v1/links", { port: "br0:p1", peer: lab.iface(1) });
      await ev.waitFor(/port\.connected\s+br0\s+connected br0:p1 to /);
      await lab.api.post("/v1/instances/br0/upgrade", {});
      await ev.waitFor(/instance\.upgraded\s+br0/);
      // The daemon killed and started again: the stream goes on with the new daemon's adoption.
      await lab.daemon.kill();
      await lab.restart();
      await ev.waitFor(/daemon\.adopted\s+-\s+adopted the running data plane \(1 instance\)/);
      assert.match(ev.err(), /the daemon went away; waiting for it to come back/);
      // Each line: time, kind, instance, message.
      const line = ev
        .out()
        .split("\n")
        .find((l) => l.includes("instance.created"));
      assert.match(line ?? "", /^\d{4}-\d\d-\d\dT[\d:.]+Z\s+instance\.created\s+br0\s+created bridge /);
    } finally {
      ev.child.kill("SIGINT");
      assert.equal(await ev.exited, 0, ev.err());
    }
  });

  test("plexus top --once lists instances by packet rate, with the drops happening now marked", async () => {
    const [h0, h1] = lab.net.hosts;
    cli(["port", "add", "br0", "p2"]); // connected to nothing
    cli(["br0", "fdb", "add", DEAD_MAC, "port", "p2"]);
    cli(["create", "bridge", "idle"]);
    // A neighbour entry on h0 sends frames for 198.18.0.99 to the MAC behind the dead port.
    await ipBatch(h0.ns, [`neigh replace 198.18.0.99 lladdr ${DEAD_MAC} dev ${h0.ifname} nud permanent`]);
    // Traffic for as long as it takes: 50 pings a second to h1, 50 to the MAC behind the dead port.
    const pingers = [h1.ipv4, "198.18.0.99"].map((to) =>
      spawn(h0.ns, "ping", ["-n", "-q", "-i", "0.02", to]),
    );
    try {
      await sleep(2200); // two samples of the daemon's rates
      const out = cli(["top", "--once"], { NO_COLOR: "1" });
      assert.ok(!out.includes("\x1b["), "no ANSI codes without a terminal");
      const lines = out.split("\n");
      const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
      assert.ok(at(/^NAME\s+TYPE\s+MODE\s+RX PPS/) > 0, out);
      assert.ok(at(/^br0\s+bridge/) >= 0 && at(/^br0\s/) < at(/^idle\s/), `br0 (busy) before idle:\n${out}`);
      const p2 = lines[at(/^ {2}p2\s/)];
      assert.ok(p2 && p2.endsWith("!"), `p2 drops now, marked:\n${out}`);
      const p0 = lines[at(/^ {2}p0\s/)];
      assert.match(p0, new RegExp(`-> ${lab.iface(0)}`));
      // About 100 pings a second in (50 to h1, 50 to the dead MAC) on p0.
      const rxPps = Number(p0.trim().split(/\s+/)[3]);
      assert.ok(rxPps > 40 && rxPps < 200, `p0 rx pps ${rxPps}:\n${out}`);
      assert.match(out, /drops by reason: .*br0:port_down=\d+/);

      // On a terminal (script(1) gives it one): refreshed in place, drops in red; NO_COLOR: no colour.
      const top = [process.execPath, join(projectRoot, "bin", "plexus.js"), ...sock, "top", "-d", "0.5"];
      const onTty = (env: NodeJS.ProcessEnv) => runUnderTty(top.join(" "), env);
      const coloured = await onTty({});
      assert.ok(coloured.split(CLEAR).length >= 3, "two frames or more, each clearing the screen");
      assert.ok(coloured.includes("\x1b[1;31m  p2 "), "p2 drops now: red");
      const plain = await onTty({ NO_COLOR: "1" });
      assert.ok(plain.includes(CLEAR), "still refreshed in place");
      assert.ok(!plain.includes("\x1b[1;31m") && !plain.includes("\x1b[33m"), "no colour with NO_COLOR");
    } finally {
      for (const p of pingers) p.kill("SIGINT");
    }
  });

  test("plexus trace prints each hop of the packets a filter selects", async () => {
    const [h0, h1] = lab.net.hosts;
    const tr = background([
      ...sock,
      "trace",
      "-c",
      "3",
      "--timeout",
      "30",
      "icmp",
      "and",
      "dst",
      "host",
      h1.ipv4,
    ]);
    try {
      // The captures that switch the trace on take a moment to be attached: ping until it is done.
      for (let i = 0; i < 60 && tr.child.exitCode === null; i++)
        await ping(h0.ns, h1.ipv4, { count: 1, interval: 0.2, wait: 1 });
      assert.equal(await tr.exited, 0, tr.err());
      const out = tr.out();
      const packets = out.split(/^packet \d+: /m).slice(1);
      assert.equal(packets.length, 3, out);
      for (const p of packets) {
        assert.match(p, new RegExp(`^\\d+ bytes at ${lab.iface(0)}, [\\d:.]+\\n`), out);
        assert.match(p, /\+[\d.]+ us\s+br0\s+p0\s+enter\s+bridge \d/, out);
        assert.match(p, /\+[\d.]+ us\s+br0\s+p1\s+sent out\s+bridge \d/, out);
        assert.match(p, new RegExp(`out of ${lab.iface(1)}`), out);
      }
      assert.match(tr.err(), /3 packets traced at /);
      // The captures that switched the trace on are gone with it.
      await sleep(500);
      assert.doesNotMatch(cli(["show"]), /capture-/);
    } finally {
      if (tr.child.exitCode === null) tr.child.kill("SIGKILL");
    }
  });
});

const CLEAR = "\x1b[H\x1b[2J";

/** Runs `cmd` on a pseudo-terminal (script -q) until it drew two frames, then interrupts it: its output. */
async function runUnderTty(cmd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawnChild("script", ["-qfec", cmd, "/dev/null"], {
    env: { ...process.env, TERM: "xterm", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const unregister = onExit(() => child.kill("SIGKILL"));
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise((r) => child.once("exit", r));
  // Two frames at least (a node start can take seconds on a busy machine).
  for (let i = 0; i < 200 && out.split(CLEAR).length < 3 && child.exitCode === null; i++) await sleep(50);
  child.stdin?.write("\x03"); // Ctrl-C on the terminal
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
  unregister();
  return out;
}
