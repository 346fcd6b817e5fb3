// The firewall's control plane on a live data plane (no daemon): rule sets and single rules merged
// by id, changes that fail leaving everything as it was, bulk adds, 10,000-rule sets, the hash
// tables of a generation cleared before it is reused, and a restart that adopts the running data
// plane with its counters.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Firewall } from "../../../nf/firewall/cp/firewall.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { frame } from "./frames.js";
import { openFirewall, type FwHarness } from "./harness.js";

describe("firewall control plane", () => {
  let bpffs: Bpffs;
  let h: FwHarness;
  before(async () => {
    bpffs = mountBpffs();
    h = await openFirewall("xdp", bpffs.path, { conntrack: false });
  });
  after(() => {
    h?.close();
    bpffs?.cleanup();
  });
  const verdict = (o: Parameters<typeof frame>[0]) => h.run(frame(o)).verdict;
  const ids = () => h.fw.listRules().map((r) => `${r.id}:${r.action}:${r.from}`);

  test("single rules override rule-set rules by id; deleting one brings the rule set's back", async () => {
    await h.fw.addRuleSet({
      name: "base",
      rules: [
        { action: "accept", proto: "udp", dport: 53 },
        { action: "drop", proto: "udp" },
      ],
    });
    assert.deepEqual(ids(), ["10:accept:ruleset base", "20:drop:ruleset base", "policy:accept:config"]);
    assert.equal(verdict({ dport: 53 }), "pass");
    await h.fw.addRule({ id: 10, action: "drop", proto: "udp", dport: 53 });
    await h.fw.addRule({ id: 15, action: "accept", proto: "udp", dport: 54 });
    assert.deepEqual(ids(), [
      "10:drop:rules",
      "15:accept:rules",
      "20:drop:ruleset base",
      "policy:accept:config",
    ]);
    assert.equal(verdict({ dport: 53 }), "drop");
    assert.equal(verdict({ dport: 54 }), "pass");
    await h.fw.deleteRule({ id: 10 });
    assert.equal(verdict({ dport: 53 }), "pass", "the rule set's rule 10 again");
    await assert.rejects(
      h.fw.deleteRule({ id: 20 }),
      /rule 20 belongs to rule set base: load the rule set again without it/,
    );
    await assert.rejects(h.fw.deleteRule({ id: 99 }), /has no rule 99/);
    await h.fw.deleteRule({ id: 15 });
    await h.fw.deleteRuleSet({ name: "base" });
    assert.deepEqual(ids(), ["policy:accept:config"]);
  });

  test("a change that fails leaves the rules in force and the data plane as they were", async () => {
    await h.fw.addRuleSet({ name: "main", rules: [{ action: "drop", proto: "udp", dport: 1 }] });
    const before = JSON.stringify(h.fw.listRules());
    await assert.rejects(
      h.fw.addRuleSet({
        name: "main",
        rules: [{ action: "accept" }, { action: "drop" }, { action: "drop", sport: 1 }],
      }),
      /rule set main, rule #3 \(id 30\): sport needs proto tcp, udp or sctp/,
    );
    await assert.rejects(
      h.fw.addRules([
        { id: 1, action: "accept" },
        { id: 2, action: "drop", src: "198.18.0.0/99" },
      ]),
      /rule 2: src: '198.18.0.0\/99': the prefix length must be 0 to 32/,
    );
    await assert.rejects(
      h.fw.addRuleSet({ name: "other", rules: [{ action: "accept" }] }),
      /rule set other has a rule 10 too|rule set main has a rule 10 too/,
    );
    await assert.rejects(
      h.fw.addRule({ id: 5, action: "drop", iif: "nosuchif0" }),
      /rule 5: iif nosuchif0: no such interface/,
    );
    await assert.rejects(h.fw.addRuleSet({ name: "bad name!", rules: [] }), /a rule set needs a name/);
    assert.equal(JSON.stringify(h.fw.listRules()), before);
    assert.equal(verdict({ dport: 1 }), "drop");
    assert.equal(verdict({ dport: 2 }), "pass");
    await h.fw.deleteRuleSet({ name: "main" });
  });

  test("bulk adds compile once; 10,000 rules classify the last packet right", async () => {
    const rules = Array.from({ length: 10_000 }, (_, i) => ({
      id: i + 1,
      action: i === 9_999 ? "accept" : "drop",
      proto: "udp",
      src: `10.${(i >> 8) & 255}.${i & 255}.1`,
      dport: 1000 + (i % 5000),
    }));
    rules[9_999] = {
      id: 10_000,
      action: "accept",
      proto: "udp",
      src: "198.18.1.1",
      dport: 9,
    } as (typeof rules)[number];
    await h.fw.addRules(rules);
    h.configure({ policy: "drop" });
    assert.equal(verdict({ src: "198.18.1.1", dport: 9 }), "pass");
    assert.equal(verdict({ src: "198.18.1.1", dport: 10 }), "drop");
    assert.equal(verdict({ src: "10.0.7.1", dport: 1007 }), "drop");
    const rows = h.fw.listRules();
    assert.equal(rows.length, 10_001);
    assert.equal(rows[9_999].packets, 1);
    // The generation given up is cleared before it is reused: the prefix table holds one rule set.
    await h.fw.addRules([{ id: 10_001, action: "drop", proto: "tcp" }]);
    await h.fw.addRules([{ id: 10_002, action: "drop", proto: "tcp", dport: 1 }]);
    const pfx = [...h.ctx.map("fw_pfx4").entriesBatched(4096)].length;
    assert.ok(pfx <= 2 * 10_000, `${pfx} prefix entries`);
    h.configure({ policy: "accept" });
    // One switch for all: deleting 10,000 rules one by one would compile 10,000 times.
    await h.fw.deleteRules(h.fw.listRules().filter((r) => r.from === "rules"));
    assert.deepEqual(ids(), ["policy:accept:config"]);
  });

  test("a restarted control plane adopts the running rules and keeps their counters", async () => {
    await h.fw.addRuleSet({ name: "keep", rules: [{ action: "drop", proto: "udp", dport: 7 }] });
    await h.fw.addRule({ id: 100, action: "drop", proto: "udp", dport: 8 });
    for (let i = 0; i < 3; i++) h.run(frame({ dport: 7 }));
    // A new daemon: a new control plane over the same maps. Forwarding goes on meanwhile.
    const fresh = new Firewall(h.ctx);
    assert.equal(verdict({ dport: 7 }), "drop", "the data plane keeps its rules while the daemon is away");
    // The desired state is replayed before init, then init compiles once.
    await fresh.addRuleSet({ name: "keep", rules: [{ action: "drop", proto: "udp", dport: 7 }] });
    await fresh.addRule({ id: 100, action: "drop", proto: "udp", dport: 8 });
    await fresh.start();
    const rows = new Map(fresh.listRules().map((r) => [r.id, r]));
    assert.equal(rows.get(10)?.packets, 4, "counted before and after the restart");
    assert.equal(verdict({ dport: 8 }), "drop");
    h.fw = fresh;
    await fresh.deleteRule({ id: 100 });
    await fresh.deleteRuleSet({ name: "keep" });
  });
});
