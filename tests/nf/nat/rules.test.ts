// NAT rules as users write them: what is accepted, what becomes of it in the data plane's image
// (NPTv6 adjustment checked against RFC 6296's arithmetic), and bad input rejected with a message
// naming the rule and the field, the rules in force unchanged.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ValidationError } from "../../../src/core/errors.js";
import { MAX_RULES } from "../../../nf/nat/cp/abi.js";
import { checkRuleSet, parseRule, parseTarget, ruleImage, RuleError } from "../../../nf/nat/cp/rules.js";
import { canon, frame, parse } from "./frames.js";
import { openNat } from "./support.js";

const bad = (entry: Record<string, unknown>, re: RegExp) =>
  assert.throws(
    () => parseRule(entry),
    (e: unknown) => e instanceof RuleError && re.test((e as Error).message),
  );

describe("nat rules", () => {
  test("targets: addresses, ranges, ports, IPv6 in brackets", () => {
    assert.deepEqual(parseTarget("198.18.2.1-198.18.2.4:1000-1999").ports, [1000, 1999]);
    assert.equal(parseTarget("198.18.2.1-198.18.2.4").count, 4);
    assert.equal(parseTarget("[fd00::1]:80").addr?.family, 6);
    assert.equal(parseTarget("fd00::1-fd00::8").count, 8);
    assert.deepEqual(parseTarget(":8080").ports, [8080, 8080]);
    assert.equal(parseTarget(":8080").addr, undefined);
  });

  test("a valid rule of each type", () => {
    assert.equal(parseRule({ id: 1, type: "snat", src: "198.18.1.0/24", to: "198.18.2.254" }).family, 4);
    assert.equal(parseRule({ id: "2", type: "masquerade", out: "eth0", family: "ipv6" }).family, 6);
    assert.deepEqual(
      parseRule({
        id: 3,
        type: "dnat",
        dst: "198.18.2.254",
        proto: "tcp",
        dport: "80",
        to: "198.18.1.2:8080",
      }).to?.ports,
      [8080, 8080],
    );
    assert.equal(parseRule({ id: 4, type: "npt", src: "fd00:1::/48", to: "fd00:2::/48" }).type, "npt");
    assert.equal(
      parseRule({ id: 5, type: "snat", proto: "icmp", src: "fd00:1::/64", to: "fd00:2::1" }).proto,
      58,
    );
  });

  test("bad rules name the rule and the field", () => {
    bad({ id: 0, type: "snat", to: "198.18.2.1" }, /^rule 0: id must be/);
    bad({ id: 7, type: "snatt", to: "198.18.2.1" }, /^rule 7: type: must be one of/);
    bad({ id: 7, type: "snat" }, /^rule 7: to: snat needs an address/);
    bad({ id: 7, type: "snat", to: "198.18.2.300" }, /^rule 7: to: '198\.18\.2\.300' is not an address/);
    bad({ id: 7, type: "snat", src: "198.18.1.0/24", to: "fd00::1" }, /^rule 7: to: is IPv6 but src is IPv4/);
    bad({ id: 7, type: "snat", to: "198.18.2.9-198.18.2.1" }, /^rule 7: to: .*the range is empty/);
    bad({ id: 7, type: "snat", to: "198.18.2.1:2000-1000" }, /^rule 7: to: .*the range is empty/);
    bad({ id: 7, type: "snat", to: "198.18.2.1", dport: "80-70" }, /^rule 7: dport: .*empty/);
    bad(
      { id: 7, type: "snat", to: "198.18.2.1", proto: "icmp", dport: "80" },
      /^rule 7: dport: ICMP has no ports/,
    );
    bad({ id: 7, type: "snat", to: "198.18.2.1", proto: "gre" }, /^rule 7: proto: must be tcp, udp or icmp/);
    bad({ id: 7, type: "snat", to: "198.18.2.1", colour: "red" }, /^rule 7: colour: unknown field/);
    bad({ id: 7, type: "masquerade" }, /^rule 7: out: masquerade needs the interface/);
    bad(
      { id: 7, type: "masquerade", out: "eth0", to: "198.18.2.1" },
      /^rule 7: to: masquerade takes the address of `out`/,
    );
    bad({ id: 7, type: "dnat", to: ":80" }, /^rule 7: to: a port-only dnat needs dst or dport/);
    bad(
      { id: 7, type: "dnat", dst: "198.18.2.1", dport: "80-85", to: "198.18.1.1:80-81" },
      /^rule 7: to: a port range .* same size/,
    );
    bad(
      { id: 7, type: "npt", src: "198.18.1.0/24", to: "198.18.2.0/24" },
      /^rule 7: type: npt translates IPv6/,
    );
    bad(
      { id: 7, type: "npt", src: "fd00:1::/48", to: "fd00:2::/56" },
      /^rule 7: to: the outside prefix must be as long/,
    );
    bad(
      { id: 7, type: "npt", src: "fd00:1::/48", to: "fd00:2::/48", dport: "80" },
      /^rule 7: dport: npt translates whole prefixes/,
    );
    bad({ id: 7, type: "snat", to: "fd00::1-fd01::1" }, /^rule 7: to: .*may only vary in its last 32 bits/);
  });

  test("contradictions: a rule that takes exactly what an earlier one takes is refused", () => {
    const set =
      (...entries: Record<string, unknown>[]) =>
      () =>
        checkRuleSet(entries.map(parseRule));
    assert.throws(
      set(
        { id: 20, type: "dnat", src: "198.18.1.0/24", to: "198.18.3.1" },
        { id: 10, type: "snat", src: "198.18.1.0/24", to: "198.18.2.1" },
      ),
      /rule 20: takes the same connections as rule 10 \(ipv4 proto any src 198\.18\.1\.0\/24 dst any sport any dport any\), which comes first/,
    );
    assert.throws(
      set(
        { id: 1, type: "npt", src: "fd00:1::/48", to: "fd00:9::/48" },
        { id: 2, type: "npt", src: "fd00:2::/48", to: "fd00:9::/48" },
      ),
      /rule 2: takes the same connections as rule 1 \(npt back to fd00:9::\/48\)/,
    );
    // Overlapping is not contradicting: the narrower rule first is how exceptions are written.
    set(
      { id: 1, type: "snat", src: "198.18.1.0/25", to: "198.18.2.1" },
      { id: 2, type: "snat", src: "198.18.1.0/24", to: "198.18.2.2" },
      { id: 3, type: "snat", src: "198.18.1.0/24", proto: "udp", to: "198.18.2.3" },
      { id: 4, type: "snat", src: "fd00:1::/64", to: "fd00:2::1" },
    )();
  });

  test("NPTv6 mapping keeps the one's complement sum of the address (RFC 6296)", () => {
    const r = parseRule({ id: 1, type: "npt", src: "fd01:0203:0405::/48", to: "2001:db8:1::/48" });
    const img = ruleImage(r);
    assert.equal(img.nptWord, 3);
    // Map an address the way the data plane does and compare the word sums.
    const inside = Buffer.from("fd01020304050001000000000000abcd", "hex");
    const outside = Buffer.from(inside);
    img.to.copy(outside, 0, 0, 6);
    let w = outside.readUInt16BE(6) + img.nptAdj;
    w = (w & 0xffff) + (w >>> 16);
    outside.writeUInt16BE(w === 0xffff ? 0 : w, 6);
    const sum = (b: Buffer) => {
      let s = 0;
      for (let i = 0; i < 16; i += 2) s += b.readUInt16BE(i);
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      return s;
    };
    assert.equal(sum(outside), sum(inside));
  });

  test("through the control plane: a bad rule or one too many changes nothing", async () => {
    const r = await openNat("xdp", { zone: "rules-test" });
    try {
      r.nat.addRule({ id: 10, type: "snat", to: "198.18.2.254" });
      assert.throws(
        () => r.nat.addRule({ id: 10, type: "snat", to: "nowhere" }),
        (e: unknown) => e instanceof ValidationError && /^rule 10: to:/.test((e as Error).message),
      );
      assert.equal(
        r.run(frame({ proto: "udp", src: "198.18.1.1", dst: "198.18.2.1" })).p.src,
        "198.18.2.254",
        "rule 10 still in force",
      );
      for (let id = 11; id < 10 + MAX_RULES; id++)
        r.nat.addRule({ id, type: "snat", src: `198.18.9.${id}`, to: "198.18.2.1" });
      assert.throws(
        () => r.nat.addRule({ id: 999, type: "snat", to: "198.18.2.2" }),
        (e: unknown) =>
          e instanceof ValidationError &&
          /^rule 999: the NAT holds at most 64 rules/.test((e as Error).message),
      );
      assert.equal(r.nat.listRules().length, MAX_RULES);
      assert.throws(() => r.nat.deleteRule({ id: 5 }), /has no rule 5/);
      // A bulk load is checked whole: one bad rule (or one given twice) and nothing changes.
      const before = r.nat.listRules();
      r.nat.deleteRule({ id: 11 });
      r.nat.deleteRule({ id: 12 });
      assert.throws(
        () =>
          r.nat.addRules([
            { id: 11, type: "snat", src: "198.18.7.0/24", to: "198.18.2.7" },
            { id: 12, type: "dnat", dst: "198.18.2.1", dport: "80-85", to: "198.18.1.1:80-81" },
          ]),
        (e: unknown) =>
          e instanceof ValidationError && /^rule 12: to: a port range/.test((e as Error).message),
      );
      assert.throws(
        () =>
          r.nat.addRules([
            { id: 11, type: "snat", src: "198.18.7.0/24", to: "198.18.2.7" },
            { id: 11, type: "snat", src: "198.18.8.0/24", to: "198.18.2.8" },
          ]),
        (e: unknown) =>
          e instanceof ValidationError && /^rule 11: given twice in one load/.test((e as Error).message),
      );
      assert.equal(r.nat.listRules().length, before.length - 2, "nothing of either load was applied");
      r.nat.addRules([
        { id: 11, type: "snat", src: "198.18.7.0/24", to: "198.18.2.7" },
        { id: 12, type: "snat", src: "198.18.8.0/24", to: "198.18.2.8" },
      ]);
      assert.deepEqual(
        r.nat
          .listRules()
          .filter((x) => x.id === 11 || x.id === 12)
          .map((x) => x.to),
        ["198.18.2.7", "198.18.2.8"],
        "a good load is in force",
      );
      // Replacing a rule switches the whole set at once.
      r.nat.addRule({ id: 10, type: "snat", to: "198.18.2.200" });
      assert.equal(
        parse(r.run(frame({ proto: "udp", src: "198.18.1.1", dst: "198.18.2.1", sport: 9 })).frame).src,
        canon("198.18.2.200"),
      );
    } finally {
      r.close();
    }
  });
});
