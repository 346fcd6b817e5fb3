// Reads an eBPF ELF object into an ObjectSpec: sections, maps (BTF, legacy, global data, kconfig),
// programs linked with their subprograms, CO-RE relocations applied against the running kernel.
// Pure: nothing here touches the kernel except reading /sys/kernel/btf/vmlinux for CO-RE.
import { readFileSync } from "../sys/fs.js";
import { basename } from "node:path";
import { ObjectFileError, PlexusBpfError, RelocationError } from "../errors.js";
import { Btf, BtfExt, applyCoreRelocations, fixupDatasecs, vmlinuxBtf } from "../btf/index.js";
import type { ElfSection, ElfSymbol } from "../elf/index.js";
import { ElfFile, SHF, SHN_UNDEF, SHT } from "../elf/index.js";
import { MapFlags, MapType } from "../constants.js";
import type { CodeFunction, DecodedSection, RelocationCounts, SymbolClassifier } from "./functions.js";
import { decodeSection, resolveRelocations, splitFunctions } from "./functions.js";
import { newMapSpec, parseBtfMaps } from "./btf-maps.js";
import { parseLegacyMaps } from "./legacy-maps.js";
import { kconfigExterns } from "./kconfig.js";
import type { SectionDebugInfo } from "./link.js";
import { linkProgram } from "./link.js";
import { PROGRAM_TYPE_ALIASES, findSectionDef } from "./sections.js";
import type { MapSpec, ObjectSpec, ProgramSpec, VariableSpec } from "./spec.js";

export interface OpenOptions {
  /** Name used in errors and for internal map names (defaults to the file's basename). */
  name?: string;
  /**
   * Program types for sections libbpf does not know (iproute2-era names like "prog" or
   * "ingress"), or to override the table: section name (or program name) -> type alias
   * ("xdp", "tc", "tcx_ingress", ...).
   */
  programTypes?: Record<string, string>;
  /** Target BTF for CO-RE (defaults to /sys/kernel/btf/vmlinux). */
  coreTarget?: () => Btf;
}

/** An input that broke an internal assumption: reported to users, treated as a bug by the fuzz tests. */
export class MalformedObjectError extends ObjectFileError {
  override name = "MalformedObjectError";
  constructor(
    message: string,
    file: string,
    readonly internal: unknown,
  ) {
    super(message, file);
  }
}

const DATA_PREFIXES = [".data", ".rodata", ".bss"];
const isDataSection = (name: string) => DATA_PREFIXES.some((p) => name === p || name.startsWith(`${p}.`));

/** libbpf's internal map name: object-name prefix + section name, 15 chars, kernel-safe. */
export function internalMapName(objectName: string, section: string): string {
  let sfx = Math.max(7, section.length);
  if (sfx >= 16) sfx = 15;
  const pfx = section.indexOf(".", 1) >= 0 ? 0 : Math.min(16 - sfx - 1, objectName.length);
  const name = (objectName.slice(0, pfx) + section.slice(0, sfx)).slice(0, 15);
  return name.replace(/[^A-Za-z0-9_.]/g, "_");
}

/** Opens an object file from disk. */
export function openObjectFile(path: string, opts: OpenOptions = {}): ObjectSpec {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ObjectFileError(`cannot read object: ${(e as Error).message}`, path);
  }
  return openObject(bytes, { name: opts.name ?? path, ...opts });
}

/** Parses an object from bytes. Errors are ObjectFileError subclasses naming the file and what is wrong. */
export function openObject(bytes: Uint8Array, opts: OpenOptions = {}): ObjectSpec {
  const file = opts.name ?? "buffer";
  try {
    return parseObject(bytes, file, opts);
  } catch (e) {
    if (e instanceof PlexusBpfError) throw e;
    // Anything else is a bug or a corrupt input we failed to describe: still a typed error.
    throw new MalformedObjectError(`malformed object: ${(e as Error).message}`, file, e);
  }
}

function parseObject(bytes: Uint8Array, file: string, opts: OpenOptions): ObjectSpec {
  const elf = ElfFile.parse(bytes, file);
  const objectName = basename(file).replace(/\..*$/, "") || "obj";

  const licenseSec = elf.sectionByName("license");
  const license = licenseSec ? cString(licenseSec.data()) : "";
  const versionSec = elf.sectionByName("version");
  const kernelVersion =
    versionSec && versionSec.size >= 4
      ? new DataView(versionSec.data().buffer, versionSec.data().byteOffset).getUint32(0, true)
      : 0;

  // BTF, fixed up so that the kernel accepts its data sections.
  const btfSec = elf.sectionByName(".BTF");
  let btf: Btf | undefined;
  if (btfSec) {
    btf = fixupDatasecs(Btf.parse(btfSec.data(), { fileName: file }), elf);
  }
  const extSec = elf.sectionByName(".BTF.ext");
  const ext = btf && extSec ? BtfExt.parse(extSec.data(), btf, { fileName: file }) : undefined;

  const maps = new Map<string, MapSpec>();
  const addMap = (m: MapSpec) => {
    if (maps.has(m.name)) throw new ObjectFileError(`two maps are named '${m.name}'`, file);
    maps.set(m.name, m);
  };
  const mapByOffset = new Map<number, Map<number, string>>(); // section -> offset -> map

  const btfMapsSec = elf.sectionByName(".maps");
  if (btfMapsSec) {
    const r = parseBtfMaps(elf, btfMapsSec, btf, file);
    r.maps.forEach(addMap);
    mapByOffset.set(btfMapsSec.index, r.byOffset);
  }
  const legacySec = elf.sectionByName("maps");
  if (legacySec) {
    const r = parseLegacyMaps(elf, legacySec, file);
    r.maps.forEach(addMap);
    mapByOffset.set(legacySec.index, r.byOffset);
  }

  // Global data: one array map per .data*, .rodata*, .bss* section that has bytes.
  const variables = new Map<string, VariableSpec>();
  const dataMaps = new Map<number, string>();
  for (const sec of elf.sections) {
    if (!isDataSection(sec.name) || sec.size === 0) continue;
    if (sec.type !== SHT.PROGBITS && sec.type !== SHT.NOBITS) continue;
    const spec = globalDataMap(elf, sec, btf, objectName, variables);
    addMap(spec);
    dataMaps.set(sec.index, spec.name);
  }

  // Externs: kconfig values and kernel symbols/functions.
  const externSyms = elf.symbols.filter(
    (s) =>
      s.sectionIndex === SHN_UNDEF &&
      (s.bind === "GLOBAL" || s.bind === "WEAK") &&
      s.type === "NOTYPE" &&
      s.name !== "",
  );
  let kconfig: ObjectSpec["kconfig"] = [];
  if (btf) {
    const weak = new Set(externSyms.filter((s) => s.bind === "WEAK").map((s) => s.name));
    const k = kconfigExterns(btf, weak, file);
    kconfig = k.externs;
    if (kconfig.length > 0) {
      addMap(
        newMapSpec(internalMapName(objectName, ".kconfig"), ".kconfig", {
          origin: "kconfig",
          type: MapType.ARRAY,
          keySize: 4,
          valueSize: k.size,
          maxEntries: 1,
          flags: MapFlags.RDONLY_PROG | MapFlags.MMAPABLE,
          freeze: true,
          btfValueTypeId: btf.typesByName(".kconfig").find((t) => t.kind === "datasec")?.id ?? 0,
          data: Buffer.alloc(k.size),
        }),
      );
    }
  }

  const externNames = new Set(externSyms.map((s) => s.name));
  const classify: SymbolClassifier = {
    mapAt: (section, offset) => mapByOffset.get(section)?.get(offset),
    dataMap: (section) => dataMaps.get(section),
    isExtern: (s: ElfSymbol) => s.sectionIndex === SHN_UNDEF && externNames.has(s.name),
  };

  // Code: decode every executable section, apply CO-RE, resolve relocations, split into functions.
  const counts: RelocationCounts = { maps: 0, globalData: 0, calls: 0, funcAddresses: 0, externs: 0 };
  let coreCount = 0;
  const textIndex = elf.sectionByName(".text")?.index;
  const functions = new Map<string, CodeFunction>();
  const entries: CodeFunction[] = [];
  const debugInfo = new Map<number, SectionDebugInfo>();
  const codeSections = elf.sections.filter(
    (s) => s.type === SHT.PROGBITS && s.flags & SHF.EXECINSTR && s.size > 0,
  );
  for (const sec of codeSections) {
    const code: DecodedSection = decodeSection(sec, file);
    const coreRelos = ext?.coreRelos.get(sec.name) ?? [];
    if (coreRelos.length > 0 && btf) {
      const target = (opts.coreTarget ?? vmlinuxBtf)();
      applyCoreRelocations(code.instructions, code.indexAt, coreRelos, btf, target, {
        fileName: file,
        section: sec.name,
      });
      coreCount += coreRelos.length;
    }
    resolveRelocations(elf, code, classify, textIndex, counts, file);
    for (const fn of splitFunctions(elf, code, file)) {
      functions.set(fn.key, fn);
      if (sec.index !== textIndex) {
        if (!fn.global)
          throw new ObjectFileError(
            `program '${fn.name}' in section ${sec.name} is static; programs must be global functions`,
            file,
          );
        entries.push(fn);
      }
    }
    if (ext) debugInfo.set(sec.index, sectionDebugInfo(ext, sec.name));
  }

  const programs = new Map<string, ProgramSpec>();
  for (const fn of entries) {
    const { progType, expectedAttachType, progFlags } = programTypeFor(fn.section.name, fn.name, opts, file);
    const linked = linkProgram(fn, functions, debugInfo, file);
    programs.set(fn.name, {
      name: fn.name,
      section: fn.section.name,
      type: progType,
      expectedAttachType,
      flags: progFlags,
      autoload: !fn.section.name.startsWith("?"),
      license,
      kernelVersion,
      instructions: linked.instructions,
      funcInfo: linked.funcInfo,
      lineInfo: linked.lineInfo,
      functions: linked.functions,
    });
  }

  // Static prog-array initialisers must name programs of this object.
  for (const m of maps.values()) {
    for (const [slot, target] of m.initialSlots) {
      const known = m.innerMap ? maps.has(target) : programs.has(target);
      if (!known)
        throw new RelocationError(
          `map '${m.name}': slot ${slot} is initialised with '${target}', which is not a ${m.innerMap ? "map" : "program"} of this object`,
          file,
        );
    }
  }

  return {
    file,
    objectName,
    license,
    kernelVersion,
    maps,
    programs,
    variables,
    kconfig,
    btf,
    relocations: { ...counts, core: coreCount },
  };
}

function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return Buffer.from(b.subarray(0, end < 0 ? b.length : end)).toString("utf8");
}

function programTypeFor(section: string, name: string, opts: OpenOptions, file: string) {
  const override = opts.programTypes?.[name] ?? opts.programTypes?.[section.replace(/^\?/, "")];
  if (override !== undefined) {
    const alias = PROGRAM_TYPE_ALIASES[override];
    if (!alias)
      throw new ObjectFileError(
        `unknown program type '${override}' for ${name}; use one of ${Object.keys(PROGRAM_TYPE_ALIASES).join(", ")}`,
        file,
      );
    return { ...alias, progFlags: 0 };
  }
  const def = findSectionDef(section);
  if (!def)
    throw new ObjectFileError(
      `program '${name}': section '${section}' has no known program type; rename it to a libbpf section (xdp, tc, tcx/ingress, socket, ...) or give its type explicitly`,
      file,
    );
  return { progType: def.progType, expectedAttachType: def.expectedAttachType, progFlags: def.progFlags };
}

function globalDataMap(
  elf: ElfFile,
  sec: ElfSection,
  btf: Btf | undefined,
  objectName: string,
  variables: Map<string, VariableSpec>,
): MapSpec {
  const readOnly = sec.name === ".rodata" || sec.name.startsWith(".rodata.");
  const name = internalMapName(objectName, sec.name);
  const ds = btf?.typesByName(sec.name).find((t) => t.kind === "datasec");
  if (btf && ds?.kind === "datasec") {
    for (const v of ds.vars) {
      const t = btf.typeById(v.type);
      if (t.kind !== "var") continue;
      variables.set(t.name, {
        name: t.name,
        map: name,
        offset: v.offset,
        size: v.size,
        typeId: t.type,
        constant: readOnly,
        linkage: t.linkage,
      });
    }
  } else {
    for (const s of elf.symbolsIn(sec.index)) {
      if (s.type !== "OBJECT" || !s.name) continue;
      variables.set(s.name, {
        name: s.name,
        map: name,
        offset: s.value,
        size: s.size,
        typeId: 0,
        constant: readOnly,
        linkage: s.bind === "LOCAL" ? "static" : "global",
      });
    }
  }
  const data = sec.type === SHT.NOBITS ? Buffer.alloc(sec.size) : Buffer.from(sec.data());
  return newMapSpec(name, sec.name, {
    origin: "data",
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: sec.size,
    maxEntries: 1,
    // Every data map is mmapable, as in libbpf 1.1 (bpftool's, our oracle); later libbpf
    // versions leave out sections with only static variables.
    flags: (readOnly ? MapFlags.RDONLY_PROG : 0) | MapFlags.MMAPABLE,
    freeze: readOnly,
    btfValueTypeId: ds?.id ?? 0,
    data,
  });
}

function sectionDebugInfo(ext: BtfExt, section: string): SectionDebugInfo {
  const funcInfo = new Map<number, number>();
  for (const f of ext.funcInfo.get(section) ?? []) funcInfo.set(f.insnOff / 8, f.typeId);
  const lineInfo = (ext.lineInfo.get(section) ?? []).map((l) => ({
    slot: l.insnOff / 8,
    fileNameOff: l.fileNameOff,
    lineOff: l.lineOff,
    lineCol: l.lineCol,
  }));
  return { funcInfo, lineInfo };
}
