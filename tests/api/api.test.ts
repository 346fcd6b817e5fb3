// The REST API of a real daemon, through its unix socket: NF types (installed from uploaded
// tarballs), instances, ports, links, attachments, tables, topology, counters, events, upgrades,
// the OpenAPI document, and tens of concurrent calls.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import type {
  EventJson,
  InstanceJson,
  LinkJson,
  NfTypeJson,
  PortJson,
  TableInfoJson,
  TopologyJson,
} from "../../src/api/schemas.js";
import { run } from "../../src/testbed/netns.js";
import { refused, startLab, type Lab } from "./lab.js";
import { testPackage } from "./packages.js";

describe("REST API", () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab(2);
    for (const fixture of ["api_wire", "api_filter"] as const) {
      const pkg = await testPackage(fixture);
      await lab.api.call("POST", "/v1/nf", { raw: pkg.tarball, contentType: "application/gzip" });
    }
  });
  after(async () => {
    await lab?.cleanup();
  });
  // Every test starts from an empty topology, whatever the one before left.
  beforeEach(async () => {
    for (const i of await lab.api.get<InstanceJson[]>("/v1/instances"))
      await lab.api.delete(`/v1/instances/${i.name}`);
  });

  test("NF types: built-in and uploaded ones, one version at a time, removal", async () => {
    const list = await lab.api.get<NfTypeJson[]>("/v1/nf");
    const names = list.map((t) => `${t.name} ${t.version} ${t.builtin ? "built-in" : "installed"}`);
    assert.ok(names.includes("wire 1.0.0 built-in"), names.join());
    assert.ok(names.includes("apiwire 1.0.0 installed"));
    const t = await lab.api.get<NfTypeJson>("/v1/nf/apiwire");
    assert.equal(t.kind, "standard");
    assert.equal(t.maxPorts, 2);
    assert.deepEqual(Object.keys((t.config as { properties: object }).properties), [
      "level",
      "label",
      "verbose",
    ]);
    assert.deepEqual(t.tables.notes, {
      description: "Numbered notes (id -> value), kept by the data plane but unused.",
      writable: true,
    });
    // A newer version next to the first; GET shows the newest unless asked.
    const v2 = await testPackage("api_wire", { version: "1.1.0" });
    const installed = await lab.api.call<NfTypeJson>("POST", "/v1/nf", {
      raw: v2.tarball,
      contentType: "application/gzip",
    });
    assert.equal(installed.version, "1.1.0");
    assert.equal((await lab.api.get<NfTypeJson>("/v1/nf/apiwire")).version, "1.1.0");
    assert.equal((await lab.api.get<NfTypeJson>("/v1/nf/apiwire", { version: "1.0.0" })).version, "1.0.0");
    await lab.api.delete("/v1/nf/apiwire", undefined, { version: "1.1.0" });
    assert.equal((await lab.api.get<NfTypeJson>("/v1/nf/apiwire")).version, "1.0.0");
    await refused(lab.api.delete("/v1/nf/wire"), 409, /built in/);
  });

  test("instances, ports and links carry traffic; counters and topology follow", async () => {
    const { api } = lab;
    const w1 = await api.post<InstanceJson>("/v1/instances", {
      name: "w1",
      type: "apiwire",
      config: { level: 3 },
      ports: [{ name: "a", peer: lab.iface(0), config: { weight: 2 } }, { name: "b" }],
    });
    assert.deepEqual(w1.config, { level: 3 });
    assert.equal(w1.mode, "tc");
    await api.post("/v1/instances", { name: "w2", type: "wire", mode: "xdp" });
    const p = await api.post<PortJson>("/v1/instances/w2/ports", { name: "a" });
    assert.equal(p.index, 0);
    await api.post("/v1/instances/w2/ports", { name: "b", peer: lab.iface(1) });
    assert.equal(await lab.ping(0, 1, 2), 0, "w1:b is not connected yet");

    await api.post("/v1/links", { port: "w1:b", peer: "w2:a" });
    assert.equal(await lab.ping(0, 1, 5), 5, "h0 - w1 - w2 - h1");
    const links = await api.get<LinkJson[]>("/v1/links");
    assert.deepEqual(links.map((l) => `${l.a}-${l.b}-${l.kind}`).sort(), [
      `w1:a-${lab.iface(0)}-interface`,
      "w1:b-w2:a-port",
      `w2:b-${lab.iface(1)}-interface`,
    ]);
    const ports = await api.get<PortJson[]>("/v1/instances/w1/ports");
    assert.ok(ports[0].rx.packets >= 5 && ports[1].tx.packets >= 5, JSON.stringify(ports));
    const counters =
      await api.get<{ name: string; ports: { name: string; rx: { packets: number } }[] }[]>("/v1/counters");
    assert.equal(counters.find((c) => c.name === "w2")?.ports[0].rx.packets, ports[1].tx.packets);
    const one = await api.get<{ ports: unknown[] }>("/v1/instances/w1/counters");
    assert.equal(one.ports.length, 2);

    const topo = await api.get<TopologyJson>("/v1/topology");
    const ids = new Set(topo.nodes.map((n) => n.id));
    for (const id of ["instance:w1", "port:w1:a", "port:w2:b", `interface:${lab.iface(0)}`])
      assert.ok(ids.has(id), id);
    assert.ok(topo.edges.some((e) => e.from === "port:w1:b" && e.to === "port:w2:a" && e.kind === "link"));
    assert.ok(topo.edges.some((e) => e.from === "port:w1:a" && e.to === `interface:${lab.iface(0)}`));

    // Configuration: merged, then replaced; port configuration likewise.
    assert.deepEqual((await api.patch<InstanceJson>("/v1/instances/w1", { config: { label: "x" } })).config, {
      level: 3,
      label: "x",
    });
    assert.deepEqual(
      (await api.patch<InstanceJson>("/v1/instances/w1", { config: { verbose: true }, replace: true }))
        .config,
      { level: 1, verbose: true },
      "replaced: the default of level comes back",
    );
    assert.deepEqual(
      (await api.patch<PortJson>("/v1/instances/w1/ports/a", { config: { tags: ["x"] } })).config,
      { weight: 2, tags: ["x"] },
    );

    await api.delete("/v1/links/w2/a");
    assert.equal(await lab.ping(0, 1, 2), 0, "disconnected from the other end");
    assert.equal((await api.get<PortJson>("/v1/instances/w1/ports/b")).peer, undefined);
    await api.delete("/v1/instances/w2/ports/a");
    assert.deepEqual(
      (await api.get<InstanceJson>("/v1/instances/w2")).ports.map((x) => x.name),
      ["b"],
    );
    await api.delete("/v1/instances/w1");
    await api.delete("/v1/instances/w2");
    assert.deepEqual(await api.get("/v1/instances"), []);
  });

  test("transparent attachments in order; table entries change what passes", async () => {
    const { api } = lab;
    await api.post("/v1/instances", {
      name: "w1",
      type: "wire",
      ports: [
        { name: "a", peer: lab.iface(0) },
        { name: "b", peer: lab.iface(1) },
      ],
    });
    await api.post("/v1/instances", { name: "f1", type: "apifilter" });
    await api.post("/v1/instances", { name: "f2", type: "apifilter" });
    await api.put("/v1/instances/f1/attachment", { target: "w1:a" });
    await api.put("/v1/instances/f2/attachment", { target: "w1:a", before: "f1" });
    const f1 = await api.get<InstanceJson>("/v1/instances/f1");
    const f2 = await api.get<InstanceJson>("/v1/instances/f2");
    assert.equal(f1.attachment?.target, "w1:a");
    assert.equal(f1.attachment?.direction, "ingress");
    assert.ok((f2.attachment?.position ?? 0) < (f1.attachment?.position ?? 0), "f2 runs before f1");
    assert.equal(await lab.ping(1, 0, 3), 3, "both filters pass everything while their tables are empty");
    const through = (await api.get<InstanceJson>("/v1/instances/f1")).through;
    assert.ok(through && through.rx.packets >= 3 && through.tx.packets >= 3, JSON.stringify(through));

    const tables = await api.get<TableInfoJson[]>("/v1/instances/f1/tables");
    assert.deepEqual(tables[0].key, [{ name: "ethertype", format: "int" }]);
    assert.deepEqual(tables[0].value, [{ name: "hits", format: "int" }]);
    // IPv4 (0x0800) blocked on the way into w1:a: h1's echo requests still reach h0, whose
    // replies are dropped at w1:a ingress.
    await api.post("/v1/instances/f2/tables/block", { ethertype: 0x0800 });
    assert.equal(await lab.ping(1, 0, 3), 0);
    const entries = await api.get<{ ethertype: number; hits: number }[]>("/v1/instances/f2/tables/block");
    assert.equal(entries.length, 1);
    assert.equal(entries[0].ethertype, 0x0800);
    assert.ok(entries[0].hits >= 3, "the data plane counted the blocked frames in the entry");
    const f2v = await api.get<InstanceJson>("/v1/instances/f2");
    assert.ok((f2v.drops.blocked ?? 0) >= 3, JSON.stringify(f2v.drops));
    await api.delete("/v1/instances/f2/tables/block", { ethertype: 0x0800 });
    assert.equal(await lab.ping(1, 0, 3), 3);

    const topo = await api.get<TopologyJson>("/v1/topology");
    const att = topo.edges.filter((e) => e.kind === "attachment").map((e) => e.from);
    assert.deepEqual(att.sort(), ["instance:f1", "instance:f2"]);
    await api.delete("/v1/instances/f2/attachment");
    assert.equal((await api.get<InstanceJson>("/v1/instances/f2")).attachment, undefined);
    for (const n of ["f1", "f2", "w1"]) await api.delete(`/v1/instances/${n}`);
  });

  test("events: recent ones, and a stream that delivers new ones", async () => {
    const { api } = lab;
    const before = await api.get<EventJson[]>("/v1/events");
    const last = before.at(-1)?.seq ?? 0;
    const abort = new AbortController();
    const got: EventJson[] = [];
    const reading = (async () => {
      for await (const e of api.events<EventJson>("/v1/events/stream", { since: last }, abort.signal)) {
        got.push(e);
        if (e.kind === "instance.deleted") abort.abort();
      }
    })();
    await api.post("/v1/instances", { name: "ev1", type: "wire" });
    await api.delete("/v1/instances/ev1");
    await reading;
    assert.deepEqual(
      got.map((e) => [e.kind, e.instance]),
      [
        ["instance.created", "ev1"],
        ["instance.deleted", "ev1"],
      ],
    );
    const recent = await api.get<EventJson[]>("/v1/events", { since: last, instance: "ev1" });
    assert.equal(recent.length, 2);
    assert.equal((await api.get<EventJson[]>("/v1/events", { limit: 1 })).length, 1);
  });

  test("upgrades to another version and from an uploaded object keep traffic and state", async () => {
    const { api } = lab;
    await api.post("/v1/instances", {
      name: "u1",
      type: "apiwire",
      ports: [
        { name: "a", peer: lab.iface(0) },
        { name: "b", peer: lab.iface(1) },
      ],
    });
    await api.post("/v1/instances/u1/tables/notes", { id: 7, value: 70, flag: true });
    const v2 = await testPackage("api_wire", { version: "1.2.0" });
    await api.call("POST", "/v1/nf", { raw: v2.tarball, contentType: "application/gzip" });
    const up = await api.post<InstanceJson>("/v1/instances/u1/upgrade", {});
    assert.equal(up.version, "1.2.0", "to the newest version");
    assert.equal(await lab.ping(0, 1, 3), 3);
    const obj = readFileSync(join(v2.dir, "build", "apiwire.tc.o"));
    const up2 = await api.call<InstanceJson>("POST", "/v1/instances/u1/upgrade/object", {
      raw: obj,
      contentType: "application/octet-stream",
    });
    assert.equal(up2.version, "1.2.0");
    assert.equal(await lab.ping(0, 1, 3), 3);
    const notes = await api.get<{ id: number; value: number }[]>("/v1/instances/u1/tables/notes");
    assert.deepEqual(
      notes.map((n) => [n.id, n.value]),
      [[7, 70]],
      "the map and its entry survive both upgrades",
    );
    const back = await api.post<InstanceJson>("/v1/instances/u1/upgrade", { version: "1.0.0" });
    assert.equal(back.version, "1.0.0");
    await api.delete("/v1/instances/u1");
    await api.delete("/v1/nf/apiwire", undefined, { version: "1.2.0" });
  });

  test("the OpenAPI document describes every route with schemas", async () => {
    const doc = await lab.api.get<{
      openapi: string;
      info: { title: string };
      paths: Record<
        string,
        Record<
          string,
          {
            parameters?: { name: string; in: string; schema?: object }[];
            requestBody?: { content: Record<string, { schema?: object }> };
            responses: Record<string, { content?: Record<string, { schema?: object }> }>;
          }
        >
      >;
    }>("/v1/openapi.json");
    assert.equal(doc.openapi, "3.0.3");
    assert.equal(doc.info.title, "plexus");
    const expect = [
      "get /v1/nf",
      "post /v1/nf",
      "delete /v1/nf/{type}",
      "post /v1/instances",
      "patch /v1/instances/{name}",
      "post /v1/instances/{name}/ports",
      "post /v1/links",
      "put /v1/instances/{name}/attachment",
      "post /v1/instances/{name}/tables/{table}",
      "get /v1/topology",
      "get /v1/counters",
      "get /v1/events/stream",
      "post /v1/instances/{name}/upgrade",
      "post /v1/apply",
      "get /v1/export",
    ];
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([m, op]) => ({ key: `${m} ${path}`, path, op })),
    );
    for (const k of expect)
      assert.ok(
        ops.some((o) => o.key === k),
        `missing ${k}`,
      );
    const json = JSON.stringify(doc);
    for (const m of json.matchAll(/"\$ref":"#\/([^"]+)"/g)) {
      let node: unknown = doc;
      for (const part of m[1].split("/")) node = (node as Record<string, unknown>)?.[part];
      assert.ok(node, `dangling $ref ${m[1]}`);
    }
    for (const { key, path, op } of ops) {
      const codes = Object.keys(op.responses);
      assert.ok(
        codes.some((c) => /^2/.test(c)),
        `${key} documents a success response`,
      );
      for (const c of codes.filter((x) => /^2/.test(x) && x !== "204"))
        assert.ok(
          Object.values(op.responses[c].content ?? {}).every((x) => x.schema),
          `${key} ${c} has a schema`,
        );
      for (const c of codes.filter((x) => /^4/.test(x)))
        assert.ok(
          Object.values(op.responses[c].content ?? {}).some((x) => x.schema),
          `${key} ${c} is a problem`,
        );
      for (const [, name] of path.matchAll(/\{(\w+)\}/g))
        assert.ok(
          op.parameters?.some((p) => p.in === "path" && p.name === name && p.schema),
          `${key} declares its path parameter ${name}`,
        );
      const body = op.requestBody?.content;
      if (body?.["application/json"]) assert.ok(body["application/json"].schema, `${key} body schema`);
    }
    // The server checks what the document promises: a body the schema refuses is a 400.
    await refused(lab.api.post("/v1/instances", { name: "x" }), 400, /missing required field 'type'/);
  });

  test("tens of concurrent calls leave a consistent state", async () => {
    const { api } = lab;
    const n = 20;
    const names = Array.from({ length: n }, (_, i) => `c${i}`);
    const created = await Promise.allSettled(
      names.flatMap((name) => [
        api.post("/v1/instances", { name, type: "wire", mode: name.endsWith("0") ? "xdp" : "tc" }),
        api.get("/v1/instances"),
      ]),
    );
    assert.deepEqual(
      created.filter((r) => r.status === "rejected"),
      [],
    );
    // Ports and a clash: two calls race for each port name; exactly one of each pair wins.
    const ports = await Promise.allSettled(
      names.flatMap((name) => [
        api.post(`/v1/instances/${name}/ports`, { name: "a" }),
        api.post(`/v1/instances/${name}/ports`, { name: "a" }),
        api.post(`/v1/instances/${name}/ports`, { name: "b" }),
      ]),
    );
    assert.equal(
      ports.filter((r) => r.status === "rejected").length,
      n,
      "one duplicate per instance refused",
    );
    // Links between neighbours (in pairs), concurrently.
    const pairs = names.filter((_, i) => i % 2 === 0).map((name, i) => [name, names[2 * i + 1]]);
    const linked = await Promise.allSettled(
      pairs.map(([x, y]) => api.post("/v1/links", { port: `${x}:b`, peer: `${y}:a` })),
    );
    const rejected = linked.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    // xdp and tc instances link too (through veth pairs); every link must have landed.
    assert.deepEqual(
      rejected.map((r) => String(r.reason)),
      [],
    );
    const list = await api.get<InstanceJson[]>("/v1/instances");
    assert.equal(list.length, n);
    assert.equal(new Set(list.map((i) => i.slot)).size, n, "distinct slots");
    for (const i of list)
      assert.deepEqual(
        i.ports.map((p) => [p.name, p.index]),
        [
          ["a", 0],
          ["b", 1],
        ],
      );
    const state = JSON.parse(readFileSync(join(lab.home.stateDir, "state.json"), "utf8")) as {
      instances: Record<string, { ports: Record<string, { peer?: unknown }> }>;
    };
    assert.equal(Object.keys(state.instances).length, n, "the saved state has every instance");
    const peers = Object.values(state.instances).flatMap((i) => Object.values(i.ports).filter((p) => p.peer));
    assert.equal(peers.length, 2 * pairs.length, "and every link, from both ends");
    const deleted = await Promise.allSettled(names.map((name) => api.delete(`/v1/instances/${name}`)));
    assert.deepEqual(
      deleted.filter((r) => r.status === "rejected"),
      [],
    );
    assert.deepEqual(await api.get("/v1/instances"), []);
    const veths = (await run("ip", ["-n", lab.net.dut, "-o", "link", "show"])).stdout;
    assert.doesNotMatch(veths, /pxl\d+/, "link veths are gone with their links");
  });
});
