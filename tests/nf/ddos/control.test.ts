// The DDoS mitigator's control plane: prefix and list parsing, configuration, and the Ddos class on
// real maps (the XDP object through BPF_PROG_TEST_RUN): bad, contradictory and too large input is
// refused with a message naming it and changes nothing; lists swap in whole, keeping hit counts;
// single entries override lists; a restarted control plane takes over what its maps hold.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NotFoundError, ValidationError } from "../../../src/core/errors.js";
import { mountBpffs, type Bpffs } from "../../../src/testbed/bpffs.js";
import { MAX_PREFIXES, SIDE_SLOT, u32 } from "../../../nf/ddos/cp/abi.js";
import { cfgRecord, ddosConfig, gcra } from "../../../nf/ddos/cp/config.js";
import { Ddos } from "../../../nf/ddos/cp/ddos.js";
import { ListError, parsePrefixList } from "../../../nf/ddos/cp/lists.js";
import { PrefixError, parsePrefix, textOf } from "../../../nf/ddos/cp/prefix.js";
import { udpFrame } from "./frames.js";
import { openDdos, type DdosHarness } from "./harness.js";

const S4 = "198.18.0.2";

describe("ddos prefixes and lists (text)", () => {
  test("prefixes are canonical; bare addresses are hosts", () => {
    assert.equal(textOf(parsePrefix("198.18.0.0/16")), "198.18.0.0/16");
    assert.equal(textOf(parsePrefix(" 198.18.3.4 ")), "198.18.3.4/32");
    assert.equal(textOf(parsePrefix("FD00:0:0::/16")), "fd00::/16");
    assert.equal(textOf(parsePrefix("fd00::1")), "fd00::1/128");
    assert.equal(parsePrefix("0.0.0.0/0").len, 0);
  });

  test("bad prefixes say what is wrong", () => {
    assert.throws(() => parsePrefix("198.18.0.1/16"), /host bits set \(did you mean 198\.18\.0\.0\/16\?\)/);
    assert.throws(() => parsePrefix("198.18.0.0/33"), /prefix length must be 0\.\.32/);
    assert.throws(() => parsePrefix("fd00::/129"), /0\.\.128/);
    assert.throws(() => parsePrefix("300.1.2.3"), PrefixError);
    assert.throws(() => parsePrefix("example.com"), /not an IPv4 or IPv6 address or prefix/);
  });

  test("lists: comments, separators, duplicates", () => {
    const l = parsePrefixList(
      "# a block list\n198.18.0.0/24 ; SBL1\n198.18.1.0/24, 198.18.2.0/24 fd00:5::/32\n\n198.18.0.0/24\n",
      "list x",
      10,
    );
    assert.deepEqual(l.v4.map(textOf), ["198.18.0.0/24", "198.18.1.0/24", "198.18.2.0/24"]);
    assert.deepEqual(l.v6.map(textOf), ["fd00:5::/32"]);
  });

  test("list errors name the list, the line and the item; at most five are quoted", () => {
    const bad = [
      "198.18.0.0/24",
      "198.18.0.1/24",
      "x",
      ...Array.from({ length: 7 }, () => "1.2.3.4/99"),
    ].join("\n");
    assert.throws(
      () => parsePrefixList(bad, "list bogons", 100),
      (e: Error) =>
        e instanceof ListError &&
        e.message.startsWith("list bogons: line 2: '198.18.0.1/24' has host bits set") &&
        e.message.includes("line 3: 'x' is not an IPv4 or IPv6") &&
        e.message.endsWith("; and 4 more bad items"),
    );
    assert.throws(() => parsePrefixList("# nothing\n", "list e", 10), /list e: no prefixes in it/);
    assert.throws(
      () => parsePrefixList("198.18.0.0/24 198.18.1.0/24 198.18.2.0/24", "list big", 2),
      /list big: 3 IPv4 prefixes, more than the 2 one side holds/,
    );
  });

  test("configuration: GCRA intervals, protected ports", () => {
    assert.deepEqual(gcra(1000, 100), { interval: 1_000_000n, tolerance: 99_000_000n });
    const c = cfgRecord(ddosConfig({ rate: 0, synCookies: "auto", synPorts: [80, "8010-8000"] }));
    assert.equal(c.flags & 0x8, 0, "no rate limit");
    assert.equal(c.flags & 0x10, 0, "not every port");
    const bit = (p: number) => (c.synPorts[p >> 3] >> (p & 7)) & 1;
    assert.deepEqual([79, 80, 81, 7999, 8000, 8005, 8010, 8011].map(bit), [0, 1, 0, 0, 1, 1, 1, 0]);
    assert.equal(cfgRecord(ddosConfig({})).flags & 0x10, 0x10, "no ports given: all of them");
  });
});

/** 198.19.x.y/32 hosts, `n` (at most 65,536) of them, starting at `from`. */
const hosts = (n: number, from = 0): string =>
  Array.from({ length: n }, (_, i) => `198.19.${((from + i) >> 8) & 255}.${(from + i) & 255}`).join("\n");
/** fd00:a:b::/48 prefixes, `n` of them, starting at `from`. */
const nets6 = (n: number, from = 0): string =>
  Array.from(
    { length: n },
    (_, i) => `fd00:${((from + i) >>> 16).toString(16)}:${((from + i) & 0xffff).toString(16)}::/48`,
  ).join("\n");

describe("ddos control plane on real maps", () => {
  let bpffs: Bpffs;
  let h: DdosHarness;
  before(async () => {
    bpffs = mountBpffs();
    h = await openDdos("xdp", bpffs.path);
  });
  after(() => {
    h?.close();
    bpffs?.cleanup();
  });
  const verdict = (src: string) => h.run(udpFrame({ src, dst: S4 })).verdict;
  const trieId = (side: "src" | "dst") =>
    h.t.map("ddos_pfx4").lookup(u32(SIDE_SLOT[side]))?.readUInt32LE(0) ?? 0;
  const clear = () => {
    for (const side of ["src", "dst"] as const)
      for (const e of h.d.listSingles(side)) h.d.deleteSingle(side, { prefix: e.prefix });
    for (const l of h.d.listLists()) h.d.deleteList({ name: l.name });
  };

  test("a bad single entry is refused, naming it, and changes nothing", () => {
    clear();
    h.d.addSingle("src", { prefix: "198.18.5.0/24" });
    const id = trieId("src");
    assert.throws(
      () => h.d.addSingle("src", { prefix: "198.18.6.1/24" }),
      (e: Error) => e instanceof ValidationError && /^src 198\.18\.6\.1\/24: .*host bits set/.test(e.message),
    );
    assert.throws(
      () => h.d.addSingle("src", { prefix: "198.18.6.0/24", action: "block" }),
      /src 198\.18\.6\.0\/24: action 'block'/,
    );
    assert.throws(
      () => h.d.addSingle("dst", { prefix: "198.18.6.0/24", via: "x" }),
      /dst entry: unknown field 'via'/,
    );
    assert.throws(() => h.d.addSingle("dst", {}), /'prefix' is required/);
    assert.equal(trieId("src"), id);
    assert.deepEqual(
      h.d.listSingles("src").map((e) => e.prefix),
      ["198.18.5.0/24"],
    );
    assert.deepEqual([...h.t.map("ddos_src_rules").keys()].length, 1);
    assert.throws(() => h.d.deleteSingle("src", { prefix: "198.18.7.0/24" }), NotFoundError);
  });

  test("a bulk load of single entries is checked whole, then swapped in at once", () => {
    clear();
    h.d.addSingle("src", { prefix: "198.18.5.0/24" });
    const id = trieId("src");
    const entries = (n: number) =>
      Array.from({ length: n }, (_, i): Record<string, unknown> => ({
        prefix: `198.19.${(i >> 8) & 255}.${i & 255}`,
      }));
    const bad = entries(20_000);
    bad[12_345] = { prefix: "198.19.48.57/24" };
    assert.throws(
      () => h.d.addSingles("src", bad),
      (e: Error) =>
        e instanceof ValidationError && /^src 198\.19\.48\.57\/24: .*host bits set/.test(e.message),
    );
    assert.throws(
      () => h.d.addSingles("src", [...entries(3), { prefix: "198.18.9.0/24", action: "deny" }]),
      /src 198\.18\.9\.0\/24: action 'deny'/,
    );
    assert.equal(trieId("src"), id, "nothing was swapped in");
    assert.equal(h.d.listSingles("src").length, 1);
    assert.equal(verdict("198.19.1.1"), "pass");

    const good = [...entries(20_000), { prefix: "198.19.1.1", action: "allow" }];
    const stored = h.d.addSingles("src", good);
    assert.notEqual(trieId("src"), id, "one new trie");
    assert.deepEqual(stored[1], { prefix: "198.19.0.1/32", action: "drop" });
    assert.deepEqual(stored.at(-1), { prefix: "198.19.1.1/32", action: "allow" }, "the later entry wins");
    assert.equal(h.d.listSingles("src").length, 20_001);
    assert.equal([...h.t.map("ddos_src_rules").keys()].length, 20_001);
    assert.equal(verdict("198.19.1.1"), "pass");
    assert.equal(verdict("198.19.78.31"), "drop");
    assert.equal(verdict("198.18.5.5"), "drop", "the entry there before stays");
    assert.throws(
      () =>
        h.d.addSingles(
          "dst",
          entries(1).concat(
            Array.from({ length: 65_536 }, (_, i) => ({ prefix: `fd00::${i.toString(16)}:0/112` })),
          ),
        ),
      /dst: 65,537 new single entries would make 65,537, more than the 65,536 the dst table holds; load the rest as a list/,
    );
  });

  test("entries are recorded in canonical form", () => {
    clear();
    const entry: Record<string, unknown> = { prefix: "FD00:0:0:0::/16" };
    h.d.addSingle("dst", entry);
    assert.deepEqual(entry, { prefix: "fd00::/16", action: "drop" });
    const key = { prefix: "fd00:0::/16" };
    h.d.deleteSingle("dst", key);
    assert.deepEqual(key, { prefix: "fd00::/16" });
  });

  test("two lists giving one prefix different actions: the second is refused, naming both", () => {
    clear();
    h.d.addList({ name: "bad", side: "src", prefixes: "198.18.5.0/24\n198.18.6.0/24" });
    const id = trieId("src");
    assert.throws(
      () =>
        h.d.addList({ name: "good", side: "src", action: "allow", prefixes: "198.18.7.0/24\n198.18.6.0/24" }),
      (e: Error) =>
        e instanceof ValidationError &&
        e.message.startsWith("list good: 198.18.6.0/24 is 'allow' here but 'drop' in list bad"),
    );
    assert.equal(trieId("src"), id, "nothing was swapped in");
    assert.deepEqual(
      h.d.listLists().map((l) => l.name),
      ["bad"],
    );
    assert.equal(verdict("198.18.7.1"), "pass");
    assert.equal(verdict("198.18.6.1"), "drop");
    // The same prefix with the same action in two lists is fine; on the other side too.
    h.d.addList({ name: "more", side: "src", prefixes: "198.18.6.0/24" });
    h.d.addList({ name: "dsts", side: "dst", action: "allow", prefixes: "198.18.6.0/24" });
  });

  test("a reload with one bad line is refused and the list in force stays", () => {
    clear();
    h.d.addList({ name: "bl", side: "src", prefixes: hosts(10_000) });
    assert.equal(verdict("198.19.1.1"), "drop");
    const id = trieId("src");
    assert.throws(
      () =>
        h.d.addList({
          name: "bl",
          side: "src",
          prefixes: `${hosts(5000)}\n198.19.300.1\n${hosts(5000, 5000)}`,
        }),
      /list bl: line 5001: '198\.19\.300\.1' is not an IPv4 or IPv6 address or prefix/,
    );
    assert.equal(trieId("src"), id);
    assert.equal(verdict("198.19.1.1"), "drop");
    assert.equal(h.d.listLists()[0].ipv4, 10_000);
  });

  test("too large: a list, and lists together, beyond what a side holds", () => {
    clear();
    assert.throws(
      () => h.d.addList({ name: "huge", side: "dst", prefixes: nets6(MAX_PREFIXES + 1) }),
      /list huge: 262,145 IPv6 prefixes, more than the 262,144 one side holds/,
    );
    h.d.addList({ name: "a", side: "src", prefixes: nets6(200_000) });
    const t0 = performance.now();
    assert.throws(
      () => h.d.addList({ name: "b", side: "src", prefixes: nets6(100_000, 200_000) }),
      /list b: the src side would hold 300,000 IPv6 prefixes, more than the 262,144 it can/,
    );
    assert.ok(performance.now() - t0 < 5000);
    assert.deepEqual(
      h.d.listLists().map((l) => l.name),
      ["a"],
    );
    assert.throws(
      () => h.d.addList({ name: "x y", side: "src", prefixes: "198.18.0.0/24" }),
      /list "x y": a name is/,
    );
    assert.throws(
      () => h.d.addList({ name: "x", side: "both", prefixes: "198.18.0.0/24" }),
      /list x: side must be src or dst/,
    );
    assert.throws(() => h.d.addList({ name: "x", side: "src" }), /list x: 'prefixes' is required/);
    assert.throws(() => h.d.deleteList({ name: "nope" }), /list nope: no such list \(lists: a\)/);
  });

  test("a reloaded list swaps in whole and keeps the hit counts of prefixes it keeps", () => {
    clear();
    h.d.addList({ name: "bl", side: "src", prefixes: "198.19.0.0/24\n198.19.1.0/24" });
    for (let i = 0; i < 3; i++) verdict("198.19.0.9");
    const before = trieId("src");
    h.d.addList({ name: "bl", side: "src", prefixes: "198.19.0.0/24\n198.19.2.0/24" });
    assert.notEqual(trieId("src"), before, "a new trie");
    assert.equal(verdict("198.19.1.9"), "pass");
    assert.equal(verdict("198.19.2.9"), "drop");
    assert.equal(h.d.listLists()[0].packets, 4, "three before the reload, one after");
  });

  test("a single entry overrides a list; deleting it gives the list's action back", () => {
    clear();
    h.d.addList({ name: "bl", side: "src", prefixes: "198.19.0.0/16" });
    verdict("198.19.3.3");
    h.d.addSingle("src", { prefix: "198.19.0.0/16", action: "allow" });
    assert.equal(verdict("198.19.3.3"), "pass");
    assert.equal(h.d.listSingles("src")[0].overrides, "bl");
    h.d.deleteSingle("src", { prefix: "198.19.0.0/16" });
    assert.equal(verdict("198.19.3.3"), "drop");
  });

  test("a new control plane takes over the maps: singles from their records, lists replayed", () => {
    clear();
    h.d.addSingle("src", { prefix: "198.18.44.0/24" });
    h.d.addSingle("dst", { prefix: "fd00:44::/32", action: "allow" });
    h.d.addList({ name: "bl", side: "src", prefixes: "198.19.0.0/16" });
    verdict("198.19.1.1");
    verdict("198.18.44.4");
    h.d.destroy();
    // What the hypervisor does after a restart: entries replayed, then init.
    const d2 = new Ddos(h.ctx);
    d2.addList({ name: "bl", side: "src", prefixes: "198.19.0.0/16" });
    d2.start();
    h.d = d2;
    assert.deepEqual(
      d2.listSingles("src").map((e) => [e.prefix, e.packets]),
      [["198.18.44.0/24", 1]],
    );
    assert.deepEqual(
      d2.listSingles("dst").map((e) => [e.prefix, e.action]),
      [["fd00:44::/32", "allow"]],
    );
    assert.equal(d2.listLists()[0].packets, 1);
    assert.equal(verdict("198.19.1.1"), "drop");
    assert.equal(verdict("198.18.44.4"), "drop");
  });
});
