// Rule parsing and validation without the kernel: what each field accepts, and bad rules
// (invalid, contradictory, too large) refused with a message that names the rule and the field.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Firewall } from "../../../nf/firewall/cp/firewall.js";
import { RuleError, parseRule, ruleHash, ruleView } from "../../../nf/firewall/cp/rules.js";

const bad = (entry: Record<string, unknown>, message: RegExp) =>
  assert.throws(
    () => parseRule(entry, `rule ${entry.id ?? "?"}`),
    (e: Error) => e instanceof RuleError && message.test(e.message),
    `${JSON.stringify(entry)} should fail with ${message}`,
  );

describe("firewall rules", () => {
  test("fields in their text, list and number forms, shown canonically", () => {
    const r = parseRule(
      {
        id: "30",
        action: "ACCEPT",
        src: "198.18.1.7/24, 198.18.9.1",
        dst: ["198.18.2.0/23"],
        proto: "udp,tcp",
        dport: [53, "8000 - 8080"],
        state: ["new", "established"],
        iif: "!veth0",
        comment: "dns and web",
      },
      "rule 30",
    );
    assert.deepEqual(r.families, [4]);
    assert.deepEqual(ruleView(r), {
      id: 30,
      action: "accept",
      family: "ipv4",
      src: "198.18.1.0/24,198.18.9.1/32",
      dst: "198.18.2.0/23",
      proto: "tcp,udp",
      dport: "53,8000-8080",
      state: "new,established",
      iif: "!veth0",
      comment: "dns and web",
    });
    const icmp = parseRule(
      { id: 1, action: "drop", proto: "icmpv6", icmpType: "echo-request,packet-too-big" },
      "r",
    );
    assert.deepEqual(icmp.families, [6]);
    assert.deepEqual(icmp.icmpType?.ranges, [
      [128, 128],
      [2, 2],
    ]);
    const flags = parseRule({ id: 2, action: "drop", proto: "tcp", tcpFlags: "syn,!ack" }, "r");
    assert.deepEqual(flags.tcpFlags, { value: 0x02, mask: 0x12 });
    assert.equal(ruleView(flags).tcpFlags, "syn/syn,ack");
  });

  test("invalid values name the rule and the field", () => {
    bad({ id: 10, action: "allow" }, /^rule 10: action 'allow' is not one of accept, drop, reject, count$/);
    bad({ id: 10 }, /^rule 10: a rule needs an action/);
    bad({ action: "drop" }, /needs an id/);
    bad({ id: 0, action: "drop" }, /rule 0: id must be an integer from 1/);
    bad(
      { id: 10, action: "drop", src: "198.18.300.1" },
      /^rule 10: src: '198.18.300.1' is not an IPv4 or IPv6 address/,
    );
    bad(
      { id: 10, action: "drop", src: "198.18.0.0/33" },
      /rule 10: src: '198.18.0.0\/33': the prefix length must be 0 to 32/,
    );
    bad(
      { id: 10, action: "drop", proto: "tcp", dport: 70000 },
      /^rule 10: dport: '70000' is out of range \(0-65535\)$/,
    );
    bad(
      { id: 10, action: "drop", proto: "tcp", dport: "90-80" },
      /rule 10: dport: '90-80' is an empty range/,
    );
    bad(
      { id: 10, action: "drop", proto: "tcp", dport: "http" },
      /rule 10: dport: 'http' is not a number or a range/,
    );
    bad({ id: 10, action: "drop", proto: "xyz" }, /rule 10: proto 'xyz' is not a protocol name/);
    bad(
      { id: 10, action: "drop", state: "new,open" },
      /rule 10: state 'open' is not one of new, established/,
    );
    bad(
      { id: 10, action: "drop", proto: "tcp", tcpFlags: "syn,push" },
      /rule 10: tcpFlags: 'push' is not a TCP flag/,
    );
    bad({ id: 10, action: "drop", iif: "a b" }, /rule 10: iif 'a b' is not an interface name/);
    bad({ id: 10, action: "drop", port: 80 }, /rule 10: unknown field 'port' \(fields: id, action/);
    bad({ id: 10, action: "drop", dst: "!a,!b" }, /rule 10: dst: '!' negates the whole field/);
    bad(
      { id: 10, action: "drop", comment: "x".repeat(300) },
      /rule 10: comment must be a string of at most 256/,
    );
  });

  test("contradictory rules are refused: they could never match, or a field needs another", () => {
    bad(
      { id: 20, action: "drop", src: "198.18.0.0/24", dst: "fd00::/8" },
      /rule 20: dst fd00::\/8 contradicts the rest of the rule/,
    );
    bad(
      { id: 20, action: "drop", family: "ipv6", src: "198.18.0.1" },
      /rule 20: src 198.18.0.1\/32 contradicts/,
    );
    bad({ id: 20, action: "drop", proto: "icmp", dst: "fd00::1" }, /rule 20: proto icmp contradicts/);
    bad({ id: 20, action: "drop", dport: 80 }, /^rule 20: dport needs proto tcp, udp or sctp$/);
    bad(
      { id: 20, action: "drop", proto: "udp,icmp", dport: 80 },
      /rule 20: dport needs proto tcp, udp or sctp \(the rule says proto udp,icmp\)/,
    );
    bad({ id: 20, action: "drop", proto: "udp", tcpFlags: "syn" }, /rule 20: tcpFlags needs proto tcp/);
    bad(
      { id: 20, action: "drop", proto: "tcp", icmpType: 8 },
      /rule 20: icmpType needs proto icmp or icmpv6/,
    );
    bad(
      { id: 20, action: "drop", proto: "udp", rejectWith: "tcp-reset" },
      /rule 20: rejectWith only goes with action reject/,
    );
    bad(
      { id: 20, action: "reject", proto: "udp", rejectWith: "tcp-reset" },
      /rule 20: rejectWith tcp-reset needs proto tcp/,
    );
    bad(
      { id: 20, action: "drop", state: "!new,established,related,invalid,untracked" },
      /excludes every state/,
    );
    bad(
      { id: 20, action: "drop", proto: "tcp", tcpFlags: "syn,ack/syn" },
      /the flags before '\/' must be among those after it/,
    );
  });

  test("too large: lists and rule sets", () => {
    const many = Array.from({ length: 100_001 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    bad({ id: 30, action: "drop", src: many }, /rule 30: src: 100001 elements, at most 100000/);
    assert.throws(
      () =>
        Firewall.parseRuleSet(
          "big",
          Array.from({ length: 16_385 }, () => ({ action: "drop" })),
        ),
      /rule set big: 16,385 rules, at most 16,384/,
    );
  });

  test("rule sets: numbered 10, 20, 30 without ids; every rule or none has one; errors say which rule", () => {
    const rules = Firewall.parseRuleSet("web", [
      { action: "accept", proto: "tcp", dport: 80 },
      { action: "drop" },
    ]);
    assert.deepEqual(
      rules.map((r) => r.id),
      [10, 20],
    );
    assert.throws(
      () => Firewall.parseRuleSet("web", [{ id: 5, action: "accept" }, { action: "drop" }]),
      /give every rule an id, or none/,
    );
    assert.throws(
      () =>
        Firewall.parseRuleSet("web", [
          { action: "accept" },
          { action: "drop", proto: "tcp", dport: "99999" },
        ]),
      /rule set web, rule #2 \(id 20\): dport: '99999' is out of range/,
    );
    assert.throws(
      () => Firewall.parseRuleSet("web", "- action: accept\n- [oops"),
      /rule set web: not valid YAML or JSON/,
    );
    const fromText = Firewall.parseRuleSet("web", "rules:\n  - action: drop\n    src: 198.18.0.0/15\n");
    assert.equal(fromText[0].src?.list[0].len, 15);
    assert.throws(() => Firewall.parseRuleSet("web", { action: "drop" }), /rules must be a list of rules/);
  });

  test("a rule's counter hash follows what it matches and does, not its comment", () => {
    const a = parseRule({ id: 1, action: "drop", proto: "tcp", dport: 22 }, "r");
    const b = parseRule({ id: 9, action: "drop", proto: "tcp", dport: "22", comment: "ssh" }, "r");
    const c = parseRule({ id: 1, action: "drop", proto: "tcp", dport: 23 }, "r");
    assert.equal(ruleHash(a), ruleHash(b));
    assert.notEqual(ruleHash(a), ruleHash(c));
  });
});
