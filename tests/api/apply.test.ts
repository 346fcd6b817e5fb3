// Declarative apply and export against a real daemon: a YAML document builds a topology that
// carries traffic; applying it again, or applying the export, changes nothing; edits turn into
// the minimal operations; --prune removes the rest; a dry run changes nothing; a change of hook
// mode recreates; a document that fails half-way is undone; impossible documents change nothing.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { stringify as toYaml } from "yaml";
import type { ApplyResultJson, InstanceJson } from "../../src/api/schemas.js";
import { ping } from "../../src/testbed/netns.js";
import { refused, startLab, type Lab } from "./lab.js";
import { rejectSource, testPackage } from "./packages.js";

describe("apply and export", () => {
  let lab: Lab;
  before(async () => {
    lab = await startLab(3);
    const pkgs = [
      await testPackage("api_wire"),
      await testPackage("api_filter"),
      await testPackage("api_wire", { name: "apibad", dataplane: rejectSource }),
    ];
    for (const p of pkgs)
      await lab.api.call("POST", "/v1/nf", { raw: p.tarball, contentType: "application/gzip" });
  });
  after(async () => {
    await lab?.cleanup();
  });

  const apply = (doc: unknown, query: { prune?: boolean; dryRun?: boolean } = {}) =>
    lab.api.call<ApplyResultJson>("POST", "/v1/apply", {
      raw: Buffer.from(toYaml(doc)),
      contentType: "application/yaml",
      query,
    });
  const actions = (r: ApplyResultJson) => r.changes.map((c) => `${c.action} ${c.target}`);
  const ping6 = async (from: number, to: number) =>
    (await ping(lab.net.hosts[from].ns, lab.net.hosts[to].ipv6, { count: 3, interval: 0.02, wait: 1 }))
      .received;

  const first = () => ({
    apiVersion: "plexus/v1",
    kind: "Topology",
    instances: {
      w1: {
        type: "apiwire",
        config: { level: 4 },
        ports: {
          a: { peer: lab.iface(0), config: { weight: 3 } },
          b: { peer: "w2:a" },
        },
        tables: {
          notes: [
            { id: 1, value: 11 },
            { id: 2, value: 22, flag: true },
          ],
        },
      },
      w2: { type: "wire", mode: "xdp", ports: { a: {}, b: { peer: lab.iface(1) } } },
      f1: { type: "apifilter", attach: { target: "w1:a" }, tables: { block: [{ ethertype: 0x86dd }] } },
    },
  });

  test("a document builds a working topology; applying it again changes nothing", async () => {
    const r = await apply(first());
    assert.deepEqual(actions(r).sort(), [
      "attach f1",
      "connect w1:b",
      "create f1",
      "create w1",
      "create w2",
      "table-add f1 block",
      "table-add w1 notes",
      "table-add w1 notes",
    ]);
    assert.equal(await lab.ping(0, 1, 3), 3, "IPv4 through w1 and w2");
    assert.equal(await ping6(0, 1), 0, "IPv6 blocked by f1 on w1:a");
    const w1 = await lab.api.get<InstanceJson>("/v1/instances/w1");
    assert.deepEqual(w1.config, { level: 4 });
    assert.deepEqual(
      w1.ports.map((p) => [p.name, p.peer, p.config]),
      [
        ["a", lab.iface(0), { weight: 3 }],
        ["b", "w2:a", {}],
      ],
    );
    assert.equal((await apply(first())).changes.length, 0, "idempotent");
    const exported = await lab.api.get("/v1/export");
    assert.deepEqual((await apply(exported, { prune: true })).changes, [], "the export applies as a no-op");
  });

  test("edits become the minimal operations; a dry run changes nothing; prune removes the rest", async () => {
    const doc = first();
    doc.instances.w1.config.level = 5;
    doc.instances.w1.ports.a.config.weight = 4;
    doc.instances.w1.ports.b = { peer: lab.iface(2) };
    doc.instances.w1.tables.notes = [{ id: 2, value: 23, flag: true }];
    doc.instances.f1.attach = { target: "w1:b", direction: "egress" } as typeof doc.instances.f1.attach;
    const docNoW2 = { ...doc, instances: { w1: doc.instances.w1, f1: doc.instances.f1 } };

    const before = await lab.api.get("/v1/export");
    const dry = await apply(docNoW2, { prune: true, dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.deepEqual(await lab.api.get("/v1/export"), before, "a dry run changes nothing");

    const r = await apply(docNoW2, { prune: true });
    assert.deepEqual(actions(r), [
      "detach f1",
      "delete w2",
      "configure w1",
      "configure-port w1:a",
      "connect w1:b",
      "attach f1",
      "table-add w1 notes",
      "table-delete w1 notes",
    ]);
    assert.deepEqual(actions(dry), actions(r), "the dry run listed exactly these");
    const notes = await lab.api.get<{ id: number; value: number }[]>("/v1/instances/w1/tables/notes");
    assert.deepEqual(
      notes.map((n) => [n.id, n.value]),
      [[2, 23]],
    );
    assert.equal((await lab.api.get<InstanceJson>("/v1/instances/f1")).attachment?.direction, "egress");
    await refused(lab.api.get("/v1/instances/w2"), 404, /no instance/);
    assert.equal(await lab.ping(0, 2, 3), 3, "h0 - w1 - h2 now");
    assert.equal(await ping6(0, 2), 0, "IPv6 blocked by f1, now on w1:b egress");
    assert.deepEqual((await apply(docNoW2, { prune: true })).changes, []);

    // Without prune a document only adds: a smaller one removes nothing.
    const small = await apply({ instances: { w3: { type: "wire" } } });
    assert.deepEqual(actions(small), ["create w3"]);
    assert.deepEqual(
      (await lab.api.get<InstanceJson[]>("/v1/instances")).map((i) => i.name),
      ["f1", "w1", "w3"],
    );
  });

  test("a mode change recreates; a document that fails half-way is undone", async () => {
    await apply({ instances: { w3: { type: "wire", mode: "xdp", ports: { a: {} } } } });
    const r = await apply({ instances: { w3: { type: "wire", mode: "tc", ports: { a: {} } } } });
    assert.deepEqual(actions(r), ["delete w3", "create w3"]);
    assert.match(r.changes[0].detail ?? "", /created again/);
    assert.equal((await lab.api.get<InstanceJson>("/v1/instances/w3")).mode, "tc");

    const before = await lab.api.get("/v1/export");
    const e = await refused(
      apply({
        instances: {
          w3: { type: "wire", mode: "tc", ports: { a: {}, b: { peer: lab.iface(1) } } },
          g1: { type: "wire" },
          bad: { type: "apibad" },
        },
      }),
      422,
      /verifier rejected program apireject: create bad: .*\(the apply was undone\)/,
    );
    assert.ok(e.problem.verifierLog);
    assert.deepEqual(await lab.api.get("/v1/export"), before, "g1 and w3:b are gone again");
    await refused(lab.api.get("/v1/instances/g1"), 404, /no instance/);
  });

  test("documents the data plane cannot realise are refused whole", async () => {
    const before = await lab.api.get("/v1/export");
    await refused(
      apply({
        instances: {
          g2: { type: "wire" },
          fx: { type: "apifilter", mode: "xdp", attach: { target: "w1:a" } },
        },
      }),
      422,
      /cannot cross the XDP\/TC boundary/,
    );
    await refused(
      apply({ instances: { g2: { type: "wire", ports: { a: { peer: lab.iface(0) } } } } }),
      422,
      new RegExp(`interface ${lab.iface(0)} is the peer of both w1:a and g2:a`),
    );
    await refused(
      apply({
        instances: {
          g2: { type: "wire", ports: { a: { peer: "w3:a" } } },
          w3: { type: "wire", ports: { a: { peer: "w1:b" } } },
        },
      }),
      422,
      /names w3:a as its peer, but w3:a is connected to w1:b/,
    );
    assert.deepEqual(await lab.api.get("/v1/export"), before);
  });
});
