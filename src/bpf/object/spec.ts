// The object model before load: what an ELF object declares (maps, programs, global variables),
// as plain data that callers may inspect and change before loading it into the kernel.
import type { Instruction } from "../insn/instruction.js";
import type { Btf } from "../btf/index.js";

/** How a map is pinned: libbpf's LIBBPF_PIN_BY_NAME, or iproute2's PIN_GLOBAL_NS / PIN_OBJECT_NS. */
export type PinningKind = "none" | "by-name" | "object-ns" | "global-ns";

/** Where a map definition came from. */
export type MapOrigin = "btf" | "legacy" | "iproute2" | "data" | "kconfig";

export interface MapSpec {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  numaNode: number;
  mapExtra: bigint;
  pinning: PinningKind;
  origin: MapOrigin;
  /** BTF type ids (in the object's BTF) of key and value; 0 when unknown. */
  btfKeyTypeId: number;
  btfValueTypeId: number;
  /** The inner map template of a map-in-map. */
  innerMap?: MapSpec;
  /**
   * Static initialisation of prog arrays and maps-of-maps: slot index -> program or map name
   * (libbpf's `.values = { [1] = &prog }`).
   */
  initialSlots: Map<number, string>;
  /** Initial contents of global data maps (the whole value of key 0). */
  data?: Buffer;
  /** Frozen after initialisation (.rodata, .kconfig). */
  freeze: boolean;
  /** ELF section the map lives in (".maps", "maps", ".data", ...). */
  section: string;
}

export interface VariableSpec {
  name: string;
  /** The global data map holding it. */
  map: string;
  offset: number;
  size: number;
  /** BTF type id of the variable's type (0 without BTF). */
  typeId: number;
  /** In a read-only section: settable before load only. */
  constant: boolean;
  linkage: "static" | "global" | "extern";
}

export interface FuncInfoRecord {
  /** Instruction (slot) offset in the linked program. */
  insnOff: number;
  typeId: number;
}

export interface LineInfoRecord {
  insnOff: number;
  fileNameOff: number;
  lineOff: number;
  /** line << 10 | column, as the kernel wants it. */
  lineCol: number;
}

export interface ProgramSpec {
  name: string;
  section: string;
  type: number;
  expectedAttachType: number;
  flags: number;
  /** False for '?'-prefixed sections unless enabled. */
  autoload: boolean;
  license: string;
  kernelVersion: number;
  /** Linked instructions: the program followed by every subprogram it reaches. Refs unresolved. */
  instructions: Instruction[];
  funcInfo: FuncInfoRecord[];
  lineInfo: LineInfoRecord[];
  /** Names of the functions linked into this program, entry first. */
  functions: string[];
}

/** A kconfig extern and its place in the .kconfig map. */
export interface KconfigExtern {
  name: string;
  offset: number;
  size: number;
  weak: boolean;
  kind: "bool" | "tristate" | "char" | "int" | "char-array";
  signed: boolean;
}

export interface RelocationSummary {
  maps: number;
  globalData: number;
  calls: number;
  funcAddresses: number;
  core: number;
  externs: number;
}

export interface ObjectSpec {
  /** File name (or "buffer"). */
  file: string;
  /** Object name as libbpf derives it (basename up to the first dot), used for internal map names. */
  objectName: string;
  license: string;
  kernelVersion: number;
  maps: Map<string, MapSpec>;
  programs: Map<string, ProgramSpec>;
  variables: Map<string, VariableSpec>;
  kconfig: KconfigExtern[];
  /** The object's BTF after data-section fix-up, when it has one. */
  btf?: Btf;
  relocations: RelocationSummary;
}
