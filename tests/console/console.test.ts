// The web console end to end: a real plexusd (TCP listener with a bearer token) in a throw-away
// namespace, a bridge between two hosts with two firewalls stacked on one of its ports, ping and a
// UDP stream that one firewall drops, and headless Chromium driving the page.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import type { TopologyJson } from "../../src/api/schemas.js";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { spawn } from "../../src/testbed/netns.js";
import { startLab, type Lab } from "../api/lab.js";
import { launchInNamespace, type NsBrowser } from "./browser.js";

const PORT = 7480;
const TOKEN = "console-test-token-0123456789abcdef";
const ORIGIN = `http://127.0.0.1:${PORT}`;
const ARTIFACTS = join(projectRoot, "test-artifacts");

let lab: Lab;
let chrome: NsBrowser;
let tokenDir: string;
let traffic: ChildProcess[] = [];

/** A page of a fresh browser context (its own session storage). */
async function newPage(): Promise<Page> {
  const ctx = await chrome.browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  return page;
}

describe("web console", { timeout: 120_000 }, () => {
  before(async () => {
    tokenDir = mkdtempSync(join(tmpdir(), "px-console-"));
    const tokenFile = join(tokenDir, "token");
    writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    lab = await startLab(2, ["--listen", `127.0.0.1:${PORT}`, "--token-file", tokenFile]);
    const [launched] = await Promise.all([
      launchInNamespace(lab.net.dut),
      (async () => {
        await lab.api.post("/v1/instances", {
          name: "br0",
          type: "bridge",
          ports: [
            { name: "p1", peer: lab.iface(0) },
            { name: "p2", peer: lab.iface(1) },
          ],
        });
      })(),
    ]);
    chrome = launched;
    // Traffic for the whole file: ping between the hosts.
    traffic.push(spawn(lab.net.hosts[0].ns, "ping", ["-q", "-i", "0.05", lab.net.hosts[1].ipv4]));
  });

  after(async () => {
    for (const t of traffic) t.kill("SIGKILL");
    traffic = [];
    await chrome?.close();
    await lab?.cleanup();
    rmSync(tokenDir, { recursive: true, force: true });
  });

  test("without a token the page asks for one and the API refuses; the fragment signs in", async () => {
    const page = await newPage();
    const res = await page.goto(`${ORIGIN}/ui/`);
    assert.equal(res?.status(), 200, "the bundle is served without a token");
    assert.match(res?.headers()["content-security-policy"] ?? "", /default-src 'self'/);
    await page.locator("#login").waitFor();
    const status = await page.evaluate(async () => (await fetch("/v1/status")).status);
    assert.equal(status, 401, "the API still wants the token");

    await page.fill("#token", "not-the-token-at-all");
    await page.click("#login button");
    await page.locator("#login", { hasText: "refused" }).waitFor();

    await page.goto(`${ORIGIN}/ui/#token=${TOKEN}`);
    await page.locator('[data-node="instance"][data-name="br0"]').waitFor();
    assert.ok(!page.url().includes(TOKEN), "the token leaves the address bar");
    await page.context().close();
  });

  test("the login form signs in", async () => {
    const page = await newPage();
    await page.goto(`${ORIGIN}/ui/`);
    await page.fill("#token", TOKEN);
    await page.click("#login button");
    await page.locator('[data-node="instance"][data-name="br0"]').waitFor();
    await page.context().close();
  });

  test("the graph shows every instance, port, interface and link of the topology", async () => {
    const page = await newPage();
    await page.goto(`${ORIGIN}/ui/#token=${TOKEN}`);
    await page.locator('[data-node="instance"][data-name="br0"]').waitFor();
    const topo = await lab.api.get<TopologyJson>("/v1/topology");
    for (const n of topo.nodes) {
      const sel =
        n.kind === "port"
          ? `[data-node="port"][data-instance="${n.instance}"][data-name="${n.name}"]`
          : `[data-node="${n.kind === "instance" ? "instance" : "interface"}"][data-name="${n.name}"]`;
      assert.equal(await page.locator(sel).count(), 1, `${n.id} is drawn once`);
    }
    for (const [p, i] of [
      ["br0:p1", lab.iface(0)],
      ["br0:p2", lab.iface(1)],
    ])
      assert.equal(await page.locator(`[data-link="${p}|${i}"]`).count(), 1, `link ${p} - ${i}`);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "console-topology.png"), fullPage: true });
    await page.context().close();
  });
});
