// XDP through BPF links, with real ping traffic between two throw-away namespaces.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { Link, attachXdp } from "../../src/bpf/link/index.js";
import { attachXdpNetlink, detachXdpNetlink, queryXdp } from "../../src/bpf/netlink/index.js";
import { BpfError, NetlinkError, PinError } from "../../src/bpf/errors.js";
import { EBUSY, ENODEV } from "../../src/bpf/sys/errno.js";
import { mountBpffs } from "../../src/testbed/bpffs.js";
import { ping, withNetns } from "../../src/testbed/netns.js";
import { Slot } from "./support/programs.js";
import { scenario, waitFor } from "./support/scenario.js";

for (const mode of ["native", "generic"] as const) {
  test(`XDP link (${mode}) sees every echo request a ping sends`, () =>
    scenario(async (net, fx) => {
      const prog = await fx.load("xdp_count_a");
      const link = withNetns(net.b.ns, () => attachXdp(prog, net.b.ifname, { mode }));
      try {
        const info = link.info();
        assert.equal(info.typeName, "xdp");
        assert.equal(info.ifindex, net.b.ifindex);
        assert.equal(info.progId, prog.id);
        const state = withNetns(net.b.ns, () => queryXdp(net.b.ifname));
        assert.equal(state.attached, mode);
        assert.equal(state.progId, prog.id);

        const v4 = await ping(net.a.ns, net.b.ipv4, { count: 5, interval: 0.01 });
        const v6 = await ping(net.a.ns, net.b.ipv6, { count: 5, interval: 0.01 });
        assert.equal(v4.received + v6.received, 10, v4.output + v6.output);
        assert.equal(fx.count(Slot.xdp_count_a), 10n, "one count per echo request, IPv4 and IPv6");
      } finally {
        link.close();
      }
      const after = withNetns(net.b.ns, () => queryXdp(net.b.ifname));
      assert.equal(after.attached, "none", "closing the only fd of an unpinned link detaches it");
    }));
}

test("update() swaps the program under a continuous ping without losing a reply", () =>
  scenario(async (net, fx) => {
    const a = await fx.load("xdp_count_a");
    const b = await fx.load("xdp_count_b");
    const link = withNetns(net.b.ns, () => attachXdp(a, net.b.ifindex, { mode: "native" }));
    try {
      const pinging = ping(net.a.ns, net.b.ipv4, { count: 200, interval: 0.01 });
      await waitFor(() => fx.count(Slot.xdp_count_a) >= 50n, "50 requests through the first program");
      link.update(b, { oldProg: a });
      const aAtSwap = fx.count(Slot.xdp_count_a);
      const r = await pinging;
      assert.equal(r.transmitted, 200);
      assert.equal(r.received, 200, r.output);
      const countA = fx.count(Slot.xdp_count_a);
      const countB = fx.count(Slot.xdp_count_b);
      assert.ok(countB > 100n, `the new program counts (${countB})`);
      assert.ok(countA - aAtSwap <= 1n, "the old program stops at the swap");
      assert.equal(countA + countB, 200n, "every request seen by exactly one of them");
      assert.equal(link.info().progId, b.id);
      assert.throws(() => link.update(a, { oldProg: a }), BpfError, "oldProg must be the attached one");
    } finally {
      link.close();
    }
  }));

test("an XDP_DROP program makes pings fail and detach() restores them", () =>
  scenario(async (net, fx) => {
    const drop = await fx.load("xdp_drop_echo");
    const link = withNetns(net.b.ns, () => attachXdp(drop, net.b.ifname));
    try {
      const dropped = await ping(net.a.ns, net.b.ipv4, { count: 3, interval: 0.01, wait: 0.3 });
      assert.deepEqual([dropped.transmitted, dropped.received], [3, 0], dropped.output);
      assert.equal(fx.count(Slot.xdp_drop_echo), 3n);
      link.detach();
      assert.equal(link.info().ifindex, 0, "a detached XDP link no longer names the interface");
      const back = await ping(net.a.ns, net.b.ipv4, { count: 3, interval: 0.01 });
      assert.equal(back.received, 3, back.output);
      assert.equal(fx.count(Slot.xdp_drop_echo), 3n, "the program no longer runs");
    } finally {
      link.close();
    }
  }));

test("a pinned link survives closing its fd; openPinned + detach removes it", () =>
  scenario(async (net, fx) => {
    const bpffs = mountBpffs();
    try {
      const prog = await fx.load("xdp_count_a");
      const pin = join(bpffs.path, "xdp_link");
      const link = withNetns(net.b.ns, () => attachXdp(prog, net.b.ifname, { mode: "generic" }));
      const id = link.id;
      assert.throws(() => link.pin("/tmp/px-not-bpffs"), PinError, "only a bpffs takes pins");
      link.pin(pin);
      assert.throws(() => link.pin(pin), PinError, "the path is taken");
      link.close();
      assert.throws(() => link.fd, /closed/);
      assert.equal(withNetns(net.b.ns, () => queryXdp(net.b.ifname)).progId, prog.id, "still attached");
      await ping(net.a.ns, net.b.ipv4, { count: 2, interval: 0.01 });
      assert.equal(fx.count(Slot.xdp_count_a), 2n);

      const again = Link.openPinned(pin);
      try {
        assert.equal(again.id, id);
        assert.equal(again.typeName, "xdp");
        assert.equal(again.info().ifindex, net.b.ifindex);
        again.detach();
        again.unpin();
      } finally {
        again.close();
      }
      assert.equal(withNetns(net.b.ns, () => queryXdp(net.b.ifname)).attached, "none");
      assert.throws(() => Link.openPinned(pin), BpfError, "the pin is gone");
      assert.throws(() => Link.fromId(id), BpfError, "and so is the link");
    } finally {
      bpffs.cleanup();
    }
  }));

test("openPinned refuses a pin that is not a link", () => {
  const bpffs = mountBpffs();
  try {
    const path = join(bpffs.path, "map");
    const entries = ["key", "4", "value", "4", "entries", "1", "name", "pxmap"];
    execFileSync("bpftool", ["map", "create", path, "type", "array", ...entries]);
    assert.throws(() => Link.openPinned(path), PinError);
  } finally {
    bpffs.cleanup();
  }
});

test("a missing interface is a typed error that names it", () =>
  scenario(async (_net, fx) => {
    const prog = await fx.load("xdp_count_a");
    assert.throws(
      () => attachXdp(prog, "pxnosuch0"),
      (e: unknown) => e instanceof NetlinkError && e.errno === ENODEV && /"pxnosuch0"/.test(e.message),
    );
    assert.throws(
      () => attachXdp(prog, 999_999),
      (e: unknown) => e instanceof NetlinkError && e.errno === ENODEV && /999999/.test(e.message),
    );
  }));

test("attaching over a program another tool attached with netlink says who holds it and what to do", () =>
  scenario(async (net, fx) => {
    const other = await fx.load("xdp_count_a");
    const mine = await fx.load("xdp_count_b");
    await withNetns(net.b.ns, async () => {
      attachXdpNetlink(other, net.b.ifname, { mode: "native" });
      try {
        assert.throws(
          () => attachXdp(mine, net.b.ifname, { mode: "native" }),
          (e: unknown) =>
            e instanceof BpfError &&
            e.errno === EBUSY &&
            e.message.includes(
              `${net.b.ifname} has an XDP program attached by another tool (id ${other.id})`,
            ) &&
            e.message.includes(`ip link set dev ${net.b.ifname} xdpdrv off`),
        );
        // The other tool's program is untouched.
        assert.equal(queryXdp(net.b.ifname).progId, other.id);
      } finally {
        detachXdpNetlink(net.b.ifname, { mode: "native" });
      }
    });
  }));

test("attaching with netlink over an XDP link names the link", () =>
  scenario(async (net, fx) => {
    const linked = await fx.load("xdp_count_a");
    const other = await fx.load("xdp_count_b");
    const link = withNetns(net.b.ns, () => attachXdp(linked, net.b.ifname, { mode: "native" }));
    try {
      assert.throws(
        () =>
          withNetns(net.b.ns, () => attachXdpNetlink(other, net.b.ifname, { mode: "native", replace: true })),
        (e: unknown) => e instanceof NetlinkError && e.errno === EBUSY && /BPF link/.test(e.message),
      );
    } finally {
      link.close();
    }
  }));
