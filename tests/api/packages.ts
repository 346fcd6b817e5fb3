// NF packages of the API tests (tests/fixtures/api_*): copied to a temporary directory, renamed or
// re-versioned there, built with the project's NF build and packed as the CLI packs them.
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildNfPackage, compileForHook } from "../../src/build/build-nf.js";
import { projectRoot } from "../../src/build/compile-bpf.js";
import { onExit } from "../../src/testbed/on-exit.js";

const FIXTURES = join(projectRoot, "tests", "fixtures");

export interface TestPackage {
  dir: string;
  tarball: Buffer;
}

/** A built copy of tests/fixtures/<fixture>/, optionally renamed, re-versioned or with other C. */
export async function testPackage(
  fixture: "api_wire" | "api_filter",
  opts: { name?: string; version?: string; dataplane?: string } = {},
): Promise<TestPackage> {
  const dir = mkdtempSync(join(tmpdir(), "px-nfpkg-"));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(FIXTURES, fixture), dir, { recursive: true });
  let manifest = readFileSync(join(dir, "nf.yaml"), "utf8");
  if (opts.name) manifest = manifest.replace(/^name: .*$/m, `name: ${opts.name}`);
  if (opts.version) manifest = manifest.replace(/^version: .*$/m, `version: ${opts.version}`);
  writeFileSync(join(dir, "nf.yaml"), manifest);
  if (opts.dataplane) copyFileSync(opts.dataplane, join(dir, "dataplane.c"));
  await buildNfPackage(dir);
  const tarball = execFileSync("tar", ["-czf", "-", "-C", dir, "."], { maxBuffer: 64 << 20 });
  return { dir, tarball };
}

export const rejectSource = join(FIXTURES, "api_reject.c");

/** tests/fixtures/api_reject.c built for a hook: an object the verifier refuses. */
export function rejectObject(hook: "tc" | "xdp"): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "px-reject-"));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  return compileForHook(rejectSource, hook, join(dir, `api_reject.${hook}.o`));
}
