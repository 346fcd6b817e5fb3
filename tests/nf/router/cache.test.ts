// The data plane's route cache (in front of the longest-prefix match for large tables): cached
// destinations follow route changes at once, longest-prefix answers are the trie's, and "auto"
// turns it on for large tables only.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TcAction, XdpAction } from "../../../src/bpf/constants.js";
import { CFG_ROUTE_CACHE, Drop, decodeCfg, u32 } from "../../../nf/router/cp/abi.js";
import { MAC_H1, MAC_P0, eth, ip4, ipv4, ipv6, mac, openRig, udpPayload, type Rig } from "./support.js";

const GW1 = "02:00:00:00:0a:01"; // 198.18.2.10 on p1
const GW0 = "02:00:00:00:0a:02"; // 198.18.1.10 on p0

/** A packet for an unresolved neighbour is handed to the control plane: the verdict is a drop. */
const DROP_OR_CP = (hook: "xdp" | "tc") => (hook === "xdp" ? XdpAction.DROP : TcAction.SHOT);

for (const hook of ["xdp", "tc"] as const) {
  const REDIRECT = hook === "xdp" ? XdpAction.REDIRECT : TcAction.REDIRECT;

  describe(`router route cache (${hook})`, () => {
    let rig: Rig;
    before(async () => {
      rig = await openRig(hook, { config: { routeCache: "on" } });
      rig.router.neighAdd({ address: "198.18.2.10", mac: GW1 });
      rig.router.neighAdd({ address: "198.18.1.10", mac: GW0 });
      rig.router.neighAdd({ address: "fd00:2::10", mac: GW1 });
      rig.router.neighAdd({ address: "fd00:1::10", mac: GW0 });
    });
    after(() => rig.close());

    const to = (dst: string) =>
      rig.t.run(eth(MAC_P0, MAC_H1, 0x0800, ipv4({ src: "198.18.1.1", dst }, udpPayload(8))), 0);
    const to6 = (dst: string) =>
      rig.t.run(eth(MAC_P0, MAC_H1, 0x86dd, ipv6({ src: "fd00:1::1", dst }, udpPayload(8))), 0);

    test("cached destinations follow every route change at once", () => {
      rig.router.routeAdd({ prefix: "198.19.0.0/16", via: "198.18.2.10" });
      const r1 = to("198.19.1.1");
      assert.equal(r1.retval, REDIRECT);
      assert.deepEqual(r1.data.subarray(0, 6), mac(GW1));
      assert.ok(rig.t.map("rtr_rcache4").lookup(ip4("198.19.1.1")), "the answer is cached");
      assert.deepEqual(to("198.19.1.1").data.subarray(0, 6), mac(GW1), "and used");

      rig.router.routeAdd({ prefix: "198.19.0.0/16", via: "198.18.1.10" });
      assert.deepEqual(to("198.19.1.1").data.subarray(0, 6), mac(GW0), "replaced route");
      rig.router.routeAdd({ prefix: "198.19.1.0/24", via: "198.18.2.10" });
      assert.deepEqual(to("198.19.1.1").data.subarray(0, 6), mac(GW1), "a more specific route");
      assert.deepEqual(to("198.19.2.1").data.subarray(0, 6), mac(GW0), "the rest of the /16");
      rig.router.routeDelete({ prefix: "198.19.1.0/24" });
      rig.router.routeDelete({ prefix: "198.19.0.0/16" });
      assert.deepEqual(to("198.19.1.1").drops, [Drop.NO_ROUTE], "gone");

      rig.router.routeAdd({ prefix: "fd00:99::/32", via: "fd00:2::10" });
      assert.deepEqual(to6("fd00:99::1").data.subarray(0, 6), mac(GW1));
      rig.router.routeAdd({ prefix: "fd00:99::/48", via: "fd00:1::10" });
      assert.deepEqual(to6("fd00:99::1").data.subarray(0, 6), mac(GW0));
      rig.router.routeDelete({ prefix: "fd00:99::/48" });
      rig.router.routeDelete({ prefix: "fd00:99::/32" });
      assert.deepEqual(to6("fd00:99::1").drops, [Drop.NO_ROUTE]);
    });

    test("port address changes reach cached destinations too", () => {
      assert.equal(to("198.18.2.77").retval, DROP_OR_CP(hook), "connected, unresolved: to the control plane");
      rig.ctx.portList = [rig.ctx.portList[0]];
      rig.router.applyPorts();
      assert.deepEqual(to("198.18.2.77").drops, [Drop.NO_ROUTE], "the subnet went with p1's address");
      rig.ctx.portList = [
        rig.ctx.portList[0],
        {
          name: "p1",
          index: 1,
          config: { ipv4: ["198.18.2.254/24"], ipv6: ["fd00:2::fe/64"], mac: "02:00:00:00:02:fe" },
        },
      ];
      rig.router.applyPorts();
      rig.router.neighAdd({ address: "198.18.2.10", mac: GW1 });
      rig.router.routeAdd({ prefix: "198.19.0.0/16", via: "198.18.2.10" });
      assert.equal(to("198.19.3.3").retval, REDIRECT);
      rig.router.routeDelete({ prefix: "198.19.0.0/16" });
    });
  });
}

describe("router route cache: auto", () => {
  let rig: Rig;
  before(async () => {
    rig = await openRig("xdp");
  });
  after(() => rig.close());

  const cacheOn = () =>
    (decodeCfg(rig.t.map("rtr_cfg").lookup(u32(0)) ?? Buffer.alloc(24)).flags & CFG_ROUTE_CACHE) !== 0;

  test("on for large tables only", () => {
    assert.equal(cacheOn(), false, "a few routes: straight to the trie");
    const entries = Array.from({ length: 2000 }, (_, i) => ({
      prefix: `198.19.${i >> 8}.${i & 0xff}/32`,
      via: "198.18.2.10",
    }));
    rig.router.routeAddMany(entries);
    assert.equal(cacheOn(), true, "2,000 routes: through the cache");
    for (const e of entries) rig.router.routeDelete({ prefix: e.prefix });
    assert.equal(cacheOn(), false);
  });
});
