// A network-function package on disk: manifest, data-plane objects per hook, control-plane module.
import { existsSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { BpfObject } from "../../bpf/object/object.js";
import { nfObjectPath } from "../../build/build-nf.js";
import { projectRoot } from "../../build/compile-bpf.js";
import { NotFoundError, ValidationError } from "../errors.js";
import type { ControlPlane } from "../nf-api.js";
import type { Hook } from "../topology.js";
import { ManifestError, readManifest, type Manifest } from "./manifest.js";

export class NfPackage {
  private controlPlane: Promise<ControlPlane> | undefined;
  private readonly parsed = new Map<Hook, BpfObject>();

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    readonly builtin: boolean,
  ) {}

  /** Reads a package directory (nf.yaml, build/<name>.<hook>.o, the control-plane module). */
  static open(dir: string, builtin = false): NfPackage {
    const pkg = new NfPackage(resolve(dir), readManifest(join(dir, "nf.yaml")), builtin);
    for (const hook of pkg.hooks) {
      if (!existsSync(pkg.object(hook)))
        throw new ManifestError(
          `${pkg.dir}: no ${hook} object at ${pkg.object(hook)}; build the package first (npm run build, or plexus nf install DIR builds it)`,
        );
    }
    return pkg;
  }

  get name(): string {
    return this.manifest.name;
  }

  get version(): string {
    return this.manifest.version;
  }

  get hooks(): Hook[] {
    return this.manifest.hooks ?? ["tc", "xdp"];
  }

  object(hook: Hook): string {
    return nfObjectPath(this.dir, this.name, hook);
  }

  /** The parsed data-plane object for a hook (parsed once: loading does not change it). */
  bpfObject(hook: Hook): BpfObject {
    let o = this.parsed.get(hook);
    if (!o) {
      o = BpfObject.open(this.object(hook));
      this.parsed.set(hook, o);
    }
    return o;
  }

  supports(hook: Hook): boolean {
    return this.hooks.includes(hook);
  }

  /**
   * The control-plane module, imported once. Built-in packages keep their TypeScript beside the
   * manifest and their compiled module in the same place under dist/.
   */
  control(): Promise<ControlPlane> {
    const file = this.manifest.controlPlane;
    if (!file) return Promise.resolve({});
    this.controlPlane ??= (async () => {
      let path = join(this.dir, file);
      if (!existsSync(path) && this.builtin)
        path = join(projectRoot, "dist", relative(projectRoot, this.dir), file);
      if (!existsSync(path))
        throw new NotFoundError(`${this.name}: control-plane module ${file} not found in ${this.dir}`);
      const mod = (await import(pathToFileURL(path).href)) as { default?: ControlPlane };
      if (!mod.default || typeof mod.default !== "object")
        throw new ValidationError(
          `${this.name}: ${file} must export a control plane as default (defineControlPlane({...}))`,
        );
      return mod.default;
    })();
    return this.controlPlane;
  }
}
