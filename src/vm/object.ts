// Loading an object (an ObjectSpec of plexus/bpf) into the userspace runtime: the userspace
// equivalent of loadObject() in plexus/bpf. Maps are created here instead of in the kernel,
// global data and kconfig values are written into them, lddw references become map pointers and
// value addresses, and static prog-array and map-in-map initialisers are applied.
import { MapType, ProgType, progTypeName } from "../bpf/constants.js";
import { ObjectFileError, PlexusBpfError, VmLoadError } from "../bpf/errors.js";
import type { Instruction } from "../bpf/insn/instruction.js";
import { kconfigData } from "../bpf/object/kconfig.js";
import type { MapSpec, ObjectSpec, ProgramSpec } from "../bpf/object/spec.js";
import { SlotArrayMap } from "./maps/array.js";
import type { VmMap } from "./maps/base.js";
import { HashMap } from "./maps/hash.js";
import type { ContextKind } from "./prepare.js";
import type { VmProgram } from "./program.js";
import type { Vm } from "./vm.js";

export interface VmLoadOptions {
  /** Load only these programs (default: every program with autoload). */
  programs?: string[];
  /** Kernel config for kconfig externs (default: the running kernel's). */
  kernelConfig?: Map<string, string>;
  /** Use these maps of the same runtime instead of creating new ones (state kept across reloads). */
  replaceMaps?: Record<string, VmMap>;
}

/** The program types the runtime runs, and the context each one gets. */
export function contextOf(type: number): ContextKind | undefined {
  switch (type) {
    case ProgType.XDP:
      return "xdp";
    case ProgType.SCHED_CLS:
    case ProgType.SCHED_ACT:
      return "tc";
    case ProgType.SOCKET_FILTER:
      return "socket";
    default:
      return undefined;
  }
}

export class VmObject {
  constructor(
    readonly vm: Vm,
    readonly spec: ObjectSpec,
    readonly maps: ReadonlyMap<string, VmMap>,
    readonly programs: ReadonlyMap<string, VmProgram>,
  ) {}

  map(name: string): VmMap {
    const m = this.maps.get(name);
    if (!m)
      throw new PlexusBpfError(
        `${this.spec.file}: no map '${name}' (maps: ${[...this.maps.keys()].join(", ")})`,
      );
    return m;
  }

  program(name: string): VmProgram {
    const p = this.programs.get(name);
    if (!p)
      throw new PlexusBpfError(
        `${this.spec.file}: no loaded program '${name}' (loaded: ${[...this.programs.keys()].join(", ")})`,
      );
    return p;
  }

  /** Current bytes of a global variable (.data, .bss, .rodata). */
  readVariable(name: string): Buffer {
    const v = this.spec.variables.get(name);
    if (!v) throw new PlexusBpfError(`${this.spec.file}: no global variable '${name}'`);
    const addr = this.map(v.map).directValueAddress() as number;
    return this.vm.mem.read(addr + v.offset, v.size);
  }

  /** Writes a global variable's bytes (what a write through the kernel map's mmap does). */
  writeVariable(name: string, bytes: Uint8Array): void {
    const v = this.spec.variables.get(name);
    if (!v) throw new PlexusBpfError(`${this.spec.file}: no global variable '${name}'`);
    if (bytes.length !== v.size)
      throw new PlexusBpfError(`variable '${name}' has ${v.size} bytes, got ${bytes.length}`);
    const addr = this.map(v.map).directValueAddress() as number;
    this.vm.mem.write(addr + v.offset, bytes);
  }
}

function createMap(vm: Vm, m: MapSpec): VmMap {
  return vm.createMap({
    type: m.type,
    name: m.name,
    keySize: m.keySize,
    valueSize: m.valueSize,
    maxEntries: m.type === MapType.PERF_EVENT_ARRAY && m.maxEntries === 0 ? vm.cpus : m.maxEntries,
    flags: m.flags,
    mapExtra: m.mapExtra,
  });
}

/** Loads an object's maps and programs into the runtime. */
export function loadVmObject(vm: Vm, spec: ObjectSpec, opts: VmLoadOptions = {}): VmObject {
  const maps = new Map<string, VmMap>();
  for (const m of spec.maps.values()) {
    const replacement = opts.replaceMaps?.[m.name];
    if (replacement) {
      if (
        replacement.type !== m.type ||
        replacement.keySize !== m.keySize ||
        replacement.valueSize !== m.valueSize
      )
        throw new PlexusBpfError(`map '${m.name}': the replacement map is not compatible`);
      maps.set(m.name, replacement);
      continue;
    }
    const map = createMap(vm, m);
    maps.set(m.name, map);
    if (m.data) {
      const data =
        m.origin === "kconfig"
          ? kconfigData(spec.kconfig, m.valueSize, spec.file, opts.kernelConfig)
          : m.data;
      map.update(Buffer.alloc(4), data);
    }
  }
  // Map-in-map values are map ids of this runtime; prog arrays hold program ids.
  for (const m of maps.values()) {
    if (m instanceof SlotArrayMap || m instanceof HashMap) {
      if (m.type === MapType.PROG_ARRAY) m.validate = (id) => vm.programs[id] !== undefined;
      if (m.type === MapType.ARRAY_OF_MAPS || m.type === MapType.HASH_OF_MAPS) {
        m.validate = (id) => vm.maps[id] !== undefined;
        m.innerMapHeader = (id) => vm.maps[id]?.header ?? 0;
      }
    }
  }

  const wanted = opts.programs ? new Set(opts.programs) : undefined;
  for (const name of wanted ?? [])
    if (!spec.programs.has(name))
      throw new ObjectFileError(
        `no program '${name}' (programs: ${[...spec.programs.keys()].join(", ")})`,
        spec.file,
      );
  const programs = new Map<string, VmProgram>();
  for (const p of spec.programs.values()) {
    if (wanted ? !wanted.has(p.name) : !p.autoload) continue;
    programs.set(p.name, loadSpecProgram(vm, spec, p, maps));
  }

  for (const m of spec.maps.values()) {
    if (m.initialSlots.size === 0 || opts.replaceMaps?.[m.name]) continue;
    const map = maps.get(m.name) as VmMap;
    for (const [slot, target] of m.initialSlots) {
      const id = m.innerMap ? maps.get(target)?.id : programs.get(target)?.id;
      if (id === undefined) continue;
      const key = Buffer.alloc(4);
      key.writeUInt32LE(slot);
      const value = Buffer.alloc(4);
      value.writeUInt32LE(id);
      map.update(key, value);
    }
  }
  return new VmObject(vm, spec, maps, programs);
}

function loadSpecProgram(vm: Vm, spec: ObjectSpec, p: ProgramSpec, maps: Map<string, VmMap>): VmProgram {
  const ctx = contextOf(p.type);
  if (!ctx)
    throw new VmLoadError(
      p.name,
      undefined,
      `program type ${progTypeName(p.type)} cannot run in the userspace runtime (XDP, TC and socket filters can)`,
    );
  const kconfigMap = [...spec.maps.values()].find((m) => m.origin === "kconfig")?.name;
  const mapOf = (name: string, i: number): VmMap => {
    const m = maps.get(name);
    if (!m) throw new VmLoadError(p.name, i, `reference to map '${name}', which the object does not define`);
    return m;
  };
  const valueAddr = (m: VmMap, off: number, i: number): bigint => {
    const base = m.directValueAddress();
    if (base === undefined || off < 0 || off >= m.valueSize)
      throw new VmLoadError(p.name, i, `map '${m.name}' has no value at offset ${off}`);
    return BigInt(base + off);
  };
  return vm.loadProgram(p.instructions, {
    name: p.name,
    type: p.type,
    expectedAttachType: p.expectedAttachType,
    ctx,
    resolveWide: (insn: Instruction, i: number) => {
      const ref = insn.ref;
      if (ref?.map !== undefined) {
        const m = mapOf(ref.map, i);
        return ref.mapOffset === undefined ? BigInt(m.header) : valueAddr(m, ref.mapOffset, i);
      }
      if (ref?.extern !== undefined) {
        const k = spec.kconfig.find((e) => e.name === ref.extern);
        if (!k || !kconfigMap)
          throw new VmLoadError(
            p.name,
            i,
            `extern '${ref.extern}' is not a kconfig value (kernel symbols are not supported)`,
          );
        return valueAddr(mapOf(kconfigMap, i), k.offset, i);
      }
      if (insn.src !== 0)
        throw new VmLoadError(
          p.name,
          i,
          `lddw with pseudo source ${insn.src} and no reference the runtime can resolve`,
        );
      return BigInt.asUintN(64, (BigInt(insn.imm2 ?? 0) << 32n) | BigInt(insn.imm >>> 0));
    },
  });
}
