// The NF types a daemon knows: the built-in packages under nf/ and those installed into its state
// directory (state-dir/nfs/<name>/<version>/), loaded the same way.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../../build/compile-bpf.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { NfPackage } from "./package.js";

const semverKey = (v: string) =>
  v
    .split(/[.+-]/)
    .map((x) => (/^\d+$/.test(x) ? x.padStart(8, "0") : x))
    .join(".");

export class NfRegistry {
  /** name -> version -> package */
  private readonly types = new Map<string, Map<string, NfPackage>>();

  constructor(readonly installDir: string) {}

  /** Packages that could not be loaded, with why (a broken package does not stop the others). */
  readonly problems: { dir: string; error: string }[] = [];

  /** Loads the built-in packages and everything installed. */
  load(builtinDir = join(projectRoot, "nf")): void {
    const tryAdd = (dir: string, builtin: boolean) => {
      try {
        this.add(NfPackage.open(dir, builtin));
      } catch (e) {
        this.problems.push({ dir, error: (e as Error).message });
      }
    };
    if (existsSync(builtinDir))
      for (const name of readdirSync(builtinDir)) {
        const dir = join(builtinDir, name);
        if (existsSync(join(dir, "nf.yaml"))) tryAdd(dir, true);
      }
    if (existsSync(this.installDir))
      for (const name of readdirSync(this.installDir))
        for (const version of readdirSync(join(this.installDir, name)))
          tryAdd(join(this.installDir, name, version), false);
  }

  private add(pkg: NfPackage): void {
    const versions = this.types.get(pkg.name) ?? new Map<string, NfPackage>();
    versions.set(pkg.version, pkg);
    this.types.set(pkg.name, versions);
  }

  list(): NfPackage[] {
    return [...this.types.values()]
      .flatMap((v) => [...v.values()])
      .sort((a, b) =>
        a.name < b.name ? -1 : a.name > b.name ? 1 : semverKey(a.version) < semverKey(b.version) ? -1 : 1,
      );
  }

  /** A type at a version, or its newest version. */
  get(name: string, version?: string): NfPackage {
    const versions = this.types.get(name);
    if (!versions)
      throw new NotFoundError(
        `no network function type '${name}' (installed: ${[...this.types.keys()].sort().join(", ") || "none"}); install one with plexus nf install DIR`,
      );
    if (version) {
      const p = versions.get(version);
      if (!p)
        throw new NotFoundError(
          `${name} has no version ${version} (versions: ${[...versions.keys()].join(", ")})`,
        );
      return p;
    }
    return [...versions.values()].sort((a, b) => (semverKey(a.version) < semverKey(b.version) ? 1 : -1))[0];
  }

  /** Installs a built package directory (copied, so the source may go away). */
  install(dir: string): NfPackage {
    const src = NfPackage.open(dir);
    const existing = this.types.get(src.name)?.get(src.version);
    if (existing?.builtin)
      throw new ConflictError(
        `${src.name} ${src.version} is built in; give your package another name or version`,
      );
    const dest = join(this.installDir, src.name, src.version);
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    cpSync(src.dir, dest, { recursive: true });
    const pkg = NfPackage.open(dest);
    this.add(pkg);
    return pkg;
  }

  /** Removes an installed type (all versions, or one). Built-ins cannot be removed. */
  remove(name: string, version?: string): void {
    const versions = this.types.get(name);
    if (!versions) throw new NotFoundError(`no network function type '${name}'`);
    const targets = version ? [this.get(name, version)] : [...versions.values()];
    for (const p of targets) {
      if (p.builtin) throw new ConflictError(`${p.name} ${p.version} is built in and cannot be removed`);
      rmSync(p.dir, { recursive: true, force: true });
      versions.delete(p.version);
    }
    if (versions.size === 0) this.types.delete(name);
  }
}
