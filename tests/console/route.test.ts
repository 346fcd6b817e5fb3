// GET /ui/*: the console's files from the bundle directory, with their types, cache and security
// headers; nothing outside the directory; a plain message when the console was not built.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Fastify from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { registerConsoleRoutes } from "../../src/api/routes/console.js";
import type { Api } from "../../src/api/server.js";

let dir: string;

async function appFor(bundle: string) {
  const app = Fastify().withTypeProvider<TypeBoxTypeProvider>();
  registerConsoleRoutes(app as unknown as Api, bundle);
  await app.ready();
  return app;
}

describe("console route", () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "px-console-route-"));
    mkdirSync(join(dir, "bundle", "assets"), { recursive: true });
    writeFileSync(join(dir, "bundle", "index.html"), "<!doctype html><title>plexus</title>");
    writeFileSync(join(dir, "bundle", "assets", "index-abc.js"), "console.log(1)");
    writeFileSync(join(dir, "secret.txt"), "not for the browser");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the page, its assets, and the headers that keep it to its own origin", async () => {
    const app = await appFor(join(dir, "bundle"));
    const bare = await app.inject({ url: "/ui" });
    assert.equal(bare.statusCode, 302);
    assert.equal(bare.headers.location, "/ui/");
    const page = await app.inject({ url: "/ui/" });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    assert.match(page.body, /<title>plexus/);
    assert.equal(page.headers["cache-control"], "no-cache");
    assert.match(String(page.headers["content-security-policy"]), /default-src 'self'; connect-src 'self'/);
    const js = await app.inject({ url: "/ui/assets/index-abc.js" });
    assert.equal(js.statusCode, 200);
    assert.match(String(js.headers["content-type"]), /^text\/javascript/);
    assert.match(String(js.headers["cache-control"]), /immutable/);
    await app.close();
  });

  test("nothing outside the bundle, missing files are 404", async () => {
    const app = await appFor(join(dir, "bundle"));
    for (const url of [
      "/ui/../secret.txt",
      "/ui/%2e%2e/secret.txt",
      "/ui/assets/..%2f..%2fsecret.txt",
      "/ui/nope.js",
    ]) {
      const r = await app.inject({ url });
      assert.notEqual(r.statusCode, 200, url);
      assert.doesNotMatch(r.body, /not for the browser/, url);
    }
    await app.close();
  });

  test("an unbuilt console says how to build it", async () => {
    const app = await appFor(join(dir, "missing"));
    const r = await app.inject({ url: "/ui/" });
    assert.equal(r.statusCode, 404);
    assert.match(r.body, /npm run build/);
    await app.close();
  });
});
