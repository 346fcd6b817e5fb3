// TCX links: counting real traffic on ingress and egress, and the order of a chain.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type TcxLink, attachTcx, queryTcx } from "../../src/bpf/link/index.js";
import { BpfError } from "../../src/bpf/errors.js";
import { ping, withNetns } from "../../src/testbed/netns.js";
import { Slot } from "./support/programs.js";
import { scenario } from "./support/scenario.js";

test("TCX ingress and egress programs see every echo request and reply", () =>
  scenario(async (net, fx) => {
    const inProg = await fx.load("tc_count_a");
    const outProg = await fx.load("tc_count_b");
    const links = withNetns(net.b.ns, () => [
      attachTcx(inProg, net.b.ifname, "ingress"),
      attachTcx(outProg, net.b.ifname, "egress"),
    ]);
    try {
      const [inInfo, outInfo] = links.map((l) => l.info());
      assert.deepEqual(
        [inInfo.typeName, inInfo.direction, inInfo.ifindex, inInfo.progId],
        ["tcx", "ingress", net.b.ifindex, inProg.id],
      );
      assert.deepEqual([outInfo.direction, outInfo.progId], ["egress", outProg.id]);
      const v4 = await ping(net.a.ns, net.b.ipv4, { count: 4, interval: 0.01 });
      const v6 = await ping(net.a.ns, net.b.ipv6, { count: 4, interval: 0.01 });
      assert.equal(v4.received + v6.received, 8, v4.output + v6.output);
      assert.equal(fx.count(Slot.tc_count_a), 8n, "ingress: the echo requests");
      assert.equal(fx.count(Slot.tc_count_b), 8n, "egress: the echo replies");
    } finally {
      links.forEach((l) => l.close());
    }
    const left = withNetns(net.b.ns, () => queryTcx(net.b.ifname, "ingress"));
    assert.deepEqual(left.entries, [], "closing the links empties the chain");
  }));

test("TCX ordering: first, last, before/after a link, a program or an id, as the query reports", () =>
  scenario(async (net, fx) => {
    // Seven distinct programs (the same code loaded again is another program).
    const [A, B, C, D, E, F, G] = await Promise.all(Array.from({ length: 7 }, () => fx.load("tc_count_a")));
    const links: TcxLink[] = [];
    const on = <T>(fn: () => T): T => withNetns(net.b.ns, fn);
    const attach = (p: typeof A, opts?: Parameters<typeof attachTcx>[3]): TcxLink =>
      on(() => {
        const l = attachTcx(p, net.b.ifname, "ingress", opts);
        links.push(l);
        return l;
      });
    const order = () => on(() => queryTcx(net.b.ifname, "ingress"));
    try {
      const la = attach(A);
      const lb = attach(B, { first: true });
      attach(C, { after: la });
      attach(D, { before: { progId: C.id } });
      attach(E, { after: { linkId: lb.id } });
      attach(F, { before: A });
      const r0 = order().revision;
      attach(G, { last: true });
      const chain = order();
      assert.deepEqual(
        chain.entries.map((e) => e.progId),
        [B, E, F, A, D, C, G].map((p) => p.id),
      );
      assert.deepEqual(
        chain.entries.map((e) => e.linkId),
        [1, 4, 5, 0, 3, 2, 6].map((i) => links[i].id),
      );
      assert.equal(chain.revision, r0 + 1n, "each change bumps the revision");

      // expectedRevision: refused when stale, accepted when current.
      const H = await fx.load("tc_count_c");
      assert.throws(
        () => attach(H, { first: true, expectedRevision: r0 }),
        (e: unknown) => e instanceof BpfError && e.errno === 116 && /changed/.test(e.message),
      );
      attach(H, { first: true, expectedRevision: chain.revision });
      assert.equal(order().entries[0].progId, H.id);

      // Closing a link in the middle removes just that program.
      links[0].close();
      assert.deepEqual(
        order().entries.map((e) => e.progId),
        [H, B, E, F, D, C, G].map((p) => p.id),
      );

      // A program cannot be in the same chain twice; an anchor must be in the chain.
      assert.throws(
        () => attach(B),
        (e: unknown) => e instanceof BpfError && /already/.test(e.message),
      );
      const outsider = await fx.load("tc_count_c");
      assert.throws(
        () => attach(outsider, { before: { progId: A.id } }),
        (e: unknown) => e instanceof BpfError && /not in the TCX ingress/.test(e.message),
      );
      assert.throws(() => attach(outsider, { first: true, last: true }), /at most one/);
    } finally {
      links.forEach((l) => l.close());
    }
  }));
