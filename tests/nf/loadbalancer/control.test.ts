// The load balancer's control-plane logic: Maglev tables (shares by weight, little disruption when
// a backend comes or goes), service and backend definitions refused with messages naming the
// offender and nothing half-applied, health-check thresholds, and the probes themselves against
// real TCP and HTTP servers on the loopback.
import assert from "node:assert/strict";
import { createServer as createHttpServer } from "node:http";
import { createServer, type AddressInfo, type Server } from "node:net";
import { after, before, describe, test } from "node:test";
import { ValidationError } from "../../../src/core/errors.js";
import { maglevTable } from "../../../nf/loadbalancer/cp/maglev.js";
import { freshHealth, probe, record } from "../../../nf/loadbalancer/cp/health.js";
import type { HealthCheck } from "../../../nf/loadbalancer/cp/service.js";
import { openLb, type LbRig } from "./support.js";

const M = 65537;
const names = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ name: `10.0.0.${from + i}:80`, weight: 1 }));
const shares = (t: Int32Array, n: number) => {
  const c = new Array<number>(n).fill(0);
  for (const v of t) c[v]++;
  return c.map((x) => x / t.length);
};

describe("maglev", () => {
  test("every slot is owned, shares follow the weights", () => {
    const t = maglevTable(
      [
        { name: "a", weight: 1 },
        { name: "b", weight: 3 },
        { name: "c", weight: 0 },
        { name: "d", weight: 4 },
      ],
      M,
    );
    assert.ok(t.every((v) => v >= 0));
    const s = shares(t, 4);
    for (const [i, want] of [0.125, 0.375, 0, 0.5].entries())
      assert.ok(Math.abs(s[i] - want) < 0.01, `backend ${i}: ${s[i]} (want ${want})`);
    assert.ok(
      maglevTable([], M).every((v) => v === -1),
      "no backends: no owner",
    );
  });

  test("a backend added or removed moves about its share of slots", () => {
    for (const n of [3, 10, 50]) {
      const base = names(n);
      const t0 = maglevTable(base, M);
      const t1 = maglevTable([...base, ...names(1, n)], M);
      let moved = 0;
      for (let i = 0; i < M; i++) if (t0[i] !== t1[i]) moved++;
      const share = 1 / (n + 1);
      // Maglev's bound: a little more than the ideal share moves (the paper's figure 12).
      assert.ok(
        moved / M >= share * 0.9 && moved / M < share * 1.6,
        `n=${n}: moved ${moved / M}, share ${share}`,
      );
      // Removing one: the slots of the others mostly stay.
      const t2 = maglevTable(base.slice(1), M);
      let others = 0;
      let kept = 0;
      for (let i = 0; i < M; i++) {
        if (t0[i] === 0) continue;
        others++;
        if (base[t0[i]].name === base.slice(1)[t2[i]].name) kept++;
      }
      assert.ok(kept / others > 0.97, `n=${n}: ${kept / others} of the others' slots kept`);
    }
  });

  test("the same backends give the same table (a restarted daemon schedules as before)", () => {
    assert.deepEqual(maglevTable(names(7), M), maglevTable(names(7), M));
  });
});

describe("health thresholds", () => {
  const check: HealthCheck = { kind: "tcp", path: "/", intervalMs: 100, timeoutMs: 50, rise: 2, fall: 3 };
  test("fall failures take a backend out, rise successes put it back, a success resets the count", () => {
    const h = freshHealth();
    assert.equal(record(h, "refused", check), false);
    assert.equal(record(h, "refused", check), false);
    assert.equal(record(h, undefined, check), false, "a success in between starts over");
    record(h, "refused", check);
    record(h, "refused", check);
    assert.equal(record(h, "refused", check), true);
    assert.equal(h.up, false);
    assert.equal(record(h, undefined, check), false);
    assert.equal(record(h, undefined, check), true);
    assert.equal(h.up, true);
  });
});

describe("health probes", () => {
  let tcp: Server;
  let http: ReturnType<typeof createHttpServer>;
  let closedPort: number;
  const base: HealthCheck = { kind: "tcp", path: "/", intervalMs: 1000, timeoutMs: 500, rise: 1, fall: 1 };
  const port = (s: { address(): unknown }) => (s.address() as AddressInfo).port;

  before(async () => {
    tcp = createServer((s) => s.destroy()).listen(0, "127.0.0.1");
    http = createHttpServer((req, res) => {
      res.statusCode = req.url === "/ok" ? 200 : 503;
      res.end("x");
    }).listen(0, "127.0.0.1");
    const tmp = createServer().listen(0, "127.0.0.1");
    await Promise.all([tcp, http, tmp].map((s) => new Promise((r) => s.once("listening", r))));
    closedPort = port(tmp);
    await new Promise((r) => tmp.close(r));
  });
  after(() => {
    tcp?.close();
    http?.close();
  });

  test("TCP connect and HTTP GET pass and fail as the servers answer", async () => {
    assert.equal(await probe({ host: "127.0.0.1", port: port(tcp), check: base }), undefined);
    assert.match(String(await probe({ host: "127.0.0.1", port: closedPort, check: base })), /ECONNREFUSED/);
    const h = { ...base, kind: "http" as const };
    assert.equal(
      await probe({ host: "127.0.0.1", port: port(http), check: { ...h, path: "/ok" } }),
      undefined,
    );
    assert.equal(
      await probe({ host: "127.0.0.1", port: port(http), check: { ...h, path: "/bad" } }),
      "HTTP 503",
    );
    // A listener that never answers HTTP: the timeout decides.
    const silent = createServer(() => undefined).listen(0, "127.0.0.1");
    await new Promise((r) => silent.once("listening", r));
    try {
      const t0 = Date.now();
      const err = await probe({ host: "127.0.0.1", port: port(silent), check: { ...h, timeoutMs: 200 } });
      assert.match(String(err), /no answer within 200 ms/);
      assert.ok(Date.now() - t0 < 1000);
    } finally {
      silent.close();
    }
  });
});

describe("service and backend definitions", () => {
  let r: LbRig;
  before(async () => {
    r = await openLb("tc");
  });
  after(() => r?.close());

  const refused = (fn: () => unknown, re: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof ValidationError && re.test(e.message), String(re));
  const svcCount = () => [...r.t.map("lb_svcs").keys()].length;

  test("bad services are refused with the service and field named", () => {
    const s = { name: "web", vip: "198.18.1.100", port: 80 };
    refused(() => r.lb.addServices([{ ...s, vip: "198.18.1.300" }]), /service web: vip '198\.18\.1\.300'/);
    refused(() => r.lb.addServices([{ ...s, port: 70000 }]), /service web: port: '70000'/);
    refused(() => r.lb.addServices([{ ...s, proto: "sctp" }]), /service web: proto 'sctp'/);
    refused(() => r.lb.addServices([{ ...s, mode: "tunnel" }]), /service web: mode 'tunnel'/);
    refused(
      () => r.lb.addServices([{ ...s, interval: 500, timeout: 900 }]),
      /service web: timeout 900 ms is longer than the interval/,
    );
    refused(
      () => r.lb.addServices([{ ...s, proto: "udp", check: "http" }]),
      /service web: check http needs a TCP service/,
    );
    refused(() => r.lb.addServices([{ ...s, path: "/x" }]), /service web: path is only for check=http/);
    refused(() => r.lb.addServices([{ ...s, colour: "red" }]), /service web: unknown field 'colour'/);
    refused(() => r.lb.addServices([{ ...s, name: "we b" }]), /'we b' is not a name/);
    refused(() => r.lb.addServices([{ ...s, name: "x".repeat(40) }]), /at most 31 characters/);
    assert.equal(svcCount(), 0);
  });

  test("a batch with one bad or contradictory service installs nothing", () => {
    refused(
      () =>
        r.lb.addServices([
          { name: "a", vip: "198.18.1.100", port: 80 },
          { name: "b", vip: "198.18.1.100", port: 443 },
          { name: "c", vip: "198.18.1.100", port: 80 },
        ]),
      /service c: tcp\/198\.18\.1\.100:80 is already service a's/,
    );
    assert.equal(svcCount(), 0);
    assert.deepEqual(r.lb.listServices(), []);
    r.lb.addServices([{ name: "a", vip: "198.18.1.100", port: 80 }]);
    refused(
      () => r.lb.addServices([{ name: "d", vip: "198.18.1.100", port: 80 }]),
      /service d: .* is already service a's/,
    );
    // Same address and port over UDP is another service.
    r.lb.addServices([{ name: "u", vip: "198.18.1.100", port: 80, proto: "udp" }]);
    assert.equal(svcCount(), 2);
    refused(
      () =>
        r.lb.addServices(
          Array.from({ length: 300 }, (_, i) => ({ name: `s${i}`, vip: "198.18.1.1", port: 1000 + i })),
        ),
      /more than 256 services/,
    );
    assert.equal(svcCount(), 2);
  });

  test("bad backends are refused naming the backend and service", () => {
    r.lb.addServices([{ name: "dsr", vip: "198.18.1.101", port: 80, mode: "dsr" }]);
    const b = { service: "a", backend: "198.18.2.1:8080", mac: "02:00:00:00:00:01", via: "back" };
    refused(
      () => r.lb.addBackends([{ ...b, service: "nope" }]),
      /backend 198\.18\.2\.1:8080 of nope: there is no service nope/,
    );
    refused(() => r.lb.addBackends([{ ...b, backend: "fd00::1" }]), /an IPv6 backend for the IPv4 service a/);
    refused(
      () => r.lb.addBackends([{ ...b, backend: "198.18.2.1:99999" }]),
      /'198\.18\.2\.1:99999' is not ADDR/,
    );
    refused(() => r.lb.addBackends([{ ...b, weight: -1 }]), /weight: '-1'/);
    refused(() => r.lb.addBackends([{ ...b, mac: "zz" }]), /mac 'zz'/);
    refused(() => r.lb.addBackends([{ ...b, via: undefined }]), /mac and via .* go together/);
    refused(
      () => r.lb.addBackends([{ ...b, via: "p9" }]),
      /via 'p9' is not a port of lb1 \(ports: front, back\)/,
    );
    refused(
      () => r.lb.addBackends([{ ...b, service: "dsr" }]),
      /port 8080 differs from the service's 80, which DSR cannot change/,
    );
    refused(
      () =>
        r.lb.addBackends(
          Array.from({ length: 1025 }, (_, i) => ({ ...b, backend: `198.18.${8 + (i >> 8)}.${i & 255}:80` })),
        ),
      /more than 1024 backends in one service/,
    );
    assert.deepEqual(r.lb.listBackends(), [], "nothing of a refused batch is there");
    // Canonical form: the service's port filled in, the address written one way.
    assert.deepEqual(r.lb.addBackends([{ service: "dsr", backend: "198.18.2.7" }]), [
      { service: "dsr", backend: "198.18.2.7:80", weight: 1 },
    ]);
    refused(
      () => r.lb.deleteBackend({ service: "dsr", backend: "198.18.2.7" }),
      /'198\.18\.2\.7' is written '198\.18\.2\.7:80'/,
    );
    r.lb.deleteBackend({ service: "dsr", backend: "198.18.2.7:80" });
    assert.deepEqual(r.lb.listBackends(), []);
    assert.throws(() => r.lb.deleteBackend({ service: "dsr", backend: "198.18.2.7" }), /has no backend/);
    assert.throws(() => r.lb.deleteService({ name: "zzz" }), /has no service 'zzz'/);
  });

  test("a replaced service keeps its backends only if they still fit", () => {
    r.lb.addServices([{ name: "w", vip: "198.18.1.102", port: 80 }]);
    r.lb.addBackends([{ service: "w", backend: "198.18.2.1:8080", mac: "02:00:00:00:00:01", via: "back" }]);
    refused(
      () => r.lb.addServices([{ name: "w", vip: "198.18.1.102", port: 80, mode: "dsr" }]),
      /DSR cannot change/,
    );
    assert.equal(r.lb.listServices().find((s) => s.name === "w")?.mode, "dnat");
    r.lb.addServices([{ name: "w", vip: "198.18.1.103", port: 80 }]);
    const row = r.lb.listServices().find((s) => s.name === "w");
    assert.deepEqual([row?.vip, row?.backends, row?.inService], ["198.18.1.103", 1, 1]);
    r.lb.deleteService({ name: "w" });
    assert.equal(r.lb.listBackends().length, 0, "a service's backends go with it");
  });
});
