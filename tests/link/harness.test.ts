// The namespace and bpffs harness works and leaves nothing behind, however the process ends.
import assert from "node:assert/strict";
import { execFileSync, spawn as spawnChild } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { native } from "../../src/bpf/sys/native.js";
import { isBpffsMounted, mountBpffs } from "../../src/testbed/bpffs.js";
import {
  cleanup,
  enterNetns,
  exec,
  listPxNamespaces,
  ping,
  reapStaleNamespaces,
  threeNs,
  twoHosts,
  withNetns,
} from "../../src/testbed/netns.js";

const rootIfindex = (name: string) => native().ifNameToIndex(name);

test("twoHosts: two namespaces joined by a veth, pingable over IPv4 and IPv6 at once", async () => {
  const t = await twoHosts();
  try {
    assert.ok(t.a.ns.startsWith("px") && t.b.ns.startsWith("px"));
    assert.ok(t.a.ifname.length <= 15 && t.b.ifname.length <= 15);
    assert.ok(t.a.ifindex > 0 && /^[0-9a-f:]{17}$/.test(t.a.mac));
    assert.equal(rootIfindex(t.a.ifname), 0, "the veth is not in the root namespace");
    const v4 = await ping(t.a.ns, t.b.ipv4, { count: 3, interval: 0.01 });
    assert.deepEqual([v4.transmitted, v4.received], [3, 3], v4.output);
    const v6 = await ping(t.b.ns, t.a.ipv6, { count: 3, interval: 0.01 });
    assert.deepEqual([v6.transmitted, v6.received], [3, 3], v6.output);
  } finally {
    t.cleanup();
  }
  assert.ok(!listPxNamespaces().some((n) => t.namespaces.includes(n)));
  t.cleanup(); // idempotent
});

test("ping reports loss instead of failing", async () => {
  const t = await twoHosts();
  try {
    await exec(t.b.ns, "ip", ["link", "set", t.b.ifname, "down"]);
    const r = await ping(t.a.ns, t.b.ipv4, { count: 2, interval: 0.01, wait: 0.2 });
    assert.deepEqual([r.transmitted, r.received], [2, 0], r.output);
  } finally {
    t.cleanup();
  }
});

test("threeNs: the sender reaches the sink through the DUT", async () => {
  const t = await threeNs();
  try {
    for (const addr of [t.sink.ipv4, t.sink.ipv6]) {
      const r = await ping(t.sender.ns, addr, { count: 2, interval: 0.01 });
      assert.equal(r.received, 2, r.output);
    }
  } finally {
    t.cleanup();
  }
});

test("withNetns moves the main thread in and back, also on throw and for async work", async () => {
  const t = await twoHosts();
  try {
    assert.equal(
      withNetns(t.b.ns, () => rootIfindex(t.b.ifname)),
      t.b.ifindex,
    );
    assert.equal(rootIfindex(t.b.ifname), 0, "back in the original namespace");
    assert.throws(() =>
      withNetns(t.b.ns, () => {
        throw new Error("inside");
      }),
    );
    assert.equal(rootIfindex(t.b.ifname), 0, "restored after a throw");
    const seen = await withNetns(t.a.ns, async () => {
      await new Promise((r) => setTimeout(r, 5));
      return rootIfindex(t.a.ifname);
    });
    assert.equal(seen, t.a.ifindex);
    assert.equal(rootIfindex(t.a.ifname), 0);
    const outer = enterNetns(t.a.ns);
    const inner = enterNetns(t.b.ns);
    assert.equal(rootIfindex(t.b.ifname), t.b.ifindex);
    inner.restore();
    assert.equal(rootIfindex(t.a.ifname), t.a.ifindex, "nested restore returns to the outer namespace");
    outer.restore();
    outer.restore();
    assert.equal(rootIfindex(t.a.ifname), 0);
  } finally {
    t.cleanup();
  }
});

test("mountBpffs mounts a private bpffs and removes it", () => {
  const fs = mountBpffs();
  assert.ok(isBpffsMounted(fs.path));
  mkdirSync(join(fs.path, "sub"));
  fs.cleanup();
  assert.ok(!isBpffsMounted(fs.path));
  assert.ok(!existsSync(fs.path));
  fs.cleanup();
});

test("cleanup() removes every namespace this process holds", async () => {
  const t = await twoHosts();
  cleanup();
  assert.ok(!listPxNamespaces().some((n) => t.namespaces.includes(n)));
});

interface ChildReport {
  namespaces: string[];
  bpffs: string;
  sleeper: number;
}

const childScript = join(import.meta.dirname, "support", "harness-child.js");

/** Runs the child until it reports, ends it the given way, and returns its report and exit. */
async function runChild(how: string, signal?: NodeJS.Signals) {
  const child = spawnChild(process.execPath, [childScript, how], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, sig) => resolve({ code, signal: sig })),
  );
  const report = await new Promise<ChildReport>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n")[0];
      if (out.includes("\n")) resolve(JSON.parse(line) as ChildReport);
    });
    void exited.then(() => reject(new Error(`child exited before reporting: ${err}`)));
  });
  if (signal) child.kill(signal);
  return { report, exit: await exited, stderr: () => err };
}

/** True while `pid` runs (a zombie waiting for its parent to reap it counts as gone). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

async function assertNothingLeft(r: ChildReport) {
  const left = listPxNamespaces().filter((n) => r.namespaces.includes(n));
  assert.deepEqual(left, [], "namespaces left behind");
  for (const n of r.namespaces) assert.ok(!existsSync(`/run/netns/${n}`));
  assert.ok(!isBpffsMounted(r.bpffs), "bpffs still mounted");
  assert.ok(!existsSync(r.bpffs), "mount point left behind");
  for (let i = 0; i < 100 && running(r.sleeper); i++) await new Promise((res) => setTimeout(res, 10));
  assert.ok(!running(r.sleeper), "helper process still running");
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`a test process killed by ${signal} midway leaves nothing behind`, { timeout: 60_000 }, async () => {
    const { report, exit } = await runChild("wait", signal);
    assert.equal(exit.signal, signal, "the signal still ends the process");
    await assertNothingLeft(report);
  });
}

for (const how of ["exit", "throw", "reject"]) {
  test(
    `a test process that ends by ${how} without cleaning up leaves nothing behind`,
    { timeout: 60_000 },
    async () => {
      const { report, exit, stderr } = await runChild(how);
      assert.equal(exit.code, how === "exit" ? 0 : 1, stderr());
      await assertNothingLeft(report);
    },
  );
}

test("namespaces of a SIGKILLed process are reaped by the next one", { timeout: 60_000 }, async () => {
  const { report, exit } = await runChild("wait", "SIGKILL");
  assert.equal(exit.signal, "SIGKILL");
  try {
    assert.ok(
      report.namespaces.every((n) => listPxNamespaces().includes(n)),
      "SIGKILL leaves them (no handler runs)",
    );
    const reaped = reapStaleNamespaces();
    assert.ok(
      report.namespaces.every((n) => reaped.includes(n)),
      `reaped ${reaped.join(", ")}`,
    );
    assert.ok(!listPxNamespaces().some((n) => report.namespaces.includes(n)));
  } finally {
    // What no process can clean up for a SIGKILLed one: its mount and its helper.
    if (isBpffsMounted(report.bpffs)) execFileSync("umount", [report.bpffs]);
    rmSync(report.bpffs, { recursive: true, force: true });
    try {
      process.kill(report.sleeper, "SIGKILL");
    } catch {
      // gone
    }
    for (const n of report.namespaces)
      if (listPxNamespaces().includes(n)) execFileSync("ip", ["netns", "del", n]);
  }
});
