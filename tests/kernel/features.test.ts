// Feature probes: known-supported and known-unsupported answers, and their cache.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HelperId, LinkType, MapType, ProgType } from "../../src/bpf/constants.js";
import { probeHelper, probeLinkType, probeMapType, probeProgType } from "../../src/bpf/features.js";

test("map types: every type this kernel lists is supported, a bogus number is not", () => {
  for (const [name, type] of Object.entries(MapType)) {
    if (type === MapType.UNSPEC) continue;
    assert.equal(probeMapType(type), true, name);
  }
  assert.equal(probeMapType(1000), false);
  const t0 = process.hrtime.bigint();
  probeMapType(1000);
  assert.ok(process.hrtime.bigint() - t0 < 1_000_000n, "answered from the cache");
});

test("program types: networking ones supported, a bogus number not", () => {
  for (const t of [
    ProgType.SOCKET_FILTER,
    ProgType.SCHED_CLS,
    ProgType.XDP,
    ProgType.SK_LOOKUP,
    ProgType.NETFILTER,
  ])
    assert.equal(probeProgType(t), true, String(t));
  assert.equal(probeProgType(999), false);
});

test("helpers: availability depends on the program type", () => {
  assert.equal(probeHelper(ProgType.XDP, HelperId.map_lookup_elem), true);
  assert.equal(probeHelper(ProgType.XDP, HelperId.ringbuf_output), true);
  assert.equal(probeHelper(ProgType.XDP, HelperId.skb_store_bytes), false, "skb helpers are not for XDP");
  assert.equal(probeHelper(ProgType.SCHED_CLS, HelperId.skb_store_bytes), true);
  assert.equal(probeHelper(ProgType.XDP, 100_000), false, "no such helper");
});

test("link types used by plexus are supported", () => {
  for (const t of [LinkType.XDP, LinkType.TCX, LinkType.CGROUP, LinkType.NETNS, LinkType.NETFILTER])
    assert.equal(probeLinkType(t), true, String(t));
});
