// Builds network-function packages: dataplane.c once per hook the manifest lists, with the
// project's one set of flags plus the framework's include directory, into <pkg>/build/.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { compileBpf, projectRoot } from "./compile-bpf.js";
import { readManifest, type Manifest } from "../core/nf/manifest.js";

export type Hook = "tc" | "xdp";
export const FRAMEWORK_INCLUDE = join(projectRoot, "nf", "include");
export const FRAMEWORK_DIR = join(projectRoot, "nf", "framework");

const hookDefine = (hook: Hook) => ({ [`PX_HOOK_${hook.toUpperCase()}`]: 1 });

/** Object path of a package's data plane for a hook. */
export const nfObjectPath = (dir: string, name: string, hook: Hook): string =>
  join(dir, "build", `${name}.${hook}.o`);

/** Compiles one C file of the framework or an NF for one hook. */
export async function compileForHook(
  source: string,
  hook: Hook,
  output: string,
  extraInclude: string[] = [],
): Promise<string> {
  return compileBpf(source, {
    includeDirs: [FRAMEWORK_INCLUDE, ...extraInclude],
    defines: hookDefine(hook),
    output,
  });
}

/** Builds the framework's own programs (entry stub, injector) for both hooks. */
export async function buildFramework(): Promise<Record<Hook, string>> {
  const src = join(FRAMEWORK_DIR, "stub.c");
  return {
    xdp: await compileForHook(src, "xdp", join(FRAMEWORK_DIR, "build", "stub.xdp.o")),
    tc: await compileForHook(src, "tc", join(FRAMEWORK_DIR, "build", "stub.tc.o")),
  };
}

/** Builds an NF package directory (nf.yaml + dataplane.c) and returns its manifest and objects. */
export async function buildNfPackage(
  dir: string,
): Promise<{ manifest: Manifest; objects: Partial<Record<Hook, string>> }> {
  const pkg = resolve(dir);
  const manifest = readManifest(join(pkg, "nf.yaml"));
  const source = join(pkg, "dataplane.c");
  const objects: Partial<Record<Hook, string>> = {};
  for (const hook of manifest.hooks ?? ["tc", "xdp"]) {
    const out = nfObjectPath(pkg, manifest.name, hook);
    if (!existsSync(source)) {
      if (!existsSync(out)) throw new Error(`${pkg}: neither dataplane.c nor ${out} exists`);
      objects[hook] = out;
      continue;
    }
    objects[hook] = await compileForHook(source, hook, out, [pkg]);
  }
  return { manifest, objects };
}
