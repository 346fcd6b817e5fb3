// The router's control plane against its real maps (the data plane loaded with NfTestRun) and a
// stand-in InstanceContext: route validation and canonical entries, connected routes following
// port addresses, static routes going inactive and back, conflicts, derived MACs, static
// neighbours, bulk loads, and a restarted control plane adopting what the maps hold.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { XdpAction } from "../../../src/bpf/constants.js";
import { NotFoundError, ValidationError } from "../../../src/core/errors.js";
import controlPlane, { addRoutes } from "../../../nf/router/control.js";
import { RouteType, decodeRoute, fibKey } from "../../../nf/router/cp/abi.js";
import { derivedMac, parseIp } from "../../../nf/router/cp/addr.js";
import { Router } from "../../../nf/router/cp/router.js";
import {
  FakeContext,
  MAC_H1,
  MAC_P0,
  eth,
  ipv4,
  openRig,
  port,
  standardPorts,
  udpPayload,
  type Rig,
} from "./support.js";

function fib(rig: Rig, addr: string) {
  const ip = parseIp(addr);
  assert.ok(ip);
  const v = rig.t
    .map(ip.family === 4 ? "rtr_fib4" : "rtr_fib6")
    .lookup(fibKey(ip.family, ip.addr, ip.family === 4 ? 32 : 128));
  return v && decodeRoute(ip.family, v);
}

function dump(rig: Rig, map: string): string[] {
  return [...rig.t.map(map).entries()].map(([k, v]) => `${k.toString("hex")}=${v.toString("hex")}`).sort();
}

describe("router control plane", () => {
  let rig: Rig;
  before(async () => {
    rig = await openRig("xdp");
  });
  after(() => rig.close());

  test("refuses bad routes with a message that says what to fix", () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ prefix: "198.19.5.1/24", via: "198.18.2.10" }, /host bits set; did you mean 198\.19\.5\.0\/24/],
      [{ prefix: "198.19.5.0/33", via: "198.18.2.10" }, /prefix length 33/],
      [
        { prefix: "198.19.5.0/24", via: "198.18.9.10" },
        /not on a connected subnet \(connected: 198\.18\.1\.0\/24 on p0, 198\.18\.2\.0\/24 on p1\)/,
      ],
      [{ prefix: "198.19.5.0/24", via: "198.18.1.10", port: "p1" }, /not on a connected subnet of port p1/],
      [
        { prefix: "198.19.5.0/24", via: "198.18.2.10", port: "p9" },
        /port p9 does not exist \(ports: p0, p1\)/,
      ],
      [{ prefix: "198.19.5.0/24", via: "fd00:2::10" }, /is IPv6 but the prefix 198\.19\.5\.0\/24 is IPv4/],
      [{ prefix: "fd00:99::/64", via: "fe80::1" }, /link-local: say which port/],
      [{ prefix: "198.19.5.0/24", via: "198.18.2.254" }, /one of the router's own addresses/],
      [{ prefix: "198.19.5.0/24", via: "224.0.0.1" }, /not a unicast address/],
      [{ prefix: "198.19.5.0/24", type: "blackhole", via: "198.18.2.10" }, /takes no via or port/],
      [{ prefix: "198.19.5.0/24", type: "nat" }, /expected one of unicast, blackhole, unreachable, prohibit/],
      [{ prefix: "198.19.5.0/24" }, /needs a next hop \(via ADDRESS\) or a port/],
      [{ prefix: "198.19.5.0/24", via: "198.18.2.10", metric: "high" }, /metric must be an integer/],
      [{ prefix: "198.19.5.0/24", gateway: "198.18.2.10" }, /unknown route field gateway/],
      [{ via: "198.18.2.10" }, /needs a prefix/],
      [{ prefix: "banana", via: "198.18.2.10" }, /not an IPv4 or IPv6 address/],
    ];
    for (const [entry, msg] of bad)
      assert.throws(
        () => rig.router.routeAdd({ ...entry }),
        (e: unknown) => e instanceof ValidationError && msg.test(e.message),
        JSON.stringify(entry),
      );
    assert.equal(rig.router.routeList().filter((r) => r.type !== "connected").length, 0, "nothing was added");
  });

  test("stores routes in canonical form (the entry is rewritten for the hypervisor to record)", () => {
    const entry: Record<string, unknown> = { prefix: "fd00:0099:0000::/48", via: "FD00:2::10", metric: "5" };
    rig.router.routeAdd(entry);
    assert.deepEqual(entry, { prefix: "fd00:99::/48", via: "fd00:2::10", metric: 5, type: "unicast" });
    const listed = rig.router.routeList().find((r) => r.prefix === "fd00:99::/48");
    assert.deepEqual(listed, {
      prefix: "fd00:99::/48",
      via: "fd00:2::10",
      metric: 5,
      type: "unicast",
      port: "p1",
      active: true,
    });
    const r = fib(rig, "fd00:99::1");
    assert.equal(r?.type, RouteType.GATEWAY);
    assert.equal(r?.port, 1);

    // Adding the same prefix again replaces it (what restoring saved entries does).
    rig.router.routeAdd({ prefix: "fd00:99::/48", via: "fd00:1::10" });
    assert.equal(fib(rig, "fd00:99::1")?.port, 0);
    const key: Record<string, unknown> = { prefix: "FD00:99:0::/48" };
    rig.router.routeDelete(key);
    assert.deepEqual(key, { prefix: "fd00:99::/48" });
    assert.equal(fib(rig, "fd00:99::1"), undefined);
    assert.throws(() => rig.router.routeDelete({ prefix: "fd00:99::/48" }), NotFoundError);
    assert.throws(
      () => rig.router.routeDelete({ prefix: "198.18.1.0/24" }),
      /connected on port p0: remove the address from the port instead/,
    );
  });

  test("connected routes follow port addresses; static routes through them go inactive and come back", () => {
    rig.router.routeAdd({ prefix: "198.19.0.0/16", via: "198.18.2.10" });
    assert.equal(fib(rig, "198.19.1.1")?.type, RouteType.GATEWAY);
    assert.equal(fib(rig, "198.18.2.77")?.type, RouteType.CONNECTED);
    assert.equal(fib(rig, "198.18.2.254")?.type, RouteType.LOCAL);

    rig.ctx.portList = [
      standardPorts()[0],
      port("p1", 1, { ipv6: ["fd00:2::fe/64"], mac: "02:00:00:00:02:fe" }),
    ];
    rig.router.applyPorts();
    assert.equal(fib(rig, "198.18.2.77"), undefined, "connected route gone with the address");
    assert.equal(fib(rig, "198.18.2.254"), undefined, "local address gone");
    assert.equal(fib(rig, "198.19.1.1"), undefined, "static route uninstalled");
    const listed = rig.router.routeList().find((r) => r.prefix === "198.19.0.0/16");
    assert.equal(listed?.active, false);
    assert.match(String(listed?.reason), /not on a connected subnet/);

    rig.ctx.portList = standardPorts();
    rig.router.applyPorts();
    assert.equal(fib(rig, "198.19.1.1")?.type, RouteType.GATEWAY, "back with the address");
    assert.equal(rig.router.routeList().find((r) => r.prefix === "198.19.0.0/16")?.active, true);
    rig.router.routeDelete({ prefix: "198.19.0.0/16" });
  });

  test("an address another port already has is left out and reported", () => {
    rig.ctx.portList = [...standardPorts(), port("p2", 2, { ipv4: ["198.18.1.200/24", "198.18.3.254/24"] })];
    rig.router.applyPorts();
    assert.ok(
      rig.ctx.events.some(
        (e) =>
          e.kind === "port.config" &&
          /p2: 198\.18\.1\.200\/24 left out: port p0 has an address in the same subnet/.test(e.message),
      ),
    );
    assert.equal(fib(rig, "198.18.1.200")?.type, RouteType.CONNECTED, "not a local address");
    assert.equal(fib(rig, "198.18.1.200")?.port, 0);
    assert.equal(fib(rig, "198.18.3.254")?.type, RouteType.LOCAL, "the rest of p2 applies");

    // p2 has no MAC configured: derived, stable, locally administered unicast.
    const rec = rig.router.portRecord(2);
    assert.deepEqual(rec?.mac, derivedMac("r1", "p2"));
    assert.equal((rec?.mac[0] ?? 0) & 0x03, 0x02);
    assert.deepEqual(derivedMac("r1", "p2"), derivedMac("r1", "p2"));
    assert.notDeepEqual(derivedMac("r1", "p2"), derivedMac("r2", "p2"));
    const addr = rig.router.addressList().find((a) => a.port === "p2");
    assert.deepEqual(addr?.ipv4, ["198.18.3.254/24"]);

    rig.ctx.portList = standardPorts();
    rig.router.applyPorts();
    assert.equal(rig.router.portRecord(2)?.enabled, false, "a removed port is switched off");
    assert.equal(fib(rig, "198.18.3.254"), undefined);
  });

  test("static neighbours: port inferred from the subnet, kept by port name across port changes", () => {
    const entry: Record<string, unknown> = { address: "198.18.1.50", mac: "02:00:00:00:AA:50" };
    rig.router.neighAdd(entry);
    assert.deepEqual(entry, { address: "198.18.1.50", mac: "02:00:00:00:aa:50", port: "p0" });
    const find = () => rig.router.neighList().find((n) => n.address === "198.18.1.50");
    assert.deepEqual(find(), {
      address: "198.18.1.50",
      port: "p0",
      mac: "02:00:00:00:aa:50",
      state: "permanent",
    });
    assert.throws(
      () => rig.router.neighAdd({ address: "198.18.9.1", mac: MAC_H1 }),
      /not on a connected subnet: say which port/,
    );
    assert.throws(
      () => rig.router.neighAdd({ address: "198.18.1.51", mac: "01:00:5e:00:00:01" }),
      /unicast MAC/,
    );
    assert.throws(
      () => rig.router.neighAdd({ address: "198.18.1.51", mac: MAC_H1, port: "p7" }),
      /port p7 does not exist/,
    );

    rig.ctx.portList = [standardPorts()[1]];
    rig.router.applyPorts();
    assert.equal(find(), undefined, "gone with its port");
    rig.ctx.portList = standardPorts();
    rig.router.applyPorts();
    assert.equal(find()?.state, "permanent", "back with its port");

    rig.router.neighDelete({ address: "198.18.1.50" });
    assert.equal(find(), undefined);
    assert.throws(() => rig.router.neighDelete({ address: "198.18.1.50" }), NotFoundError);
  });

  test("a restarted control plane adopts the maps as they are", () => {
    rig.router.routeAdd({ prefix: "198.19.7.0/24", via: "198.18.2.10", metric: 7 });
    rig.router.routeAdd({ prefix: "fd00:77::/64", type: "prohibit" });
    rig.router.neighAdd({ address: "fd00:2::33", mac: "02:00:00:00:bb:33" });
    const routes = rig.router.routeList();
    const neigh = rig.router.neighList();
    const fib4 = dump(rig, "rtr_fib4");
    const fib6 = dump(rig, "rtr_fib6");

    const ctx2 = new FakeContext("r1", rig.t, standardPorts());
    const again = new Router(ctx2);
    again.start();
    assert.deepEqual(again.routeList(), routes);
    assert.deepEqual(
      again.neighList().map((n) => ({ ...n, age: undefined })),
      neigh.map((n) => ({ ...n, age: undefined })),
    );
    assert.deepEqual(dump(rig, "rtr_fib4"), fib4);
    assert.deepEqual(dump(rig, "rtr_fib6"), fib6);
    again.routeDelete({ prefix: "198.19.7.0/24" });
    again.routeDelete({ prefix: "fd00:77::/64" });
    rig.router.start(); // the first one re-reads (as a hypervisor would re-init it)
  });

  test("ICMP errors can be switched off", () => {
    const ttl1 = eth(
      MAC_P0,
      MAC_H1,
      0x0800,
      ipv4({ src: "198.18.1.1", dst: "198.18.2.1", ttl: 1 }, udpPayload(10)),
    );
    rig.router.applyConfig({ icmpErrors: false });
    assert.equal(rig.t.run(ttl1, 0).retval, XdpAction.DROP);
    rig.router.applyConfig({});
    assert.equal(rig.t.run(ttl1, 0).retval, XdpAction.REDIRECT);
  });

  test("loads many routes at once with batched map updates", () => {
    const n = 20_000;
    const entries = Array.from({ length: n }, (_, i) => ({
      prefix: `198.19.${i >> 8}.${i & 0xff}/32`,
      via: i % 2 ? "198.18.1.10" : "198.18.2.10",
    }));
    const t0 = performance.now();
    assert.equal(rig.router.routeAddMany(entries), n);
    const ms = performance.now() - t0;
    assert.ok(ms < 5000, `${n} routes in ${ms.toFixed(0)} ms`);
    assert.equal(fib(rig, "198.19.77.33")?.port, 0, "odd entries go via 198.18.1.10 (p0)");
    assert.equal(fib(rig, "198.19.77.34")?.port, 1, "even ones via 198.18.2.10 (p1)");
    assert.equal(rig.router.routeList().length, 4 + n);
    assert.throws(
      () => rig.router.routeAddMany([{ prefix: "198.19.0.0/16", via: "198.18.9.9" }]),
      /route 0 \(198\.19\.0\.0\/16\): next hop/,
    );
    for (const e of entries) rig.router.routeDelete({ prefix: e.prefix });
  });

  test("the control-plane module drives a router per instance through its hooks and tables", async () => {
    const ctx = new FakeContext("r9", rig.t, standardPorts());
    await controlPlane.init?.(ctx, false);
    const tables = controlPlane.tables ?? {};
    await tables.route.add?.(ctx, { prefix: "198.19.200.0/24", via: "198.18.1.10" });
    assert.equal(addRoutes(ctx, [{ prefix: "198.19.201.0/24", via: "198.18.1.10" }]), 1);
    const listed = await tables.route.list?.(ctx);
    assert.deepEqual(
      listed?.filter((r) => r.type !== "connected").map((r) => r.prefix),
      ["198.19.200.0/24", "198.19.201.0/24"],
    );
    assert.equal(fib(rig, "198.19.201.9")?.port, 0);
    assert.deepEqual(
      (await tables.address.list?.(ctx))?.map((a) => a.port),
      ["p0", "p1"],
    );
    await tables.route.delete?.(ctx, { prefix: "198.19.200.0/24" });
    await tables.route.delete?.(ctx, { prefix: "198.19.201.0/24" });
    await controlPlane.destroy?.(ctx);
  });
});
