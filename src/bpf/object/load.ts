// Loading an ObjectSpec into the kernel: BTF, maps (pinned, reused or replaced by existing ones),
// programs with their func/line info, then static prog-array and map-in-map initialisers, then
// freezing read-only data. A failure part-way closes and unpins everything this load created.
import { join } from "node:path";
import { MapType, Pseudo } from "../constants.js";
import { BpfError, ObjectFileError, PinError, PlexusBpfError, VerifierError } from "../errors.js";
import { encode } from "../insn/codec.js";
import type { Instruction } from "../insn/instruction.js";
import { BpfMap } from "../map/map.js";
import type { MapCreateOptions } from "../map/map.js";
import { BpfProgram } from "../prog/program.js";
import { loadBtf } from "../btf-kernel.js";
import { openOrCreatePinnedMap, pinnedMapDifferences, unpinPath } from "../pin.js";
import type { PinPolicy } from "../pin.js";
import { progBindMap } from "../sys/bpf.js";
import { possibleCpus } from "../sys/cpus.js";
import { kconfigData } from "./kconfig.js";
import type { MapSpec, ObjectSpec, ProgramSpec } from "./spec.js";

export interface LoadOptions {
  /** Directory where maps with pinning (LIBBPF_PIN_BY_NAME, iproute2 PIN_GLOBAL_NS) are pinned by name (default /sys/fs/bpf, as libbpf). */
  pinRoot?: string;
  /** Pin these maps at these paths (also pins maps the object does not mark as pinned). */
  pinPaths?: Record<string, string>;
  /** What to do when a pin path already holds a map: reuse it if compatible (libbpf's default), replace it, or fail. */
  pinPolicy?: PinPolicy;
  /** Use these existing maps instead of creating new ones (how state survives an upgrade). Not closed by close(). */
  replaceMaps?: Record<string, BpfMap>;
  /** Load only these programs (default: every program with autoload). */
  programs?: string[];
  /** Verifier log level for every program (0 = log only on failure). */
  logLevel?: number;
  /** Kernel config used for kconfig externs (default: the running kernel's). */
  kernelConfig?: Map<string, string>;
}

/** Map types that take no BTF key/value types (libbpf's bpf_object__create_map() list). */
const NO_BTF_TYPES = new Set<number>([
  MapType.PERF_EVENT_ARRAY,
  MapType.CGROUP_ARRAY,
  MapType.STACK_TRACE,
  MapType.ARRAY_OF_MAPS,
  MapType.HASH_OF_MAPS,
  MapType.DEVMAP,
  MapType.DEVMAP_HASH,
  MapType.CPUMAP,
  MapType.XSKMAP,
  MapType.SOCKMAP,
  MapType.SOCKHASH,
  MapType.QUEUE,
  MapType.STACK,
]);

export class LoadedObject {
  constructor(
    readonly spec: ObjectSpec,
    readonly maps: ReadonlyMap<string, BpfMap>,
    readonly programs: ReadonlyMap<string, BpfProgram>,
    private readonly owned: BpfMap[],
    private readonly btfFd: { close(): void } | undefined,
  ) {}

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m)
      throw new PlexusBpfError(
        `${this.spec.file}: no map '${name}' (maps: ${[...this.maps.keys()].join(", ")})`,
      );
    return m;
  }

  program(name: string): BpfProgram {
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
    const value = this.map(v.map).lookup(Buffer.alloc(4));
    if (!value) throw new PlexusBpfError(`${this.spec.file}: data map ${v.map} is empty`);
    return Buffer.from(value.subarray(v.offset, v.offset + v.size));
  }

  /** Closes every program and every map this load created (pinned objects stay pinned). */
  close(): void {
    for (const p of this.programs.values()) p.close();
    for (const m of this.owned) m.close();
    this.btfFd?.close();
  }
}

/** Instructions with map and extern references turned into fds and offsets, encoded. */
function finalize(prog: ProgramSpec, fds: (map: string) => number, spec: ObjectSpec): Buffer {
  const kconfigMap = [...spec.maps.values()].find((m) => m.origin === "kconfig")?.name;
  const insns = prog.instructions.map((insn): Instruction => {
    const ref = insn.ref;
    if (!ref) return insn;
    if (ref.map !== undefined) {
      const fd = fds(ref.map);
      return ref.mapOffset === undefined
        ? { ...insn, src: Pseudo.MAP_FD, imm: fd, imm2: 0 }
        : { ...insn, src: Pseudo.MAP_VALUE, imm: fd, imm2: ref.mapOffset };
    }
    if (ref.extern !== undefined) {
      const k = spec.kconfig.find((e) => e.name === ref.extern);
      if (!k || !kconfigMap)
        throw new ObjectFileError(
          `program '${prog.name}': extern '${ref.extern}' is not a kconfig value (kernel symbols are not supported yet)`,
          spec.file,
        );
      return { ...insn, src: Pseudo.MAP_VALUE, imm: fds(kconfigMap), imm2: k.offset };
    }
    return insn;
  });
  return encode(insns);
}

function funcInfoBlob(prog: ProgramSpec): Buffer {
  const b = Buffer.alloc(prog.funcInfo.length * 8);
  prog.funcInfo.forEach((f, i) => {
    b.writeUInt32LE(f.insnOff, i * 8);
    b.writeUInt32LE(f.typeId, i * 8 + 4);
  });
  return b;
}

function lineInfoBlob(prog: ProgramSpec): Buffer {
  const b = Buffer.alloc(prog.lineInfo.length * 16);
  prog.lineInfo.forEach((l, i) => {
    b.writeUInt32LE(l.insnOff, i * 16);
    b.writeUInt32LE(l.fileNameOff, i * 16 + 4);
    b.writeUInt32LE(l.lineOff, i * 16 + 8);
    b.writeUInt32LE(l.lineCol, i * 16 + 12);
  });
  return b;
}

function createOptions(m: MapSpec, btfFd: number | undefined): MapCreateOptions {
  const withBtf = btfFd !== undefined && !NO_BTF_TYPES.has(m.type) && (m.btfKeyTypeId || m.btfValueTypeId);
  return {
    type: m.type,
    keySize: m.keySize,
    valueSize: m.valueSize,
    maxEntries: m.type === MapType.PERF_EVENT_ARRAY && m.maxEntries === 0 ? possibleCpus() : m.maxEntries,
    flags: m.flags,
    name: m.name,
    numaNode: m.numaNode,
    mapExtra: m.mapExtra,
    ...(withBtf ? { btfFd, btfKeyTypeId: m.btfKeyTypeId, btfValueTypeId: m.btfValueTypeId } : {}),
  };
}

/**
 * Creates with BTF key/value types and, when the kernel refuses them, again without (libbpf's
 * "Retrying without BTF"): some map types take no BTF types for their key or value.
 */
function withoutBtfOnFailure<T>(opts: MapCreateOptions, create: (o: MapCreateOptions) => T): T {
  try {
    return create(opts);
  } catch (e) {
    if (!(e instanceof BpfError) || opts.btfFd === undefined) throw e;
    const { btfFd: _fd, btfKeyTypeId: _k, btfValueTypeId: _v, ...plain } = opts;
    return create(plain);
  }
}

/** Checks that an existing map can stand in for a spec (libbpf's map_is_reuse_compat). */
export function checkCompatible(m: MapSpec, existing: BpfMap, what: string): void {
  const diffs = pinnedMapDifferences(existing, createOptions(m, undefined));
  if (diffs.length) throw new PinError(`map '${m.name}': ${what} is not compatible: ${diffs.join(", ")}`);
}

/** Loads the object: see LoadOptions. Programs load on libuv's thread pool. */
export async function loadObject(spec: ObjectSpec, opts: LoadOptions = {}): Promise<LoadedObject> {
  const created: BpfMap[] = [];
  const pinnedHere: string[] = [];
  const maps = new Map<string, BpfMap>();
  const programs = new Map<string, BpfProgram>();
  let btfHandle: { fd: number; close(): void } | undefined;
  const policy = opts.pinPolicy ?? "reuse";
  try {
    if (spec.btf) btfHandle = loadBtf(spec.btf.marshal());
    const btfFd = btfHandle?.fd;

    for (const m of spec.maps.values()) {
      const replacement = opts.replaceMaps?.[m.name];
      if (replacement) {
        checkCompatible(m, replacement, "the replacement map");
        maps.set(m.name, replacement);
        continue;
      }
      let inner: BpfMap | undefined;
      if (m.innerMap) {
        const innerSpec = m.innerMap;
        inner = withoutBtfOnFailure(createOptions(innerSpec, btfFd), (o) => BpfMap.create(o));
      }
      const create = { ...createOptions(m, btfFd), ...(inner ? { innerMapFd: inner.fd } : {}) };
      const pinPath =
        opts.pinPaths?.[m.name] ?? (m.pinning !== "none" ? pinPathFor(m, opts.pinRoot) : undefined);
      let map: BpfMap;
      let isNew = true;
      try {
        if (pinPath) {
          const r = withoutBtfOnFailure(create, (o) => openOrCreatePinnedMap(pinPath, o, policy));
          map = r.map;
          isNew = r.created;
          if (r.created) pinnedHere.push(pinPath);
        } else {
          map = withoutBtfOnFailure(create, (o) => BpfMap.create(o));
        }
      } finally {
        inner?.close();
      }
      created.push(map);
      maps.set(m.name, map);
      if (isNew && m.data) {
        const data =
          m.origin === "kconfig"
            ? kconfigData(spec.kconfig, m.valueSize, spec.file, opts.kernelConfig)
            : m.data;
        map.update(Buffer.alloc(4), data);
      }
      // Frozen before programs load (as libbpf does), so the verifier knows the constants and
      // removes branches they make dead.
      if (isNew && m.freeze) map.freeze();
    }

    const fds = (name: string): number => {
      const m = maps.get(name);
      if (!m)
        throw new ObjectFileError(`reference to map '${name}', which the object does not define`, spec.file);
      return m.fd;
    };
    const wanted = opts.programs ? new Set(opts.programs) : undefined;
    for (const name of wanted ?? []) {
      if (!spec.programs.has(name))
        throw new ObjectFileError(
          `no program '${name}' (programs: ${[...spec.programs.keys()].join(", ")})`,
          spec.file,
        );
    }
    for (const p of spec.programs.values()) {
      if (wanted ? !wanted.has(p.name) : !p.autoload) continue;
      const useBtf = btfFd !== undefined && p.funcInfo.length > 0;
      try {
        const prog = await BpfProgram.loadAsync({
          type: p.type,
          expectedAttachType: p.expectedAttachType,
          name: p.name,
          insns: finalize(p, fds, spec),
          license: p.license,
          kernVersion: p.kernelVersion,
          flags: p.flags,
          logLevel: opts.logLevel,
          ...(useBtf
            ? {
                btfFd,
                funcInfo: funcInfoBlob(p),
                funcInfoRecSize: 8,
                lineInfo: lineInfoBlob(p),
                lineInfoRecSize: 16,
              }
            : {}),
        });
        programs.set(p.name, prog);
        // libbpf binds every .rodata* map to every program, so tools find them (bpftool's
        // program metadata) and they live as long as the program.
        for (const m of spec.maps.values())
          if (m.origin === "data" && m.freeze) progBindMap(prog.fd, (maps.get(m.name) as BpfMap).fd);
      } catch (e) {
        if (e instanceof VerifierError) {
          throw new VerifierError(
            e.program,
            e.errno,
            e.log,
            e.instruction,
            `${spec.file}: program '${p.name}' (section ${p.section}): ${e.message}`,
          );
        }
        throw e;
      }
    }

    // Static initialisers, after every program exists (libbpf's order).
    for (const m of spec.maps.values()) {
      if (m.initialSlots.size === 0 || opts.replaceMaps?.[m.name]) continue;
      const map = maps.get(m.name) as BpfMap;
      for (const [slot, target] of m.initialSlots) {
        const fd = m.innerMap ? maps.get(target)?.fd : programs.get(target)?.fd;
        if (fd === undefined) continue; // a program that was not loaded
        const key = Buffer.alloc(4);
        key.writeUInt32LE(slot);
        const value = Buffer.alloc(4);
        value.writeUInt32LE(fd);
        map.update(key, value);
      }
    }
    return new LoadedObject(spec, maps, programs, created, btfHandle);
  } catch (e) {
    for (const p of programs.values()) p.close();
    for (const m of created) m.close();
    for (const path of pinnedHere) unpinPath(path);
    btfHandle?.close();
    throw e;
  }
}

/** libbpf's default pin root for maps pinned by name. */
export const DEFAULT_PIN_ROOT = "/sys/fs/bpf";

function pinPathFor(m: MapSpec, root: string | undefined): string {
  return join(root ?? DEFAULT_PIN_ROOT, m.name);
}
