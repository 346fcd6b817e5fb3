// Bad requests of every kind get a 4xx problem document that says what was wrong, and leave the
// daemon, the desired state and the data plane as they were (traffic keeps flowing).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ApiClient } from "../../src/api/client.js";
import type { InstanceJson } from "../../src/api/schemas.js";
import { refused, startLab, type Lab } from "./lab.js";
import { rejectObject, rejectSource, testPackage } from "./packages.js";

describe("bad requests", () => {
  let lab: Lab;
  let api: ApiClient;
  let baseline: unknown;
  before(async () => {
    lab = await startLab(3);
    api = lab.api;
    for (const fixture of ["api_wire", "api_filter"] as const) {
      const pkg = await testPackage(fixture);
      await api.call("POST", "/v1/nf", { raw: pkg.tarball, contentType: "application/gzip" });
    }
    // The topology the bad requests must not disturb: h0 - w1 - h1, a filter on w1:a, a note.
    await api.post("/v1/instances", {
      name: "w1",
      type: "apiwire",
      ports: [
        { name: "a", peer: lab.iface(0) },
        { name: "b", peer: lab.iface(1) },
      ],
    });
    await api.post("/v1/instances", { name: "f1", type: "apifilter" });
    await api.put("/v1/instances/f1/attachment", { target: "w1:a" });
    await api.post("/v1/instances/w1/tables/notes", { id: 1, value: 10 });
    baseline = await api.get("/v1/export");
    assert.equal(await lab.ping(0, 1, 3), 3);
  });
  after(async () => {
    await lab?.cleanup();
  });

  /** Nothing changed: same desired state, the daemon answers, traffic flows. */
  async function unchanged(): Promise<void> {
    assert.deepEqual(await api.get("/v1/export"), baseline);
    const saved = JSON.parse(readFileSync(join(lab.home.stateDir, "state.json"), "utf8")) as {
      instances: Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(saved.instances).sort(), ["f1", "w1"]);
    assert.equal(await lab.ping(0, 1, 3), 3, "traffic still flows");
  }

  test("schema violations are 400 and name the field", async () => {
    await refused(api.post("/v1/instances", { name: "x" }), 400, /body: missing required field 'type'/);
    await refused(
      api.post("/v1/instances", { name: "x", type: "wire", extra: 1 }),
      400,
      /body: unknown field 'extra'/,
    );
    await refused(
      api.post("/v1/instances", { name: "bad name!", type: "wire" }),
      400,
      /body\/name: must match pattern/,
    );
    await refused(
      api.post("/v1/instances", { name: "x", type: "wire", mode: "fast" }),
      400,
      /body\/mode: must be one of "tc", "xdp", "xdp-generic"/,
    );
    await refused(
      api.post("/v1/instances", { name: "x", type: "wire", ports: "a" }),
      400,
      /body\/ports: must be array/,
    );
    await refused(api.get("/v1/events", { since: "yesterday" }), 400, /querystring\/since: must be integer/);
    await refused(api.get("/v1/instances/bad!name"), 400, /params\/name: must match pattern/);
    await refused(api.patch("/v1/instances/w1", {}), 400, /body: missing required field 'config'/);
    await refused(api.post("/v1/instances/w1/tables/notes", { id: { x: 1 } }), 400, /body\/id/);
    await refused(
      api.call("POST", "/v1/instances", { raw: Buffer.from("{name:"), contentType: "application/json" }),
      400,
      /not valid JSON/,
    );
    await refused(
      api.call("POST", "/v1/instances", {
        raw: Buffer.from("<name>x</name>"),
        contentType: "application/xml",
      }),
      415,
      /content-type/i,
    );
    await refused(api.get("/v2/instances"), 404, /no route GET \/v2\/instances; the API is under \/v1/);
    await unchanged();
  });

  test("unknown names are 404 and list what exists", async () => {
    await refused(api.get("/v1/instances/nope"), 404, /no instance 'nope' \(instances: f1, w1\)/);
    await refused(
      api.post("/v1/instances", { name: "x", type: "nope" }),
      404,
      /no network function type 'nope'.*plexus nf install/,
    );
    await refused(
      api.post("/v1/instances", { name: "x", type: "wire", version: "9.9.9" }),
      404,
      /wire has no version 9\.9\.9/,
    );
    await refused(api.delete("/v1/instances/w1/ports/zz"), 404, /w1 has no port 'zz'/);
    await refused(api.get("/v1/instances/w1/tables/zz"), 404, /apiwire has no table 'zz' \(tables: notes\)/);
    await refused(api.post("/v1/links", { port: "w1:zz", peer: lab.iface(2) }), 404, /w1 has no port 'zz'/);
    await refused(api.delete("/v1/nf/nope"), 404, /no network function type 'nope'/);
    await refused(api.delete("/v1/instances/w1/tables/notes", { id: 99 }), 404, /no entry/);
    await unchanged();
  });

  test("conflicts are 409 and say what to do", async () => {
    await refused(
      api.post("/v1/instances", { name: "w1", type: "wire" }),
      409,
      /an instance named 'w1' exists already/,
    );
    await refused(api.post("/v1/instances/w1/ports", { name: "a" }), 409, /w1 already has a port 'a'/);
    await refused(api.post("/v1/instances/w1/ports", { name: "c" }), 409, /already has 2 ports, the most/);
    await refused(
      api.post("/v1/instances", { name: "x", type: "wire", ports: [{ name: "a", peer: lab.iface(0) }] }),
      409,
      new RegExp(`interface ${lab.iface(0)} is already connected to w1:a`),
    );
    await refused(
      api.post("/v1/links", { port: "w1:a", peer: lab.iface(2) }),
      409,
      /already connected to .*disconnect it first/,
    );
    await refused(
      api.put("/v1/instances/f1/attachment", { target: "w1:b" }),
      409,
      /already attached to w1:a ingress; detach it first/,
    );
    await refused(api.delete("/v1/instances/w1/ports/a"), 409, /f1 is attached to w1:a; detach it first/);
    await refused(api.delete("/v1/nf/apiwire"), 409, /apiwire is used by w1; delete those instances first/);
    await unchanged();
  });

  test("invalid values and combinations are 422", async () => {
    await refused(
      api.post("/v1/instances", { name: "x", type: "apiwire", config: { level: 99 } }),
      422,
      /x config: \/level: must be <= 9/,
    );
    await refused(
      api.patch("/v1/instances/w1", { config: { level: "high" } }),
      422,
      /w1 config: \/level: must be integer/,
    );
    await refused(api.patch("/v1/instances/w1", { config: { colour: "red" } }), 422, /colour/);
    await refused(
      api.patch("/v1/instances/w1/ports/a", { config: { weight: 0 } }),
      422,
      /w1:a config: \/weight: must be >= 1/,
    );
    await refused(
      api.post("/v1/instances/w1/tables/notes", { id: -1, value: 1 }),
      422,
      /field 'id': out of range/,
    );
    await refused(
      api.post("/v1/instances/w1/tables/notes", { id: 2, nosuch: 1 }),
      422,
      /unknown field 'nosuch'/,
    );
    await refused(api.post("/v1/instances/w1/tables/notes", { value: 3 }), 422, /missing key field 'id'/);
    await refused(
      api.put("/v1/instances/w1/attachment", { target: lab.iface(2) }),
      422,
      /only transparent instances attach/,
    );
    await refused(
      api.put("/v1/instances/f1/attachment", { target: "w1:b", first: true, after: "w1" }),
      422,
      /give one of first, last, before, after/,
    );
    await unchanged();
  });

  test("a missing interface is refused before anything changes", async () => {
    await refused(
      api.post("/v1/instances", { name: "x", type: "wire", ports: [{ name: "a", peer: "nosuch0" }] }),
      404,
      /interface 'nosuch0' does not exist in the daemon's network namespace/,
    );
    await refused(
      api.post("/v1/instances", { name: "x", type: "wire", ports: [{ name: "a", peer: "w1:a:x" }] }),
      422,
      /neither an interface name nor INSTANCE:PORT/,
    );
    await refused(api.get("/v1/instances/x"), 404, /no instance 'x'/);
    await unchanged();
  });

  test("code the verifier rejects: upgrades and instances are refused with the log, traffic flows", async () => {
    const bad = readFileSync(await rejectObject("tc"));
    const e = await refused(
      api.call("POST", "/v1/instances/w1/upgrade/object", {
        raw: bad,
        contentType: "application/octet-stream",
      }),
      422,
      /verifier rejected program/,
    );
    assert.match(e.problem.verifierLog ?? "", /invalid access to packet|R\d/);
    assert.equal(await lab.ping(0, 1, 3), 3, "the old code still runs");
    // A whole NF type whose code the verifier rejects installs, but no instance of it starts.
    const pkg = await testPackage("api_wire", { name: "apibad", dataplane: rejectSource });
    await api.call("POST", "/v1/nf", { raw: pkg.tarball, contentType: "application/gzip" });
    await refused(api.post("/v1/instances", { name: "x", type: "apibad" }), 422, /verifier rejected/);
    await api.delete("/v1/nf/apibad");
    await refused(api.get("/v1/instances/x"), 404, /no instance/);
    const events = await api.get<{ kind: string; instance?: string }[]>("/v1/events");
    assert.ok(!events.some((ev) => ev.instance === "x"), "no event of a created x");
    await unchanged();
  });

  test("malformed apply documents change nothing", async () => {
    await refused(
      api.post("/v1/apply", { instances: { x: { type: 5 } } }),
      400,
      /body\/instances\/x\/type: must be string/,
    );
    await refused(
      api.post("/v1/apply", { instances: { x: { type: "wire" } }, extra: true }),
      400,
      /unknown field 'extra'/,
    );
    await refused(
      api.call("POST", "/v1/apply", {
        raw: Buffer.from("instances: [unclosed"),
        contentType: "application/yaml",
      }),
      400,
      /YAML body does not parse/,
    );
    // Valid in form, wrong in content (everywhere at once): every problem listed, nothing created.
    const r = await refused(
      api.post("/v1/apply", {
        instances: {
          ok1: { type: "wire", ports: { a: {} } },
          bad1: { type: "wire", ports: { a: { peer: "nosuch0" } } },
          bad2: { type: "nope" },
          bad3: { type: "apiwire", config: { level: -1 } },
          bad4: { type: "wire", ports: { a: { peer: "ok1:zz" } } },
        },
      }),
      422,
      /topology document has 4 problems/,
    );
    assert.match(r.problem.detail, /nosuch0/);
    assert.match(r.problem.detail, /no network function type 'nope'/);
    assert.match(r.problem.detail, /instances\/bad3\/config\/level: must be >= 0/);
    assert.match(r.problem.detail, /ok1:zz does not exist/);
    await refused(api.get("/v1/instances/ok1"), 404, /no instance/);
    await unchanged();
  });

  test("bad uploads are refused", async () => {
    await refused(
      api.call("POST", "/v1/nf", {
        raw: Buffer.from("not an archive at all"),
        contentType: "application/gzip",
      }),
      400,
      /not a tar or tar.gz archive/,
    );
    const dir = mkdtempSync(join(tmpdir(), "px-notnf-"));
    writeFileSync(join(dir, "README"), "hello");
    const tar = execFileSync("tar", ["-czf", "-", "-C", dir, "."]);
    rmSync(dir, { recursive: true, force: true });
    await refused(
      api.call("POST", "/v1/nf", { raw: tar, contentType: "application/gzip" }),
      422,
      /no nf.yaml/,
    );
    await refused(
      api.post("/v1/nf", { name: "x" }),
      415,
      /tar.gz archive with content-type application\/gzip/,
    );
    await refused(
      api.call("POST", "/v1/instances/w1/upgrade/object", {
        raw: Buffer.from("junk"),
        contentType: "application/octet-stream",
      }),
      422,
      /ELF|object/i,
    );
    const types = await api.get<{ name: string }[]>("/v1/nf");
    assert.ok(!types.some((t) => t.name === "x"));
    await unchanged();
  });

  test("the daemon is still the same process, with the same instances", async () => {
    const s = await api.get<{ pid: number; instances: number }>("/v1/status");
    assert.equal(s.pid, lab.daemon.pid);
    assert.equal(s.instances, 2);
    const w1 = await api.get<InstanceJson>("/v1/instances/w1");
    assert.equal(w1.version, "1.0.0");
    assert.deepEqual(
      w1.ports.map((p) => p.peer),
      [lab.iface(0), lab.iface(1)],
    );
    assert.doesNotMatch(lab.daemon.log(), /"level":50.*request failed/, "no request ended in a 500");
  });
});
