// Headless Chromium (Debian's /usr/bin/chromium, installed by scripts/setup.sh) driven by
// playwright-core, started inside a network namespace so that it reaches a daemon listening on
// that namespace's loopback. Playwright talks to the browser over a pipe, which crosses
// `ip netns exec` unchanged.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { onExit } from "../../src/testbed/on-exit.js";

export const CHROMIUM = "/usr/bin/chromium";

export interface NsBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchInNamespace(ns: string): Promise<NsBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/setup.sh`);
  const dir = mkdtempSync(join(tmpdir(), "px-chromium-"));
  const removeDir = onExit(() => rmSync(dir, { recursive: true, force: true }));
  const wrapper = join(dir, "chromium-in-ns");
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o700);
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: wrapper,
      headless: true,
      timeout: 60_000,
      // As root in a container: no sandbox, no GPU, no /dev/shm size limits.
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
    });
  } catch (e) {
    removeDir();
    throw e;
  }
  return {
    browser,
    async close() {
      try {
        await browser.close();
      } finally {
        removeDir();
      }
    },
  };
}
