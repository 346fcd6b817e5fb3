// The rtnetlink client and the netlink way of attaching XDP and TC programs.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AttrBuilder,
  Attrs,
  NetlinkSocket,
  attachTcFilter,
  attachXdpNetlink,
  detachTcFilter,
  detachXdpNetlink,
  ensureClsact,
  listTcFilters,
  parseMessages,
  queryXdp,
  replaceTcFilter,
  replaceXdpNetlink,
  resolveInterface,
  rootIngressQdisc,
} from "../../src/bpf/netlink/index.js";
import { NetlinkError } from "../../src/bpf/errors.js";
import { EBUSY, EEXIST, ENODEV } from "../../src/bpf/sys/errno.js";
import { exec, ping, withNetns } from "../../src/testbed/netns.js";
import { Slot } from "./support/programs.js";
import { scenario } from "./support/scenario.js";

test("attributes: nested build and parse round-trip with 4-byte alignment", () => {
  const buf = new AttrBuilder()
    .u8(1, 7)
    .string(2, "bpf")
    .nested(3, (n) => n.u32(1, 0xdeadbeef).s32(2, -1).u16(3, 513))
    .bytes(4, new Uint8Array([1, 2, 3, 4, 5]))
    .finish();
  assert.equal(buf.length % 4, 0);
  assert.equal(buf.readUInt16LE(0), 5, "u8 attribute: 4-byte header + 1 byte");
  assert.equal(buf.readUInt16LE(8), 8, "string with its NUL");
  assert.ok(buf.readUInt16LE(18) & 0x8000, "nested attributes carry NLA_F_NESTED");
  const a = Attrs.parse(buf);
  assert.equal(a.u8(1), 7);
  assert.equal(a.string(2), "bpf");
  const n = a.nested(3);
  assert.deepEqual([n?.u32(1), n?.s32(2)], [0xdeadbeef, -1]);
  assert.deepEqual([...(a.bytes(4) ?? [])], [1, 2, 3, 4, 5]);
  assert.equal(a.has(9), false);
});

test("attributes and messages: lengths that overrun the buffer are protocol errors, not crashes", () => {
  const bad = Buffer.from([0x40, 0, 1, 0, 0, 0, 0, 0]);
  assert.throws(() => Attrs.parse(bad), NetlinkError);
  assert.throws(() => Attrs.parse(Buffer.from([2, 0, 1, 0])), NetlinkError, "shorter than a header");
  const msg = Buffer.alloc(16);
  msg.writeUInt32LE(4096, 0);
  assert.throws(() => parseMessages(msg), NetlinkError);
  assert.deepEqual(parseMessages(Buffer.alloc(0)), []);
});

test("a refused request carries the kernel's extended ack message", () =>
  scenario(async (net, fx) => {
    const prog = await fx.load("xdp_count_a");
    withNetns(net.b.ns, () => {
      const ifindex = resolveInterface(net.b.ifname).ifindex;
      // IFLA_XDP {FD, FLAGS}, sent by hand: the second one, with UPDATE_IF_NOEXIST, is refused.
      const setXdp = (flags: number) => {
        const attrs = new AttrBuilder().nested(43, (x) => x.s32(1, prog.fd).u32(3, flags)).finish();
        const body = Buffer.concat([Buffer.alloc(16), attrs]);
        body.writeInt32LE(ifindex, 4);
        return NetlinkSocket.with((s) => s.request("set xdp", 19, 0, body));
      };
      const SKB_MODE = 2;
      const UPDATE_IF_NOEXIST = 1;
      assert.deepEqual(setXdp(SKB_MODE), [], "an ACK and nothing else");
      assert.throws(
        () => setXdp(SKB_MODE | UPDATE_IF_NOEXIST),
        (e: unknown) =>
          e instanceof NetlinkError && e.errno === EBUSY && e.extack === "XDP program already attached",
      );
      detachXdpNetlink(ifindex, { mode: "generic" });
    });
  }));

test("interfaces resolve by name and index inside the caller's namespace", () =>
  scenario(async (net) => {
    const byName = withNetns(net.a.ns, () => resolveInterface(net.a.ifname));
    assert.deepEqual(byName, { ifindex: net.a.ifindex, name: net.a.ifname });
    assert.deepEqual(
      withNetns(net.a.ns, () => resolveInterface(net.a.ifindex)),
      byName,
    );
    assert.throws(
      () => resolveInterface(net.a.ifname), // not in the root namespace
      (e: unknown) => e instanceof NetlinkError && e.errno === ENODEV && e.message.includes(net.a.ifname),
    );
  }));

for (const mode of ["native", "generic"] as const) {
  test(`netlink XDP (${mode}): attach, count pings, replace only the expected program, detach`, () =>
    scenario(async (net, fx) => {
      const a = await fx.load("xdp_count_a");
      const b = await fx.load("xdp_count_b");
      await withNetns(net.b.ns, async () => {
        const att = attachXdpNetlink(a, net.b.ifname, { mode });
        assert.deepEqual([att.mode, att.progId], [mode, a.id]);
        assert.equal(queryXdp(net.b.ifname).attached, mode);
        const r = await ping(net.a.ns, net.b.ipv4, { count: 4, interval: 0.01 });
        assert.equal(r.received, 4, r.output);
        assert.equal(fx.count(Slot.xdp_count_a), 4n);

        // Attaching again without replace is a conflict that names the program and the fix.
        assert.throws(
          () => attachXdpNetlink(b, net.b.ifname, { mode }),
          (e: unknown) =>
            e instanceof NetlinkError &&
            e.errno === EBUSY &&
            e.message.includes(`attached by another tool (id ${a.id})`) &&
            e.message.includes(
              `ip link set dev ${net.b.ifname} ${mode === "native" ? "xdpdrv" : "xdpgeneric"} off`,
            ),
        );
        // Replace with the wrong expected program is refused; with the right one it swaps.
        assert.throws(
          () => replaceXdpNetlink(b, net.b.ifname, { mode, expected: b }),
          (e: unknown) => e instanceof NetlinkError && e.errno === EEXIST,
        );
        replaceXdpNetlink(b, net.b.ifname, { mode, expected: a });
        assert.equal(queryXdp(net.b.ifname).progId, b.id);
        await ping(net.a.ns, net.b.ipv4, { count: 3, interval: 0.01 });
        assert.equal(fx.count(Slot.xdp_count_b), 3n);
        assert.equal(fx.count(Slot.xdp_count_a), 4n);

        detachXdpNetlink(net.b.ifname, { mode, expected: b });
        assert.equal(queryXdp(net.b.ifname).attached, "none");
      });
    }));
}

test("netlink XDP: attach with replace takes over another tool's program", () =>
  scenario(async (net, fx) => {
    const a = await fx.load("xdp_count_a");
    const b = await fx.load("xdp_count_b");
    withNetns(net.b.ns, () => {
      attachXdpNetlink(a, net.b.ifname, { mode: "generic" });
      attachXdpNetlink(b, net.b.ifname, { mode: "generic", replace: true });
      assert.equal(queryXdp(net.b.ifname).progId, b.id);
      assert.throws(() => attachXdpNetlink(a, net.b.ifname, { mode: "generic", replace: a }), NetlinkError);
      detachXdpNetlink(net.b.ifname, { mode: "generic" });
    });
  }));

test("netlink TC: clsact + direct-action cls_bpf filters count ingress and egress, list, replace, delete", () =>
  scenario(async (net, fx) => {
    const inA = await fx.load("tc_count_a");
    const outB = await fx.load("tc_count_b");
    const inC = await fx.load("tc_count_c");
    await withNetns(net.b.ns, async () => {
      assert.equal(rootIngressQdisc(net.b.ifname), undefined);
      const fIn = attachTcFilter(inA, net.b.ifname, "ingress", { priority: 10, name: "count_in" });
      const fOut = attachTcFilter(outB, net.b.ifname, "egress");
      assert.equal(rootIngressQdisc(net.b.ifname), "clsact", "created on first use");
      assert.equal(ensureClsact(net.b.ifname), false, "present: left alone");
      assert.deepEqual(
        [fIn.kind, fIn.progId, fIn.priority, fIn.direction, fIn.directAction, fIn.name],
        ["bpf", inA.id, 10, "ingress", true, "count_in"],
      );
      assert.ok(fOut.priority > 0 && fOut.handle > 0, "kernel-chosen priority and handle are reported");

      const r = await ping(net.a.ns, net.b.ipv6, { count: 5, interval: 0.01 });
      assert.equal(r.received, 5, r.output);
      assert.equal(fx.count(Slot.tc_count_a), 5n, "requests on ingress");
      assert.equal(fx.count(Slot.tc_count_b), 5n, "replies on egress");

      // A second ingress filter at a higher priority number runs after the first.
      const fIn2 = attachTcFilter(inC, net.b.ifname, "ingress", { priority: 20 });
      assert.deepEqual(
        listTcFilters(net.b.ifname, "ingress").map((f) => [f.priority, f.progId]),
        [
          [10, inA.id],
          [20, inC.id],
        ],
      );
      assert.throws(
        () => attachTcFilter(inC, net.b.ifname, "ingress", { priority: 10, handle: fIn.handle }),
        (e: unknown) => e instanceof NetlinkError && e.errno === EEXIST,
      );

      const swapped = replaceTcFilter(inC, fIn);
      assert.deepEqual([swapped.progId, swapped.priority, swapped.handle], [inC.id, 10, fIn.handle]);
      detachTcFilter(fIn2);
      detachTcFilter(swapped);
      assert.throws(
        () => replaceTcFilter(inA, swapped),
        (e: unknown) => e instanceof NetlinkError && e.errno === 2,
        "replacing a deleted filter does not bring it back",
      );
      assert.deepEqual(listTcFilters(net.b.ifname, "ingress"), []);
      assert.equal(listTcFilters(net.b.ifname, "egress").length, 1);
      detachTcFilter(fOut);
      assert.deepEqual(listTcFilters(net.b.ifname, "egress"), []);
    });
  }));

test("netlink TC: an existing clsact qdisc and the filters in it are kept", () =>
  scenario(async (net, fx) => {
    // Another tool's qdisc and filter (u32 is the classifier this kernel has besides cls_bpf).
    await exec(net.b.ns, "tc", ["qdisc", "add", "dev", net.b.ifname, "clsact"]);
    const u32 = ["pref", "5", "u32", "match", "u32", "0", "0", "classid", "1:1"];
    await exec(net.b.ns, "tc", ["filter", "add", "dev", net.b.ifname, "ingress", ...u32]);
    const prog = await fx.load("tc_count_a");
    withNetns(net.b.ns, () => {
      const theirs = listTcFilters(net.b.ifname, "ingress");
      assert.ok(theirs.length > 0 && theirs.every((x) => x.kind === "u32" && x.priority === 5));
      assert.equal(ensureClsact(net.b.ifname), false);
      const f = attachTcFilter(prog, net.b.ifname, "ingress", { priority: 7 });
      assert.deepEqual(
        listTcFilters(net.b.ifname, "ingress").map((x) => [x.priority, x.kind]),
        [...theirs.map(() => [5, "u32"]), [7, "bpf"]],
      );
      detachTcFilter(f);
      assert.deepEqual(listTcFilters(net.b.ifname, "ingress"), theirs);
      assert.equal(rootIngressQdisc(net.b.ifname), "clsact");
    });
  }));

test("netlink TC: an ingress qdisc where clsact belongs is a clear error", () =>
  scenario(async (net, fx) => {
    await exec(net.b.ns, "tc", ["qdisc", "add", "dev", net.b.ifname, "ingress"]);
    const prog = await fx.load("tc_count_a");
    withNetns(net.b.ns, () =>
      assert.throws(
        () => attachTcFilter(prog, net.b.ifname, "egress"),
        (e: unknown) =>
          e instanceof NetlinkError && /"ingress" qdisc/.test(e.message) && /tc qdisc del/.test(e.message),
      ),
    );
  }));
