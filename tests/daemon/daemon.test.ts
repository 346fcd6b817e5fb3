// plexusd as a process: refusing to start with a clear message (bad options, a live daemon on the
// socket or the state, a broken state file, a bad bpffs), a root-only socket, TCP only with the
// bearer token, SIGTERM leaving the data plane forwarding, and SIGKILL during a continuous ping:
// no reply lost, and the restarted daemon (over the stale socket) shows the same topology.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { InstanceJson } from "../../src/api/schemas.js";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { run, spawn } from "../../src/testbed/netns.js";
import { plexus } from "../helpers/cli.js";
import { startLab, type Lab } from "../api/lab.js";
import { daemonArgs, runDaemon } from "./harness.js";

const TOKEN = "0123456789abcdef0123456789abcdef";
const PORT = 7420;

describe("plexusd", () => {
  let lab: Lab;
  let scratch: string;
  let tokenFile: string;
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "px-daemon-test-"));
    tokenFile = join(scratch, "token");
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    lab = await startLab(2, ["--listen", `127.0.0.1:${PORT}`, "--token-file", tokenFile]);
  });
  after(async () => {
    try {
      await lab?.cleanup();
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  const cli = (args: string[]) => plexus(["--socket", lab.home.socket, ...args]);
  /** The CLI inside the daemon's namespace, over TCP. */
  const tcpCli = (args: string[], token?: string) =>
    run(
      "ip",
      [
        "netns",
        "exec",
        lab.net.dut,
        "env",
        ...(token ? [`PLEXUS_TOKEN=${token}`] : []),
        process.execPath,
        join(projectRoot, "bin", "plexus.js"),
        "--url",
        `http://127.0.0.1:${PORT}`,
        ...args,
      ],
      { allowFailure: true },
    );

  test("refuses to start with a message that says why", async () => {
    const home = lab.home;
    const other = (name: string) => join(scratch, name);
    const cases: [string[], RegExp][] = [
      [
        [
          "--socket",
          other("a.sock"),
          "--state-dir",
          other("a"),
          "--bpffs",
          home.bpffs,
          "--listen",
          "127.0.0.1:1",
        ],
        /listening on TCP needs a bearer token: --token-file FILE/,
      ],
      [
        [
          "--socket",
          other("b.sock"),
          "--state-dir",
          other("b"),
          "--bpffs",
          home.bpffs,
          "--listen",
          "nonsense",
          "--token-file",
          tokenFile,
        ],
        /--listen wants HOST:PORT/,
      ],
      [
        daemonArgs({ ...home, stateDir: other("c") }),
        /another daemon is listening on .*plexus\.sock; stop it first, or give this one another --socket/,
      ],
      [
        daemonArgs({ ...home, socket: other("d.sock") }),
        new RegExp(`state directory ${home.stateDir} is in use by the daemon with pid ${lab.daemon.pid}`),
      ],
      [
        ["--socket", other("e.sock"), "--state-dir", other("e"), "--bpffs", tokenFile],
        /--bpffs .* is not a directory/,
      ],
      [
        [
          "--socket",
          other("f.sock"),
          "--state-dir",
          other("f"),
          "--bpffs",
          home.bpffs,
          "--log-level",
          "loud",
        ],
        /--log-level wants one of/,
      ],
    ];
    // Independent of each other: run side by side.
    const results = await Promise.all(cases.map(([args]) => runDaemon(lab.net.dut, args)));
    results.forEach((r, i) => {
      const [args, message] = cases[i];
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^plexusd: /m);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "a message, not a stack trace");
    });
    // A state file that is not JSON.
    mkdirAndWrite(join(other("g"), "state.json"), "{ not json");
    const r = await runDaemon(lab.net.dut, [
      "--socket",
      other("g.sock"),
      "--state-dir",
      other("g"),
      "--bpffs",
      home.bpffs,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /state file .*state\.json is not valid JSON .*move it away to start empty/);
    assert.ok(!existsSync(other("g.sock")), "no socket left behind");
    // The running daemon did not notice.
    assert.equal(cli(["status"]).code, 0);
  });

  test("the unix socket is root-only; TCP needs the bearer token", async () => {
    const mode = statSync(lab.home.socket).mode;
    assert.equal(mode & 0o777, 0o600);
    const ok = await tcpCli(["status", "-o", "json"], TOKEN);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).pid, lab.daemon.pid);
    const [none, wrong] = await Promise.all([tcpCli(["show"]), tcpCli(["show"], "x".repeat(32))]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^plexus: missing or wrong bearer token: send Authorization: Bearer <token>/);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /wrong bearer token/);
    const created = await tcpCli(["create", "wire", "t1"], TOKEN);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(cli(["delete", "t1"]).code, 0, "one daemon behind both listeners");
  });

  test("SIGTERM stops the daemon; the data plane forwards on; a new daemon adopts it", async () => {
    assert.equal(
      cli([
        "create",
        "wire",
        "w1",
        "--mode",
        "xdp",
        "--port",
        `a=${lab.iface(0)}`,
        "--port",
        `b=${lab.iface(1)}`,
      ]).code,
      0,
    );
    const before = JSON.parse(cli(["show", "w1", "-o", "json"]).stdout) as InstanceJson;
    const { code, signal } = await lab.daemon.stop("SIGTERM");
    assert.equal(code, 0, lab.daemon.log());
    assert.equal(signal, null);
    assert.match(lab.daemon.log(), /"msg":"stopped"/);
    assert.ok(!existsSync(lab.home.socket), "socket removed");
    assert.equal(await lab.ping(0, 1, 5), 5, "no daemon, still forwarding");
    const down = cli(["show"]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^plexus: cannot reach the daemon at .*plexusd running\?/);
    await lab.restart();
    const after = JSON.parse(cli(["show", "w1", "-o", "json"]).stdout) as InstanceJson;
    assert.deepEqual(
      after.ports.map((p) => [p.name, p.peer]),
      before.ports.map((p) => [p.name, p.peer]),
    );
    assert.ok(
      after.ports[0].rx.packets >= before.ports[0].rx.packets + 5,
      "counters went on without the daemon",
    );
    assert.match(cli(["events"]).stdout, /daemon\.adopted/);
    assert.equal(cli(["delete", "w1"]).code, 0);
  });

  test("SIGKILL during a continuous ping: no reply lost; the restarted daemon shows the same topology", async () => {
    const topology = {
      instances: {
        w1: { type: "wire", mode: "xdp", ports: { a: { peer: lab.iface(0) }, b: { peer: "w2:a" } } },
        w2: { type: "wire", mode: "tc", ports: { a: {}, b: { peer: lab.iface(1) } } },
      },
    };
    const file = join(scratch, "topology.json");
    writeFileSync(file, JSON.stringify(topology));
    const applied = cli(["apply", "-f", file]);
    assert.equal(applied.code, 0, applied.stderr);
    const show = () => {
      const r = cli(["show", "-o", "json"]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as InstanceJson[]).map((i) => ({
        name: i.name,
        type: i.type,
        mode: i.mode,
        slot: i.slot,
        config: i.config,
        ports: i.ports.map((p) => [p.name, p.index, p.peer ?? null]),
      }));
    };
    const before = show();
    const exported = cli(["export"]).stdout;

    const child = spawn(lab.net.hosts[0].ns, "ping", [
      "-n",
      "-q",
      "-c",
      "500",
      "-i",
      "0.01",
      lab.net.hosts[1].ipv4,
    ]);
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    await new Promise((r) => setTimeout(r, 700));
    await lab.daemon.kill();
    assert.ok(existsSync(lab.home.socket), "SIGKILL leaves the socket file behind");
    await new Promise((r) => setTimeout(r, 300));
    await lab.restart(); // removes the stale socket, adopts the pinned data plane
    await done;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    assert.ok(m, out);
    assert.equal(m[1], "500");
    assert.equal(m[2], m[1], `replies lost around the kill and restart: ${out}`);
    assert.deepEqual(show(), before, "plexus show reports the same topology");
    assert.equal(cli(["export"]).stdout, exported);
    assert.equal(await lab.ping(0, 1, 3), 3);
    assert.equal(cli(["delete", "w1", "w2"]).code, 0);
  });
});

function mkdirAndWrite(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
