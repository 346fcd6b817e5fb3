// The hypervisor core with the wire NF, in throw-away namespaces with real pings: instances,
// ports, links between instances (tail calls, and veths across hooks), counters, restart with
// adoption, hot upgrade under traffic, and bad requests that change nothing.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { ConflictError, NotFoundError, ValidationError } from "../../src/core/errors.js";
import { Hypervisor } from "../../src/core/hypervisor.js";
import { mountBpffs, type Bpffs } from "../../src/testbed/bpffs.js";
import {
  dutWithHosts,
  enterNetns,
  ping,
  spawn,
  type DutTopology,
  type NetnsGuard,
} from "../../src/testbed/netns.js";

const HOSTS = [
  { ipv4: "198.18.0.1", ipv6: "fd00::1" },
  { ipv4: "198.18.0.2", ipv6: "fd00::2" },
];

describe("hypervisor core with the wire NF", () => {
  let net: DutTopology;
  let bpffs: Bpffs;
  let stateDir: string;
  let guard: NetnsGuard;
  let hv: Hypervisor;
  const start = () => Hypervisor.start({ stateDir, bpffs: bpffs.path });

  before(async () => {
    net = await dutWithHosts(HOSTS);
    bpffs = mountBpffs();
    stateDir = mkdtempSync(join(tmpdir(), "px-state-"));
    guard = enterNetns(net.dut); // the daemon's namespace
    hv = await start();
  });
  after(async () => {
    try {
      await hv?.destroy();
    } finally {
      guard?.restore();
      bpffs?.cleanup();
      net?.cleanup();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  const [h0, h1] = [0, 1];
  const pingOk = async (count = 5) => {
    const r = await ping(net.hosts[h0].ns, net.hosts[h1].ipv4, { count, interval: 0.02, wait: 1 });
    return r;
  };

  for (const mode of ["tc", "xdp"] as const) {
    test(`one ${mode} wire between two hosts: pings pass and every counter matches`, async () => {
      await hv.createInstance({
        name: "w1",
        type: "wire",
        mode,
        ports: [
          { name: "a", peer: net.hosts[h0].dutIfname },
          { name: "b", peer: net.hosts[h1].dutIfname },
        ],
      });
      try {
        const r = await pingOk(10);
        assert.equal(r.received, 10, r.output);
        const v = hv.getInstance("w1");
        const [a, b] = v.ports;
        // Every frame in through a leaves through b and the other way round (ARP included).
        assert.ok(a.rx.packets >= 10n && b.rx.packets >= 10n);
        assert.equal(a.rx.packets, b.tx.packets);
        assert.equal(b.rx.packets, a.tx.packets);
        assert.equal(a.rx.bytes, b.tx.bytes);
        assert.equal(a.rx.drops + b.rx.drops, 0n);
      } finally {
        await hv.deleteInstance("w1");
      }
      assert.equal((await pingOk(2)).received, 0, "without the wire nothing connects the hosts");
    });
  }

  for (const [m1, m2] of [
    ["tc", "tc"],
    ["xdp", "xdp"],
    ["xdp", "tc"],
  ] as const) {
    test(`two wires linked instance to instance (${m1} -> ${m2})`, async () => {
      await hv.createInstance({
        name: "w1",
        type: "wire",
        mode: m1,
        ports: [{ name: "a", peer: net.hosts[h0].dutIfname }, { name: "b" }],
      });
      await hv.createInstance({
        name: "w2",
        type: "wire",
        mode: m2,
        ports: [{ name: "a" }, { name: "b", peer: net.hosts[h1].dutIfname }],
      });
      try {
        await hv.connect("w1", "b", "w2:a");
        const r = await pingOk(10);
        assert.equal(r.received, 10, r.output);
        const w1b = hv.getInstance("w1").ports[1];
        const w2a = hv.getInstance("w2").ports[0];
        assert.equal(w1b.peer, "w2:a");
        assert.equal(w1b.tx.packets, w2a.rx.packets, "what w1 sends is what w2 receives");
        await hv.disconnect("w1", "b");
        assert.equal((await pingOk(2)).received, 0);
      } finally {
        await hv.deleteInstance("w1");
        await hv.deleteInstance("w2");
      }
    });
  }

  test("the data plane forwards while the daemon is down, and a new daemon adopts it", async () => {
    await hv.createInstance({
      name: "w1",
      type: "wire",
      mode: "xdp",
      ports: [
        { name: "a", peer: net.hosts[h0].dutIfname },
        { name: "b", peer: net.hosts[h1].dutIfname },
      ],
    });
    // Code loaded from a file is kept with the state and comes back after the restart.
    await hv.upgrade("w1", { object: join(projectRoot, "nf", "wire", "build", "wire.xdp.o") });
    const before = hv.getInstance("w1");
    hv.stop();
    assert.equal((await pingOk(5)).received, 5, "no daemon, still forwarding");
    hv = await start();
    const adopted = hv.getInstance("w1");
    assert.deepEqual(
      adopted.ports.map((p) => [p.name, p.peer]),
      before.ports.map((p) => [p.name, p.peer]),
    );
    assert.ok(
      adopted.ports[0].rx.packets >= before.ports[0].rx.packets + 5n,
      "counters kept across the restart",
    );
    assert.ok(hv.events.list().some((e) => e.kind === "daemon.adopted"));
    const kept = hv.desiredState().instances.w1.object;
    assert.ok(
      kept && existsSync(kept) && kept.startsWith(stateDir),
      "the upgraded object is kept in the state directory",
    );
    assert.equal((await pingOk(3)).received, 3);
    await hv.deleteInstance("w1");
  });

  test("hot upgrade under a continuous ping loses nothing", async () => {
    await hv.createInstance({
      name: "w1",
      type: "wire",
      mode: "tc",
      ports: [
        { name: "a", peer: net.hosts[h0].dutIfname },
        { name: "b", peer: net.hosts[h1].dutIfname },
      ],
    });
    try {
      const child = spawn(net.hosts[h0].ns, "ping", [
        "-n",
        "-q",
        "-c",
        "300",
        "-i",
        "0.005",
        net.hosts[h1].ipv4,
      ]);
      let out = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      const done = new Promise<void>((resolve) => child.on("exit", () => resolve()));
      for (let i = 0; i < 10; i++) {
        await new Promise((r) => setTimeout(r, 100));
        await hv.upgrade("w1");
      }
      await done;
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      assert.ok(m, out);
      assert.equal(m[2], m[1], `lost replies during upgrades: ${out}`);
      assert.equal(hv.events.list().filter((e) => e.kind === "instance.upgraded").length >= 10, true);
    } finally {
      await hv.deleteInstance("w1");
    }
  });

  test("bad requests get typed errors and change nothing", async () => {
    await hv.createInstance({
      name: "w1",
      type: "wire",
      ports: [{ name: "a", peer: net.hosts[h0].dutIfname }],
    });
    const state = JSON.stringify(hv.desiredState());
    await assert.rejects(hv.createInstance({ name: "w1", type: "wire" }), ConflictError);
    await assert.rejects(hv.createInstance({ name: "x", type: "nope" }), NotFoundError);
    await assert.rejects(hv.createInstance({ name: "bad name!", type: "wire" }), ValidationError);
    await assert.rejects(
      hv.createInstance({ name: "x", type: "wire", config: { nope: 1 } }),
      ValidationError,
    );
    await assert.rejects(
      hv.createInstance({ name: "x", type: "wire", ports: [{ name: "a", peer: "missing0" }] }),
      /missing0.*does not exist/,
    );
    await assert.rejects(
      hv.createInstance({ name: "x", type: "wire", ports: [{ name: "a", peer: net.hosts[h0].dutIfname }] }),
      /already connected to w1:a/,
    );
    await assert.rejects(hv.addPort("w1", "a"), ConflictError);
    await hv.addPort("w1", "b");
    await assert.rejects(hv.addPort("w1", "c"), /already has 2 ports/);
    await assert.rejects(hv.connect("w1", "b", "w1:b"), /itself/);
    await assert.rejects(hv.connect("w1", "b", "nope:x"), NotFoundError);
    await assert.rejects(hv.attach("w1", "eth0"), /only transparent instances attach/);
    assert.equal(hv.listInstances().length, 1);
    await hv.deletePort("w1", "b");
    assert.equal(JSON.stringify(hv.desiredState()), state, "state is as before the failed requests");
    await hv.deleteInstance("w1");
  });

  test("concurrent changes are serialised and all land", async () => {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => hv.createInstance({ name: `c${i}`, type: "wire" })),
    );
    await Promise.all(Array.from({ length: 8 }, (_, i) => hv.addPort(`c${i}`, "a")));
    assert.deepEqual(
      hv.listInstances().map((i) => [i.name, i.ports.length]),
      Array.from({ length: 8 }, (_, i) => [`c${i}`, 1]),
    );
    const slots = new Set(hv.listInstances().map((i) => i.slot));
    assert.equal(slots.size, 8, "each instance has its own slot");
    await Promise.all(Array.from({ length: 8 }, (_, i) => hv.deleteInstance(`c${i}`)));
    assert.equal(hv.listInstances().length, 0);
  });
});
