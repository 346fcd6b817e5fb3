// attach(): the same traffic scenarios through BPF links and through the netlink fallback.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import {
  type AttachBackend,
  type Attachment,
  attach,
  defaultAttachBackend,
  haveTcxLinks,
  haveXdpLinks,
  queryTcx,
  setAttachBackend,
} from "../../src/bpf/link/index.js";
import { listTcFilters, queryXdp } from "../../src/bpf/netlink/index.js";
import { NetlinkError, NotSupportedError, PlexusBpfError } from "../../src/bpf/errors.js";
import { ENODEV } from "../../src/bpf/sys/errno.js";
import { ping, withNetns } from "../../src/testbed/netns.js";
import { Slot } from "./support/programs.js";
import { scenario, waitFor } from "./support/scenario.js";

afterEach(() => {
  setAttachBackend(undefined);
  delete process.env.PLEXUS_ATTACH_BACKEND;
});

test("this kernel has XDP and TCX links, so 'auto' means links", () => {
  assert.equal(haveXdpLinks(), true);
  assert.equal(haveTcxLinks(), true);
  assert.equal(defaultAttachBackend(), "auto");
});

test("the backend is forced by setAttachBackend, else PLEXUS_ATTACH_BACKEND; an explicit one wins", () =>
  scenario(async (net, fx) => {
    const prog = await fx.load("xdp_count_a");
    const backendOf = (opts?: { backend?: AttachBackend }) =>
      withNetns(net.b.ns, () => {
        const a = attach(prog, net.b.ifname, { kind: "xdp", mode: "generic" }, opts);
        a.detach();
        return a.backend;
      });
    assert.equal(backendOf(), "link");
    process.env.PLEXUS_ATTACH_BACKEND = "netlink";
    assert.equal(backendOf(), "netlink");
    assert.equal(backendOf({ backend: "link" }), "link");
    setAttachBackend("link");
    assert.equal(backendOf(), "link", "the setter beats the environment");
    setAttachBackend(undefined);
    process.env.PLEXUS_ATTACH_BACKEND = "bogus";
    assert.throws(() => backendOf(), PlexusBpfError);
  }));

for (const backend of ["link", "netlink"] as const) {
  const run = (fn: Parameters<typeof scenario>[0]) => () => {
    setAttachBackend(backend);
    return scenario(fn);
  };

  for (const mode of ["native", "generic"] as const) {
    test(
      `[${backend}] XDP ${mode}: counts every echo request, describe() says how, detach removes it`,
      run(async (net, fx) => {
        const prog = await fx.load("xdp_count_a");
        const att = withNetns(net.b.ns, () => attach(prog, net.b.ifname, { kind: "xdp", mode }));
        try {
          assert.equal(att.backend, backend);
          const text = withNetns(net.b.ns, () => att.describe());
          assert.match(text, new RegExp(`xdp/${mode} \\(${mode}\\) on ${net.b.ifname}`));
          assert.match(text, backend === "link" ? /via BPF link \d+/ : /via netlink/);
          assert.match(text, new RegExp(`program ${prog.id}$`));
          const r = await ping(net.a.ns, net.b.ipv4, { count: 6, interval: 0.01 });
          assert.equal(r.received, 6, r.output);
          assert.equal(fx.count(Slot.xdp_count_a), 6n);
        } finally {
          withNetns(net.b.ns, () => att.detach());
        }
        assert.equal(withNetns(net.b.ns, () => queryXdp(net.b.ifname)).attached, "none");
        withNetns(net.b.ns, () => att.detach()); // idempotent
      }),
    );
  }

  test(
    `[${backend}] TC ingress and egress count requests and replies`,
    run(async (net, fx) => {
      const inProg = await fx.load("tc_count_a");
      const outProg = await fx.load("tc_count_b");
      const atts = withNetns(net.b.ns, () => [
        attach(inProg, net.b.ifname, { kind: "tc", direction: "ingress" }),
        attach(outProg, net.b.ifname, { kind: "tc", direction: "egress" }),
      ]);
      try {
        assert.deepEqual(
          atts.map((a) => a.backend),
          [backend, backend],
        );
        const r = await ping(net.a.ns, net.b.ipv4, { count: 5, interval: 0.01 });
        assert.equal(r.received, 5, r.output);
        assert.equal(fx.count(Slot.tc_count_a), 5n);
        assert.equal(fx.count(Slot.tc_count_b), 5n);
        if (backend === "netlink")
          assert.match(
            withNetns(net.b.ns, () => atts[0].describe()),
            /clsact, cls_bpf prio \d+ handle \d+/,
          );
      } finally {
        withNetns(net.b.ns, () => atts.forEach((a) => a.detach()));
      }
      if (backend === "netlink")
        assert.deepEqual(
          withNetns(net.b.ns, () => listTcFilters(net.b.ifname, "ingress")),
          [],
        );
    }),
  );

  for (const kind of ["xdp", "tc"] as const) {
    test(
      `[${backend}] ${kind}: update() under a continuous ping loses no reply and the new program takes over`,
      run(async (net, fx) => {
        const [a, b, slotA, slotB] =
          kind === "xdp"
            ? [await fx.load("xdp_count_a"), await fx.load("xdp_count_b"), Slot.xdp_count_a, Slot.xdp_count_b]
            : [await fx.load("tc_count_a"), await fx.load("tc_count_c"), Slot.tc_count_a, Slot.tc_count_c];
        const hook =
          kind === "xdp" ? ({ kind, mode: "native" } as const) : ({ kind, direction: "ingress" } as const);
        const att: Attachment = withNetns(net.b.ns, () => attach(a, net.b.ifname, hook));
        try {
          const pinging = ping(net.a.ns, net.b.ipv4, { count: 200, interval: 0.01 });
          await waitFor(() => fx.count(slotA) >= 50n, "50 requests through the first program");
          withNetns(net.b.ns, () => att.update(b));
          const aAtSwap = fx.count(slotA);
          const r = await pinging;
          assert.deepEqual([r.transmitted, r.received], [200, 200], r.output);
          const [countA, countB] = [fx.count(slotA), fx.count(slotB)];
          assert.ok(countB > 100n, `the new program counts (${countB})`);
          assert.ok(countA - aAtSwap <= 1n, "the old program stops at the swap");
          assert.equal(countA + countB, 200n, "each request seen by exactly one program");
          assert.match(
            withNetns(net.b.ns, () => att.describe()),
            new RegExp(`program ${b.id}$`),
          );
        } finally {
          withNetns(net.b.ns, () => att.detach());
        }
      }),
    );
  }

  test(
    `[${backend}] an XDP_DROP program makes pings fail and detach() restores them`,
    run(async (net, fx) => {
      const drop = await fx.load("xdp_drop_echo");
      const att = withNetns(net.b.ns, () => attach(drop, net.b.ifname, { kind: "xdp" }));
      try {
        const r = await ping(net.a.ns, net.b.ipv6, { count: 3, interval: 0.01, wait: 0.3 });
        assert.deepEqual([r.transmitted, r.received], [3, 0], r.output);
      } finally {
        withNetns(net.b.ns, () => att.detach());
      }
      const back = await ping(net.a.ns, net.b.ipv6, { count: 3, interval: 0.01 });
      assert.equal(back.received, 3, back.output);
    }),
  );
}

test("[netlink] attach() refuses a program another tool attached, and takes it over with replace", () =>
  scenario(async (net, fx) => {
    const theirs = await fx.load("xdp_count_a");
    const mine = await fx.load("xdp_count_b");
    withNetns(net.b.ns, () => {
      const other = attach(theirs, net.b.ifname, { kind: "xdp" }, { backend: "netlink" });
      assert.throws(
        () => attach(mine, net.b.ifname, { kind: "xdp" }, { backend: "netlink" }),
        (e: unknown) =>
          e instanceof NetlinkError && e.message.includes(`attached by another tool (id ${theirs.id})`),
      );
      assert.throws(
        () => attach(mine, net.b.ifname, { kind: "xdp" }, { backend: "link" }),
        /attached by another tool/,
      );
      assert.throws(
        () => attach(mine, net.b.ifname, { kind: "xdp" }, { backend: "link", replace: true }),
        /replace needs the netlink backend/,
      );
      const att = attach(mine, net.b.ifname, { kind: "xdp" }, { replace: true });
      assert.equal(att.backend, "netlink", "'auto' with replace goes through netlink");
      assert.equal(queryXdp(net.b.ifname).progId, mine.id);
      assert.throws(() => other.detach(), NetlinkError, "the displaced attachment no longer owns the hook");
      att.detach();
    });
  }));

test("TC before/after ordering needs TCX: over netlink it is refused with what to use instead", () =>
  scenario(async (net, fx) => {
    const a = await fx.load("tc_count_a");
    const b = await fx.load("tc_count_c");
    withNetns(net.b.ns, () => {
      const first = attach(a, net.b.ifname, { kind: "tc", direction: "ingress" }, { backend: "link" });
      try {
        const second = attach(b, net.b.ifname, { kind: "tc", direction: "ingress", before: first.link }, {});
        assert.equal(second.backend, "link");
        assert.deepEqual(
          queryTcx(net.b.ifname, "ingress").entries.map((e) => e.progId),
          [b.id, a.id],
          "before: the first attachment's link",
        );
        second.detach();
        assert.throws(
          () =>
            attach(b, net.b.ifname, { kind: "tc", direction: "ingress", before: a }, { backend: "netlink" }),
          (e: unknown) => e instanceof NotSupportedError && /priority/.test(e.message),
        );
      } finally {
        first.detach();
      }
    });
  }));

test("attach() on a missing interface names it", () =>
  scenario(async (_net, fx) => {
    const prog = await fx.load("xdp_count_a");
    for (const backend of ["link", "netlink"] as const)
      assert.throws(
        () => attach(prog, "pxmissing0", { kind: "xdp" }, { backend }),
        (e: unknown) => e instanceof NetlinkError && e.errno === ENODEV && e.message.includes('"pxmissing0"'),
      );
  }));
