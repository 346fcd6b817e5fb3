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
import { run, spawn } from "../../src/testbed/netns.js";
import { startLab, type Lab } from "../api/lab.js";
import { launchInNamespace, type NsBrowser } from "./browser.js";

const PORT = 7480;
const TOKEN = "console-test-token-0123456789abcdef";
const ORIGIN = `http://127.0.0.1:${PORT}`;
const ARTIFACTS = join(projectRoot, "test-artifacts");

let lab: Lab;
let chrome: NsBrowser;
let tokenDir: string;
/** Signed in by the fragment test, then shared by the tests after it. */
let page: Page;
/** Origins the shared page asked anything of. */
const requested = new Set<string>();
let traffic: ChildProcess[] = [];

/** br0 between the hosts; fw1 (drops UDP to port 9) then fw2 stacked on br0:p2's ingress. */
async function buildTopology(): Promise<void> {
  const api = lab.api;
  await api.post("/v1/instances", {
    name: "br0",
    type: "bridge",
    ports: [
      { name: "p1", peer: lab.iface(0) },
      { name: "p2", peer: lab.iface(1) },
    ],
  });
  for (const fw of ["fw1", "fw2"]) await api.post("/v1/instances", { name: fw, type: "firewall" });
  await api.post("/v1/instances/fw1/tables/rules", { id: 10, action: "drop", proto: "udp", dport: 9 });
  await api.put("/v1/instances/fw2/attachment", { target: "br0:p2" });
  await api.put("/v1/instances/fw1/attachment", { target: "br0:p2", before: "fw2" });
}

/** Polls `read` until `ok` holds for what it returns (or fails after `ms`). */
async function until<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const num = (text: string | null) => Number((text ?? "").replace(/,/g, ""));

/** A page of a fresh browser context (its own session storage). */
async function newPage(): Promise<Page> {
  const ctx = await chrome.browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  return page;
}

describe("web console", { timeout: 120_000 }, () => {
  before(async () => {
    const t0 = Date.now();
    mkdirSync(ARTIFACTS, { recursive: true });
    tokenDir = mkdtempSync(join(tmpdir(), "px-console-"));
    const tokenFile = join(tokenDir, "token");
    writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    lab = await startLab(2, ["--listen", `127.0.0.1:${PORT}`, "--token-file", tokenFile]);
    const [launched] = await Promise.all([launchInNamespace(lab.net.dut), buildTopology()]);
    chrome = launched;
    console.log(`# lab, topology and browser ready in ${Date.now() - t0} ms`);
    // Traffic for the whole file: ping between the hosts, and a UDP stream that fw1 drops.
    traffic.push(spawn(lab.net.hosts[0].ns, "ping", ["-q", "-i", "0.05", lab.net.hosts[1].ipv4]));
    traffic.push(
      spawn(lab.net.hosts[1].ns, process.execPath, [
        "-e",
        `const s = require("node:dgram").createSocket("udp4");
         setInterval(() => s.send("plexus console test", 9, "${lab.net.hosts[0].ipv4}"), 50);`,
      ]),
    );
  });

  after(async () => {
    for (const t of traffic) t.kill("SIGKILL");
    traffic = [];
    await page?.context().close();
    await chrome?.close();
    await lab?.cleanup();
    rmSync(tokenDir, { recursive: true, force: true });
  });

  test("without a token the page asks for one, the API refuses, a wrong token is refused, the form signs in", async () => {
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
    await page.fill("#token", TOKEN);
    await page.click("#login button");
    await page.locator('[data-node="instance"][data-name="br0"]').waitFor();
    await page.context().close();
  });

  test("the token in the URL fragment signs in and leaves the address bar", async () => {
    page = await newPage();
    page.on("request", (r) => requested.add(new URL(r.url()).origin));
    await page.goto(`${ORIGIN}/ui/#token=${TOKEN}`);
    await page.locator('[data-node="instance"][data-name="br0"]').waitFor();
    assert.ok(!page.url().includes(TOKEN), page.url());
  });

  test("the graph shows every instance, port, interface and link of the topology", async () => {
    const topo = await lab.api.get<TopologyJson>("/v1/topology");
    for (const n of topo.nodes) {
      const sel =
        n.kind === "port"
          ? `[data-node="port"][data-instance="${n.instance}"][data-name="${n.name}"]`
          : n.kind === "interface"
            ? `[data-node="interface"][data-name="${n.name}"]`
            : `[data-node="${n.nfKind === "transparent" ? "stacked" : "instance"}"][data-name="${n.name}"]`;
      assert.equal(await page.locator(sel).count(), 1, `${n.id} is drawn once`);
    }
    for (const [p, i] of [
      ["br0:p1", lab.iface(0)],
      ["br0:p2", lab.iface(1)],
    ])
      assert.equal(await page.locator(`[data-link="${p}|${i}"]`).count(), 1, `link ${p} - ${i}`);
    const stacked = await page
      .locator('[data-node="stacked"]')
      .evaluateAll((els) =>
        els.map((e) => [
          e.getAttribute("data-name"),
          e.getAttribute("data-target"),
          e.getAttribute("data-order"),
        ]),
      );
    assert.deepEqual(
      stacked.sort(),
      [
        ["fw1", "br0:p2", "0"],
        ["fw2", "br0:p2", "1"],
      ],
      "both firewalls stacked on br0:p2, fw1 first",
    );
  });

  test("rates move on the links while traffic runs, and drops are highlighted", async () => {
    const link = page.locator(`[data-link="br0:p1|${lab.iface(0)}"]`);
    await link.waitFor();
    // ping sends 20 requests a second each way: the rate shown settles near 40 pps on the link.
    await until(
      () => link.getAttribute("data-pps"),
      (v) => num(v) > 10,
      "packet rate on br0:p1",
    );
    assert.match((await link.locator("text.rate").first().textContent()) ?? "", /\d+(\.\d+)? pps/);
    // fw1 drops the UDP stream: its box and its row turn red, fw2 (after it) does not.
    await page.locator('[data-node="stacked"][data-name="fw1"].dropping').waitFor();
    assert.equal(await page.locator('[data-node="stacked"][data-name="fw2"].dropping').count(), 0);
    await page.locator('#instances tr.dropping[data-instance="fw1"]').waitFor();
    // The link fw1 sits on shows the drops; the other one does not.
    await page.locator(`[data-link="br0:p2|${lab.iface(1)}"].dropping`).waitFor();
    assert.equal(await link.evaluate((e) => e.classList.contains("dropping")), false);
    await page.screenshot({ path: join(ARTIFACTS, "console-topology.png"), fullPage: true });
  });

  test("an instance page shows counters that move, table entries, charts and events", async () => {
    await page.goto(`${ORIGIN}/ui/#/`);
    await page.locator('[data-node="instance"][data-name="br0"]').click();
    await page.locator('[data-instance-page="br0"]').waitFor();
    const rx = page.locator('#ports tr[data-port="p1"] [data-counter="rx-packets"]');
    const first = num(
      await until(
        () => rx.textContent(),
        (v) => num(v) > 0,
        "rx packets of br0:p1",
      ),
    );
    await until(
      () => rx.textContent(),
      (v) => num(v) > first,
      "rx packets of br0:p1 growing",
    );
    // The FDB learned both hosts; the search narrows it to one.
    const rows = page.locator('[data-table="fdb"] tr[data-row]');
    await until(
      () => rows.count(),
      (n) => n >= 2,
      "FDB entries",
    );
    const mac = lab.net.hosts[0].mac.toLowerCase();
    assert.ok(
      ((await page.locator('[data-table="fdb"]').textContent()) ?? "").toLowerCase().includes(mac),
      "host 0's MAC is listed",
    );
    await page.fill('[data-table="fdb"] input.search', mac);
    assert.equal(await rows.count(), 1);
    await page.locator('#charts [data-chart="packets"] polyline').first().waitFor();
    await page.locator('#instance-events li[data-event="instance.created"]').waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "console-instance-br0.png"), fullPage: true });

    // fw1: its rule, its drops by reason, its attachment event.
    await page.goto(`${ORIGIN}/ui/#/instance/fw1`);
    await page.locator('[data-instance-page="fw1"]').waitFor();
    await page.locator("#tables tr[data-row]").first().waitFor();
    await page.screenshot({ path: join(ARTIFACTS, "console-instance-fw1.png"), fullPage: true });
    await page.locator('[data-table="rules"] tr[data-row]', { hasText: "drop" }).first().waitFor();
    await page.locator('#instance-events li[data-event="instance.attached"]').waitFor();
    await page.locator("#totals [data-drop]").first().waitFor();
  });

  test("a capture downloads as a pcap that tcpdump reads", async () => {
    await page.goto(`${ORIGIN}/ui/#/instance/br0`);
    await page.locator("#capture").waitFor();
    await page.selectOption("#capture-target", "br0:p1");
    await page.fill("#capture-seconds", "5");
    await page.fill("#capture-count", "10");
    await page.fill("#capture-filter", "icmp");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#capture-start")]);
    assert.match(download.suggestedFilename(), /^br0_p1-.*\.pcap$/);
    const file = join(ARTIFACTS, "console-capture.pcap");
    await download.saveAs(file);
    const r = await run("tcpdump", ["-nn", "-r", file], { allowFailure: true });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines.length, 10, r.stdout);
    assert.ok(
      lines.every((l) => /ICMP echo/.test(l)),
      r.stdout,
    );
    await page.locator("#capture-status", { hasText: "saved" }).waitFor();
  });

  test("the page asked nothing of any other origin", () => {
    // blob: URLs (the capture download) report their creator's origin.
    assert.deepEqual([...requested], [ORIGIN]);
  });
});
