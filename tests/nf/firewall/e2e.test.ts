// The firewall through a real daemon and the real `plexus` command, in throw-away namespaces: two
// hosts joined by a wire, a firewall on each direction (policy drop both ways, one conntrack zone),
// rules loaded from a file with `plexus fw-in rules load FILE` (the way back's as a YAML rule set
// with `ruleset load`). ping, iperf3 and nc show that the allowed flows pass, blocked ones do not
// (dropped or rejected), replies to established flows pass the other direction's firewall, and the
// per-rule counters count exactly the packets sent. A bad rule file is refused naming the rule,
// with nothing of it applied. In tc and xdp modes.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ChildProcess } from "node:child_process";
import { projectRoot } from "../../../src/build/compile-bpf.js";
import { exec, ping, run, spawn, type ExecResult } from "../../../src/testbed/netns.js";
import { startLab, type Lab } from "../../api/lab.js";
import { buildFirewall } from "./harness.js";

const BIN = join(projectRoot, "bin", "plexus.js");
/** An echo request of ping's default size, as the counters see it (Ethernet frame). */
const PING4_FRAME = 14 + 20 + 8 + 56;
const PING6_FRAME = 14 + 40 + 8 + 56;

// Client (h0) to server (h1); replies come back through fw-out, which takes nothing new.
const RULES = `# client -> server
10 action=accept proto=icmp icmpType=echo-request    # every echo request, counted here
15 action=accept proto=icmpv6 icmpType=echo-request
20 action=accept state=established,related
30 action=accept proto=tcp dport=5201 state=new       # iperf3
40 action=reject proto=tcp dport=7001
50 action=accept proto=udp dport=7000
60 action=count proto=udp dport=7002                  # counted, then the policy drops it
`;

interface RuleRow {
  id: number | string;
  action: string;
  packets: number;
  bytes: number;
}

describe("firewall end to end", () => {
  let lab: Lab;
  let scratch: string;
  const listeners: ChildProcess[] = [];

  const px = (...args: string[]): Promise<ExecResult> =>
    run("env", [`PLEXUS_SOCKET=${lab.home.socket}`, process.execPath, BIN, ...args], {
      allowFailure: true,
      timeoutMs: 60_000,
    });
  const rules = async (name: string) =>
    new Map(
      (await lab.api.get<RuleRow[]>(`/v1/instances/${name}/tables/rules`)).map((r) => [String(r.id), r]),
    );

  /** A TCP connection attempt with nc: "open", "refused" (a reset came back) or "timeout". */
  async function tcpConnect(ns: string, addr: string, port: number): Promise<string> {
    const t = performance.now();
    const r = await exec(ns, "nc", ["-z", "-v", "-n", "-w", "1", addr, String(port)], {
      allowFailure: true,
      timeoutMs: 10_000,
    });
    if (r.code === 0) return "open";
    if (/refused/i.test(r.stderr)) return "refused";
    assert.ok(performance.now() - t > 800, `nc failed early without a refusal: ${r.stderr}`);
    return "timeout";
  }

  /** One UDP datagram with nc; returns what the listener received. */
  async function udpSend(from: string, to: string, addr: string, port: number): Promise<string> {
    const server = exec(to, "timeout", ["2", "nc", "-u", "-l", "-n", "-W", "1", addr, String(port)], {
      allowFailure: true,
      timeoutMs: 10_000,
    });
    await new Promise((r) => setTimeout(r, 300)); // the listener binds
    await exec(from, "nc", ["-u", "-n", "-q", "0", addr, String(port)], {
      input: `hello ${port}\n`,
      allowFailure: true,
      timeoutMs: 10_000,
    });
    return (await server).stdout.trim();
  }

  async function iperf(client: string, server: string, addr: string): Promise<number> {
    // A run whose first segments waited on a busy machine can end before anything arrived: one
    // more run (with a fresh one-off server) must then move data.
    const bytes = await iperfOnce(client, server, addr);
    return bytes > 0 ? bytes : iperfOnce(client, server, addr);
  }

  async function iperfOnce(client: string, server: string, addr: string): Promise<number> {
    const srv = spawn(server, "iperf3", ["-s", "-1", "-B", addr]);
    try {
      for (let i = 0; ; i++) {
        const r = await exec(client, "iperf3", ["-c", addr, "-t", "1", "-J", "--connect-timeout", "2000"], {
          allowFailure: true,
          timeoutMs: 15_000,
        });
        if (r.code === 0) {
          const j = JSON.parse(r.stdout) as { end: { sum_received?: { bytes: number } } };
          return j.end.sum_received?.bytes ?? 0;
        }
        if (i >= 5) throw new Error(`iperf3 to ${addr}: ${r.stdout}${r.stderr}`);
        await new Promise((res) => setTimeout(res, 300));
      }
    } finally {
      srv.kill("SIGKILL");
    }
  }

  before(async () => {
    await buildFirewall();
    lab = await startLab(2);
    scratch = mkdtempSync(join(tmpdir(), "px-fw-"));
    const [h0, h1] = lab.net.hosts;
    // Listeners the blocked connections would reach if the firewall let them through.
    for (const port of [7001, 7003]) listeners.push(spawn(h1.ns, "nc", ["-k", "-l", "-n", String(port)]));
    listeners.push(spawn(h0.ns, "nc", ["-k", "-l", "-n", "7100"]));
  });
  after(async () => {
    for (const l of listeners) l.kill("SIGKILL");
    try {
      await lab?.cleanup();
    } finally {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    }
  });

  for (const mode of ["tc", "xdp"] as const) {
    test(`${mode}: allowed flows pass, blocked ones do not, replies pass, counters match`, async () => {
      const { api } = lab;
      const [h0, h1] = lab.net.hosts;
      const zone = `z${mode}`;
      await api.post("/v1/instances", {
        name: "w",
        type: "wire",
        mode,
        ports: [
          { name: "a", peer: lab.iface(0) },
          { name: "b", peer: lab.iface(1) },
        ],
      });
      await api.post("/v1/instances", {
        name: "fw-in",
        type: "firewall",
        mode,
        config: { policy: "drop", zone },
      });
      await api.post("/v1/instances", {
        name: "fw-out",
        type: "firewall",
        mode,
        config: { policy: "drop", zone },
      });
      try {
        await api.put("/v1/instances/fw-in/attachment", { target: "w:a" });
        await api.put("/v1/instances/fw-out/attachment", { target: "w:b" });
        // Both policies drop: nothing passes yet (ARP and neighbour discovery do).
        assert.equal((await ping(h0.ns, h1.ipv4, { count: 1, wait: 1 })).received, 0);

        const file = join(scratch, `rules-${mode}.txt`);
        writeFileSync(file, RULES);
        const loaded = await px("fw-in", "rules", "load", file);
        assert.equal(loaded.code, 0, loaded.stderr);
        assert.match(loaded.stdout, /loaded 7 entries into fw-in rules/);
        // The way back: a rule set from a YAML file (rules numbered 10, 20... in file order).
        const backFile = join(scratch, `back-${mode}.yaml`);
        writeFileSync(
          backFile,
          // Table entries are flat (the API's TableEntry): a rule set's rules are YAML text.
          "- name: back\n  rules: |\n    - action: accept\n      state: established,related\n",
        );
        const loadedBack = await px("fw-out", "ruleset", "load", backFile);
        assert.equal(loadedBack.code, 0, loadedBack.stderr);
        const base = await rules("fw-in");

        // ping: the requests pass fw-in, the replies pass fw-out as an established connection.
        const p4 = await ping(h0.ns, h1.ipv4, { count: 5, interval: 0.05, wait: 2 });
        assert.equal(p4.received, 5, p4.output);
        await ping(h0.ns, h1.ipv6, { count: 1, wait: 2 }); // neighbour discovery first
        const p6 = await ping(h0.ns, h1.ipv6, { count: 4, interval: 0.05, wait: 2 });
        assert.equal(p6.received, 4, p6.output);
        // The other way round nothing is new-and-allowed: fw-out drops the requests.
        const [back, fromServer] = await Promise.all([
          ping(h1.ns, h0.ipv4, { count: 2, interval: 0.05, wait: 1 }),
          tcpConnect(h1.ns, h0.ipv4, 7100),
        ]);
        assert.equal(back.received, 0);
        assert.equal(fromServer, "timeout", "a connection from the server side");

        // TCP: iperf3 allowed (its SYNs by rule 30, the rest as established both ways).
        const bytes = await iperf(h0.ns, h1.ns, h1.ipv4);
        assert.ok(bytes > 1_000_000, `iperf3 moved ${bytes} bytes`);
        // Rejected with a reset (a listener is there), dropped (a listener is there too); UDP
        // allowed, or counted then dropped by the policy. All at once: they are independent.
        const [rej4, rej6, dropped, udp4, udp6, udpCounted] = await Promise.all([
          tcpConnect(h0.ns, h1.ipv4, 7001),
          tcpConnect(h0.ns, h1.ipv6, 7001),
          tcpConnect(h0.ns, h1.ipv4, 7003),
          udpSend(h0.ns, h1.ns, h1.ipv4, 7000),
          udpSend(h0.ns, h1.ns, h1.ipv6, 7000),
          udpSend(h0.ns, h1.ns, h1.ipv4, 7002),
        ]);
        assert.equal(rej4, "refused", "IPv4 reject");
        assert.equal(rej6, "refused", "IPv6 reject");
        assert.equal(dropped, "timeout");
        assert.equal(udp4, "hello 7000");
        assert.equal(udp6, "hello 7000");
        assert.equal(udpCounted, "");

        const r = await rules("fw-in");
        const delta = (id: string) => (r.get(id)?.packets ?? 0) - (base.get(id)?.packets ?? 0);
        assert.equal(delta("10"), 5, "IPv4 echo requests");
        assert.equal(r.get("10")?.bytes, 5 * PING4_FRAME);
        assert.equal(delta("15"), 5, "IPv6 echo requests");
        assert.equal(r.get("15")?.bytes, 5 * PING6_FRAME);
        assert.ok(delta("30") >= 2 && delta("30") <= 4, `iperf3's connections: ${delta("30")} SYNs`);
        assert.ok(delta("20") > 500, `iperf3's data as established: ${delta("20")}`);
        assert.equal(delta("40"), 2, "one SYN per rejected connection");
        assert.equal(delta("50"), 2);
        assert.equal(delta("60"), 1);
        assert.ok((r.get("policy")?.packets ?? 0) >= 2, "the SYNs to 7003 and the datagram to 7002");
        const out = await rules("fw-out");
        assert.equal((out.get("10") as RuleRow & { from?: string })?.from, "ruleset back");
        assert.ok(
          (out.get("10")?.packets ?? 0) >= 5 + 4 + 20,
          "echo replies and iperf3's ACKs as established",
        );
        assert.ok((out.get("policy")?.packets ?? 0) >= 3, "the server side's new packets");

        // The zone's connection table has what passed.
        const ct = await api.get<Record<string, unknown>[]>("/v1/instances/fw-out/tables/conntrack");
        const has = (o: Record<string, unknown>) =>
          ct.some((c) => Object.entries(o).every(([k, v]) => c[k] === v));
        assert.ok(has({ proto: "udp", dst: h1.ipv4, dport: 7000, state: "unreplied" }), JSON.stringify(ct));
        assert.ok(has({ proto: "ipv6-icmp", src: h0.ipv6, dst: h1.ipv6, state: "replied" }));
        assert.ok(!has({ dport: 7002 }) && !has({ dport: 7003 }), "dropped packets open no connection");

        // A bad file: refused naming the rule, the rules in force unchanged.
        const bad = join(scratch, `bad-${mode}.txt`);
        writeFileSync(bad, "70 action=drop proto=udp dport=9\n80 action=drop dport=9\n");
        const refused = await px("fw-in", "rules", "load", bad);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /rule 80: dport needs proto tcp, udp or sctp/);
        const after = await rules("fw-in");
        assert.deepEqual([...after.keys()], [...r.keys()], "nothing of the bad file applied");
        const exported = JSON.stringify(await api.get<unknown>("/v1/export"));
        assert.ok(exported.includes('"id":60') && !exported.includes('"id":70'), "nor in the desired state");
        assert.equal(await udpSend(h0.ns, h1.ns, h1.ipv4, 7000), "hello 7000");
      } finally {
        for (const n of ["fw-in", "fw-out", "w"]) await api.delete(`/v1/instances/${n}`);
      }
    });
  }
});
