// The rule compiler, without the kernel: on random rule sets and packets, the compiled tables pick
// exactly the rules a literal, rule-after-rule reading picks; classes are shared; limits are
// refused with messages that say what to change.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Field } from "../../../nf/firewall/cp/abi.js";
import { CompileError, compileRules } from "../../../nf/firewall/cp/compile.js";
import { RuleError, parseRule, type Rule } from "../../../nf/firewall/cp/rules.js";
import { compiledMatch, linearMatch, type Packet } from "./model.js";

/** A small deterministic PRNG (xorshift32). */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
    chance: (p: number) => next() < p,
  };
}

const IFACES: Record<string, number> = { eth0: 2, eth1: 3, eth2: 4 };
const ifindex = (n: string) => IFACES[n];

const V4 = ["10.0.0.0", "10.1.0.0", "10.1.2.0", "10.1.2.128", "198.18.0.0"];

function addr4(r: ReturnType<typeof rng>): string {
  const base = r.pick(V4).split(".").map(Number);
  if (r.chance(0.5)) base[3] = r.int(256);
  if (r.chance(0.2)) base[2] = r.int(4);
  return base.join(".");
}

/** fd00:A:B::C with small A, B, C, so that prefixes of different lengths overlap. */
function addr6(r: ReturnType<typeof rng>): string {
  const g = [
    0xfd00,
    r.pick([0, 1, 1, 2]),
    r.pick([0, 2, 2, 3]),
    0,
    0,
    0,
    0,
    r.chance(0.5) ? r.int(300) : 0x80,
  ];
  return g.map((x) => x.toString(16)).join(":");
}

function randomEntry(
  r: ReturnType<typeof rng>,
  id: number,
  countsLeft: { n: number },
): Record<string, unknown> {
  const e: Record<string, unknown> = { id };
  let action = r.pick(["accept", "drop", "drop", "reject", "count"]);
  if (action === "count" && countsLeft.n-- <= 0) action = "drop";
  e.action = action;
  const fam = r.pick([4, 6, 0]);
  const prefixes = (n: number) =>
    Array.from({ length: n }, () =>
      fam === 6 || (fam === 0 && r.chance(0.3))
        ? `${addr6(r)}/${r.pick([0, 16, 32, 48, 64, 120, 128])}`
        : `${addr4(r)}/${r.pick([0, 8, 16, 24, 25, 32])}`,
    );
  if (r.chance(0.4)) e.src = (r.chance(0.2) ? "!" : "") + prefixes(1 + r.int(3)).join(",");
  if (r.chance(0.4)) e.dst = (r.chance(0.2) ? "!" : "") + prefixes(1 + r.int(2)).join(",");
  if (fam === 4 && !e.src && !e.dst) e.family = "ipv4";
  if (fam === 6 && !e.src && !e.dst) e.family = "ipv6";
  const proto = r.pick(["tcp", "udp", "icmp", "icmpv6", "47", "tcp,udp", undefined, undefined]);
  if (proto) e.proto = proto;
  if (proto && ["tcp", "udp", "tcp,udp"].includes(proto)) {
    const ports = () =>
      Array.from({ length: 1 + r.int(3) }, () => {
        const lo = r.int(120);
        return r.chance(0.5) ? String(lo) : `${lo}-${lo + r.int(40)}`;
      }).join(",");
    if (r.chance(0.5)) e.dport = (r.chance(0.15) ? "!" : "") + ports();
    if (r.chance(0.3)) e.sport = (r.chance(0.15) ? "!" : "") + ports();
  }
  if (proto === "tcp" && r.chance(0.3))
    e.tcpFlags = r.pick(["syn,!ack", "syn/syn,ack,rst", "ack", "fin,!syn", "rst"]);
  if ((proto === "icmp" || proto === "icmpv6") && r.chance(0.6)) {
    e.icmpType = r.chance(0.5) ? String(r.int(12)) : `${r.int(5)}-${5 + r.int(10)}`;
    if (r.chance(0.3)) e.icmpCode = String(r.int(4));
  }
  if (r.chance(0.3))
    e.state =
      (r.chance(0.2) ? "!" : "") +
      r.pick(["new", "established", "related,established", "invalid", "untracked"]);
  if (r.chance(0.15)) e.iif = (r.chance(0.3) ? "!" : "") + r.pick(["eth0", "eth1", "eth0,eth2", "nosuch"]);
  return e;
}

function randomPacket(r: ReturnType<typeof rng>): Packet {
  const family = r.chance(0.6) ? 4 : 6;
  const proto = r.pick(family === 4 ? [6, 17, 1, 47, 6, 17] : [6, 17, 58, 47, 6, 17]);
  const l4 = proto !== 47 && r.chance(0.9);
  const small = proto === 1 || proto === 58;
  return {
    family,
    src: family === 4 ? addr4(r) : addr6(r),
    dst: family === 4 ? addr4(r) : addr6(r),
    proto,
    l4,
    sport: l4 ? r.int(small ? 16 : 170) : 0,
    dport: l4 ? r.int(small ? 6 : 170) : 0,
    flags: l4 && proto === 6 ? r.int(64) : 0,
    state: r.int(5),
    ifindex: r.pick([0, 2, 3, 4, 9]),
  };
}

describe("firewall rule compiler", () => {
  test("compiled tables pick the same rules as reading the rules in order (random rule sets)", () => {
    let checked = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(seed * 7919);
      const counts = { n: 6 };
      const rules: Rule[] = [];
      const n = 1 + r.int(seed < 40 ? 40 : 400);
      for (let i = 0; i < n; i++) {
        try {
          rules.push(parseRule(randomEntry(r, (i + 1) * 10, counts), `rule ${(i + 1) * 10}`));
        } catch (e) {
          if (!(e instanceof RuleError)) throw e; // a contradictory random rule: skip it
        }
      }
      const c = compileRules(rules, { ifindex });
      for (let k = 0; k < 300; k++) {
        const p = randomPacket(r);
        const want = linearMatch(rules, p, ifindex).map((i) => c.rules[i].id);
        const got = compiledMatch(c, p).map((i) => c.rules[i].id);
        assert.deepEqual(got, want, `seed ${seed}, packet ${JSON.stringify(p)}`);
        checked++;
      }
    }
    assert.ok(checked >= 18000);
  });

  test("identical value classes are shared: 10,000 port rules make about 10,000 classes, not 20,000", () => {
    const rules = Array.from({ length: 10_000 }, (_, i) =>
      parseRule({ id: i + 1, action: "drop", proto: "udp", dport: 2 * i + 1 }, "r"),
    );
    const c = compileRules(rules, { ifindex });
    // One class per port a rule names, one for every other port, one for the protocol.
    assert.ok(c.pool.classes.length <= 10_000 + 4, `${c.pool.classes.length} classes`);
    assert.equal(c.used, (1 << Field.META) | (1 << Field.DPORT));
  });

  test("a prefix whose rules are its parent's adds no table entry", () => {
    const c = compileRules(
      [
        parseRule({ id: 1, action: "drop", src: "10.0.0.0/8" }, "r"),
        parseRule({ id: 2, action: "drop", src: "10.1.0.0/16" }, "r"),
      ],
      { ifindex },
    );
    assert.deepEqual(
      c.pfx[0].v4.entries.map((e) => e.len),
      [8, 16],
    );
    const c2 = compileRules(
      [
        parseRule({ id: 1, action: "drop", src: "10.0.0.0/8" }, "r"),
        parseRule({ id: 2, action: "drop", src: "10.0.0.0/8,10.1.0.0/16" }, "r"),
      ],
      { ifindex },
    );
    assert.deepEqual(
      c2.pfx[0].v4.entries.map((e) => e.len),
      [8],
      "10.1.0.0/16 is inside 10.0.0.0/8 for every rule that names it",
    );
  });

  test("limits are refused with what to change", () => {
    const many = Array.from({ length: 16385 }, (_, i) => parseRule({ id: i + 1, action: "drop" }, "r"));
    assert.throws(() => compileRules(many, { ifindex }), /16,385 rules are more than the 16,384/);
    const counting = Array.from({ length: 8 }, (_, i) => parseRule({ id: i + 1, action: "count" }, "r"));
    assert.throws(
      () => compileRules(counting, { ifindex }),
      (e: Error) => e instanceof CompileError && /8 count rules \(ids 1, 2/.test(e.message),
    );
    assert.throws(
      () =>
        compileRules(
          [parseRule({ id: 1, action: "drop" }, "r"), parseRule({ id: 1, action: "accept" }, "r")],
          { ifindex },
        ),
      /two rules have id 1/,
    );
  });

  test("interfaces that do not exist are reported and match nothing", () => {
    const c = compileRules([parseRule({ id: 1, action: "drop", iif: "nosuch,eth0" }, "r")], { ifindex });
    assert.deepEqual(c.missingInterfaces, ["nosuch"]);
  });
});
