// plexus run --iface: the runtime as a live data plane on AF_PACKET. In a throw-away pair of
// namespaces, host A pings 198.18.0.99 (an address nobody has, its neighbour entry pointing at
// host B); on B, vm_pong answers from userspace with XDP_TX, and ping gets its replies.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { exec, ipBatch, spawn, twoHosts } from "../helpers/netns.js";
import { fixture } from "../helpers/fixtures.js";

const root = process.getuid?.() === 0;

test(
  "plexus run --iface answers pings from userspace (XDP_TX through AF_PACKET)",
  { skip: !root, timeout: 60_000 },
  async () => {
    const hosts = await twoHosts();
    try {
      const { a, b } = hosts;
      await ipBatch(a.ns, [`neigh add 198.18.0.99 lladdr ${b.mac} dev ${a.ifname}`]);
      const obj = await fixture("vm_pong");
      const child = spawn(b.ns, process.execPath, [
        join(projectRoot, "bin", "plexus.js"),
        "run",
        obj,
        "--prog",
        "pong",
        "--iface",
        b.ifname,
        "--duration",
        "30",
        "--json",
      ]);
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
      const ready = new Promise<void>((resolve, reject) => {
        child.stderr?.on("data", (d: Buffer) => {
          stderr += d.toString();
          if (stderr.includes("plexus: running pong")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`plexus run exited early (${code}): ${stderr}`)));
      });
      await ready;
      const ping = await exec(a.ns, "ping", ["-c", "3", "-i", "0.2", "-W", "2", "198.18.0.99"], {
        allowFailure: true,
      });
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      assert.equal(await exited, 0, stderr);
      assert.match(ping.stdout, /3 packets transmitted, 3 received/, ping.stdout + ping.stderr);
      const s = JSON.parse(stdout);
      assert.ok(s.counters.tx >= 3, JSON.stringify(s.counters));
      assert.ok(s.sent >= 3);
      assert.equal(s.counters.error, 0);
    } finally {
      hosts.cleanup();
    }
  },
);
