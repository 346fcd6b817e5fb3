// Map definitions from the BTF-described ".maps" section (libbpf's parse_btf_map_def()):
// `__uint(name, N)` is a pointer to an array of N elements, `__type(name, T)` a pointer to T,
// `__array(values, T)` a zero-sized array of pointers to an inner definition (map-in-map) or to
// a function prototype (prog array). Static `.values = {...}` initialisers are relocations in
// the section that point at maps or programs.
import { MapType } from "../constants.js";
import { ObjectFileError } from "../errors.js";
import type { Btf } from "../btf/index.js";
import type { BtfComposite, BtfType } from "../btf/types.js";
import type { ElfFile, ElfSection } from "../elf/index.js";
import type { MapSpec, PinningKind } from "./spec.js";

const LIBBPF_PIN_BY_NAME = 1;

export const newMapSpec = (name: string, section: string, partial: Partial<MapSpec> = {}): MapSpec => ({
  name,
  type: 0,
  keySize: 0,
  valueSize: 0,
  maxEntries: 0,
  flags: 0,
  numaNode: 0,
  mapExtra: 0n,
  pinning: "none",
  origin: "btf",
  btfKeyTypeId: 0,
  btfValueTypeId: 0,
  initialSlots: new Map(),
  freeze: false,
  section,
  ...partial,
});

const isMapInMap = (t: number) => t === MapType.ARRAY_OF_MAPS || t === MapType.HASH_OF_MAPS;

class MapDefError extends ObjectFileError {
  override name = "MapDefError";
}

function kindName(t: BtfType): string {
  return t.kind;
}

/** `int (*name)[N]` -> N */
function intField(btf: Btf, map: string, field: string, typeId: number, file: string): number {
  const ptr = btf.resolve(typeId);
  if (ptr.kind !== "ptr")
    throw new MapDefError(
      `map '${map}': attribute '${field}' should be a pointer, is ${kindName(ptr)}`,
      file,
    );
  const arr = btf.typeById(ptr.type);
  if (arr.kind !== "array")
    throw new MapDefError(
      `map '${map}': attribute '${field}' should point to an array, points to ${kindName(arr)}`,
      file,
    );
  return arr.nelems;
}

interface ParsedDef {
  spec: MapSpec;
  /** Offset of the `values` member in bytes, for static initialisers. */
  valuesOffset?: number;
}

function parseDef(
  btf: Btf,
  name: string,
  def: BtfComposite,
  section: string,
  inner: boolean,
  file: string,
): ParsedDef {
  const spec = newMapSpec(name, section);
  let valuesOffset: number | undefined;
  const setSize = (which: "keySize" | "valueSize", sz: number) => {
    if (spec[which] && spec[which] !== sz)
      throw new MapDefError(
        `map '${name}': conflicting ${which === "keySize" ? "key" : "value"} size ${spec[which]} != ${sz}`,
        file,
      );
    spec[which] = sz;
  };
  def.members.forEach((m, i) => {
    switch (m.name) {
      case "type":
        spec.type = intField(btf, name, m.name, m.type, file);
        break;
      case "max_entries":
        spec.maxEntries = intField(btf, name, m.name, m.type, file);
        break;
      case "map_flags":
        spec.flags = intField(btf, name, m.name, m.type, file);
        break;
      case "numa_node":
        spec.numaNode = intField(btf, name, m.name, m.type, file);
        break;
      case "map_extra":
        spec.mapExtra = BigInt(intField(btf, name, m.name, m.type, file));
        break;
      case "key_size":
        setSize("keySize", intField(btf, name, m.name, m.type, file));
        break;
      case "value_size":
        setSize("valueSize", intField(btf, name, m.name, m.type, file));
        break;
      case "key":
      case "value": {
        const ptr = btf.typeById(m.type);
        if (ptr.kind !== "ptr")
          throw new MapDefError(
            `map '${name}': ${m.name} should be a pointer (__type), is ${ptr.kind}`,
            file,
          );
        const size = btf.sizeof(ptr.type);
        if (m.name === "key") {
          setSize("keySize", size);
          spec.btfKeyTypeId = ptr.type;
        } else {
          setSize("valueSize", size);
          spec.btfValueTypeId = ptr.type;
        }
        break;
      }
      case "values": {
        const what = isMapInMap(spec.type) ? "map-in-map inner" : "prog-array value";
        if (inner) throw new MapDefError(`map '${name}': inner maps of inner maps are not supported`, file);
        if (i !== def.members.length - 1)
          throw new MapDefError(`map '${name}': 'values' must be the last member`, file);
        if (!isMapInMap(spec.type) && spec.type !== MapType.PROG_ARRAY)
          throw new MapDefError(`map '${name}': 'values' needs a map-in-map or prog array type`, file);
        setSize("valueSize", 4);
        const arr = btf.typeById(m.type);
        if (arr.kind !== "array" || arr.nelems !== 0)
          throw new MapDefError(`map '${name}': ${what} definition is not a zero-sized array`, file);
        const ptr = btf.resolve(arr.type);
        if (ptr.kind !== "ptr")
          throw new MapDefError(`map '${name}': ${what} definition is a ${ptr.kind}, not a pointer`, file);
        const target = btf.resolve(ptr.type);
        if (spec.type === MapType.PROG_ARRAY) {
          if (target.kind !== "func_proto")
            throw new MapDefError(
              `map '${name}': prog-array values should be function pointers, are ${target.kind}`,
              file,
            );
        } else {
          if (target.kind !== "struct")
            throw new MapDefError(
              `map '${name}': inner map definition should be a struct, is ${target.kind}`,
              file,
            );
          spec.innerMap = parseDef(btf, `${name}.inner`, target, section, true, file).spec;
        }
        valuesOffset = m.bitOffset / 8;
        break;
      }
      case "pinning": {
        if (inner) throw new MapDefError(`map '${name}': an inner map definition cannot be pinned`, file);
        const v = intField(btf, name, m.name, m.type, file);
        if (v !== 0 && v !== LIBBPF_PIN_BY_NAME)
          throw new MapDefError(
            `map '${name}': invalid pinning value ${v} (use LIBBPF_PIN_NONE or LIBBPF_PIN_BY_NAME)`,
            file,
          );
        spec.pinning = (v === LIBBPF_PIN_BY_NAME ? "by-name" : "none") as PinningKind;
        break;
      }
      default:
        throw new MapDefError(`map '${name}': unknown attribute '${m.name}'`, file);
    }
  });
  if (spec.type === 0)
    throw new MapDefError(`map '${name}': map type is not specified (add __uint(type, ...))`, file);
  if (spec.type === MapType.RINGBUF) spec.maxEntries = adjustRingbufSize(spec.maxEntries);
  return { spec, valuesOffset };
}

/** libbpf rounds ring buffer sizes up to a power-of-two multiple of the page size. */
export function adjustRingbufSize(sz: number, page = 4096): number {
  if (sz === 0) return 0;
  const pages = sz / page;
  if (sz % page === 0 && (pages & (pages - 1)) === 0) return sz;
  for (let mul = 1; mul * page <= 0xffffffff; mul *= 2) if (mul * page > sz) return mul * page;
  return sz;
}

export interface BtfMapsResult {
  maps: MapSpec[];
  /** symbol offset in the section -> map name */
  byOffset: Map<number, string>;
}

/** Parses the ".maps" section. Static initialisers are resolved by name (programs or maps). */
export function parseBtfMaps(
  elf: ElfFile,
  section: ElfSection,
  btf: Btf | undefined,
  file: string,
): BtfMapsResult {
  if (!btf) throw new MapDefError(`section .maps needs BTF (compile with -g)`, file);
  const datasec = btf.typesByName(".maps").find((t) => t.kind === "datasec");
  const maps: MapSpec[] = [];
  const byOffset = new Map<number, string>();
  if (!datasec || datasec.kind !== "datasec") return { maps, byOffset };
  const valuesAt: { map: MapSpec; start: number; end: number }[] = [];

  for (const v of datasec.vars) {
    const variable = btf.typeById(v.type);
    if (variable.kind !== "var")
      throw new MapDefError(`.maps: entry of kind ${variable.kind}, expected a variable`, file);
    const name = variable.name;
    if (!name) throw new MapDefError(`.maps: map with an empty name`, file);
    if (variable.linkage !== "global")
      throw new MapDefError(
        `map '${name}': ${variable.linkage} maps are not supported (remove 'static'/'extern')`,
        file,
      );
    if (v.offset + v.size > section.size)
      throw new MapDefError(`map '${name}': definition lies outside .maps`, file);
    const def = btf.resolve(variable.type);
    if (def.kind !== "struct")
      throw new MapDefError(`map '${name}': definition is a ${def.kind}, not a struct`, file);
    const parsed = parseDef(btf, name, def, ".maps", false, file);
    parsed.spec.origin = "btf";
    maps.push(parsed.spec);
    byOffset.set(v.offset, name);
    if (parsed.valuesOffset !== undefined) {
      valuesAt.push({ map: parsed.spec, start: v.offset + parsed.valuesOffset, end: v.offset + v.size });
    }
  }

  // Static initialisers: one 64-bit relocation per filled slot.
  for (const rel of elf.relocationsFor(section.index)) {
    const slotOf = valuesAt.find((x) => rel.offset >= x.start && rel.offset < x.end);
    if (!slotOf)
      throw new MapDefError(
        `.maps: relocation at offset ${rel.offset} against '${rel.symbol.name}' is not inside a 'values' array`,
        file,
      );
    if ((rel.offset - slotOf.start) % 8)
      throw new MapDefError(
        `map '${slotOf.map.name}': misaligned initialiser for '${rel.symbol.name}'`,
        file,
      );
    slotOf.map.initialSlots.set((rel.offset - slotOf.start) / 8, rel.symbol.name);
  }
  for (const { map } of valuesAt) {
    const highest = Math.max(-1, ...map.initialSlots.keys());
    if (highest >= map.maxEntries)
      throw new MapDefError(
        `map '${map.name}': initialiser for slot ${highest} but max_entries is ${map.maxEntries}`,
        file,
      );
  }
  return { maps, byOffset };
}
