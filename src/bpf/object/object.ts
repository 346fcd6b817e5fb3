// BpfObject: the load-time builder around an ObjectSpec, in the spirit of libbpf's
// bpf_object__open() / set_* / load(): inspect and change maps, constants and programs, then load.
import { ObjectFileError } from "../errors.js";
import type { LoadOptions } from "./load.js";
import { LoadedObject, loadObject } from "./load.js";
import type { OpenOptions } from "./open.js";
import { openObject, openObjectFile } from "./open.js";
import type { MapSpec, ObjectSpec, ProgramSpec, VariableSpec } from "./spec.js";
import type { VariableValue } from "./variables.js";
import { encodeVariable } from "./variables.js";

export class BpfObject {
  private constructor(readonly spec: ObjectSpec) {}

  static open(path: string, opts?: OpenOptions): BpfObject {
    return new BpfObject(openObjectFile(path, opts));
  }

  static fromBuffer(bytes: Uint8Array, opts?: OpenOptions): BpfObject {
    return new BpfObject(openObject(bytes, opts));
  }

  get file(): string {
    return this.spec.file;
  }

  map(name: string): MapSpec {
    const m = this.spec.maps.get(name);
    if (!m)
      throw new ObjectFileError(
        `no map '${name}' (maps: ${[...this.spec.maps.keys()].join(", ") || "none"})`,
        this.file,
      );
    return m;
  }

  program(name: string): ProgramSpec {
    const p = this.spec.programs.get(name);
    if (!p)
      throw new ObjectFileError(
        `no program '${name}' (programs: ${[...this.spec.programs.keys()].join(", ") || "none"})`,
        this.file,
      );
    return p;
  }

  variable(name: string): VariableSpec {
    const v = this.spec.variables.get(name);
    if (!v)
      throw new ObjectFileError(
        `no global variable '${name}' (variables: ${[...this.spec.variables.keys()].join(", ") || "none"})`,
        this.file,
      );
    return v;
  }

  /** Sets a global variable's initial value (a `const volatile` constant or a .data/.bss variable). */
  setVariable(name: string, value: VariableValue): this {
    const v = this.variable(name);
    const map = this.map(v.map);
    if (!map.data)
      throw new ObjectFileError(`variable '${name}' lives in ${v.map}, which has no initial data`, this.file);
    encodeVariable(this.spec.btf, v, value).copy(map.data, v.offset);
    return this;
  }

  /** Alias of setVariable for read-only constants, named as libbpf users know it. */
  setConstant(name: string, value: VariableValue): this {
    return this.setVariable(name, value);
  }

  setMaxEntries(map: string, maxEntries: number): this {
    const m = this.map(map);
    if (m.origin === "data" || m.origin === "kconfig")
      throw new ObjectFileError(`map '${map}' holds global data; its size is fixed`, this.file);
    if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > 0xffffffff)
      throw new ObjectFileError(
        `max entries for '${map}' must be an integer in [1, 2^32): ${maxEntries}`,
        this.file,
      );
    m.maxEntries = maxEntries;
    return this;
  }

  setAutoload(program: string, autoload: boolean): this {
    this.program(program).autoload = autoload;
    return this;
  }

  load(opts?: LoadOptions): Promise<LoadedObject> {
    return loadObject(this.spec, opts);
  }
}
