// Map definitions in the legacy "maps" section: libbpf's old struct bpf_map_def (5 x u32, possibly
// extended) and iproute2's struct bpf_elf_map (9 x u32, with pinning and map-in-map ids). The
// definition size is the section size divided by the number of map symbols, as libbpf did.
import { ObjectFileError } from "../errors.js";
import type { ElfFile, ElfSection } from "../elf/index.js";
import { newMapSpec } from "./btf-maps.js";
import type { MapSpec, PinningKind } from "./spec.js";

const BPF_MAP_DEF_SIZE = 20;
const BPF_ELF_MAP_SIZE = 36;
/** iproute2's pinning values. */
const IPROUTE2_PINNING: Record<number, PinningKind> = { 0: "none", 1: "object-ns", 2: "global-ns" };

export interface LegacyMapsResult {
  maps: MapSpec[];
  byOffset: Map<number, string>;
}

export function parseLegacyMaps(elf: ElfFile, section: ElfSection, file: string): LegacyMapsResult {
  const symbols = elf
    .symbolsIn(section.index)
    .filter((s) => s.type === "OBJECT" || s.type === "NOTYPE")
    .filter((s) => s.name !== "")
    .sort((a, b) => a.value - b.value);
  const maps: MapSpec[] = [];
  const byOffset = new Map<number, string>();
  if (symbols.length === 0) return { maps, byOffset };
  if (section.size % symbols.length !== 0)
    throw new ObjectFileError(
      `section maps: ${section.size} bytes do not divide into ${symbols.length} map definitions of equal size`,
      file,
    );
  const defSize = section.size / symbols.length;
  if (defSize < BPF_MAP_DEF_SIZE)
    throw new ObjectFileError(
      `section maps: map definitions of ${defSize} bytes are too small (at least 20)`,
      file,
    );
  const iproute2 = defSize >= BPF_ELF_MAP_SIZE;
  const data = section.data();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const byId = new Map<number, MapSpec>();
  const innerRefs: { outer: MapSpec; innerId: number }[] = [];

  for (const sym of symbols) {
    if (sym.value % 4 || sym.value + defSize > section.size)
      throw new ObjectFileError(`map '${sym.name}': definition lies outside the maps section`, file);
    const u32 = (i: number) => view.getUint32(sym.value + i * 4, true);
    const spec = newMapSpec(sym.name, "maps", {
      origin: iproute2 ? "iproute2" : "legacy",
      type: u32(0),
      keySize: u32(1),
      valueSize: u32(2),
      maxEntries: u32(3),
      flags: u32(4),
    });
    if (spec.type === 0) throw new ObjectFileError(`map '${sym.name}': map type is 0 (unspecified)`, file);
    if (iproute2) {
      const id = u32(5);
      const pinning = u32(6);
      const pin = IPROUTE2_PINNING[pinning];
      if (!pin) throw new ObjectFileError(`map '${sym.name}': unknown iproute2 pinning ${pinning}`, file);
      spec.pinning = pin;
      if (id) byId.set(id, spec);
      const innerId = u32(7);
      if (innerId) innerRefs.push({ outer: spec, innerId });
    }
    maps.push(spec);
    byOffset.set(sym.value, sym.name);
  }
  for (const { outer, innerId } of innerRefs) {
    const inner = byId.get(innerId);
    if (!inner)
      throw new ObjectFileError(`map '${outer.name}': inner map id ${innerId} is not defined`, file);
    outer.innerMap = { ...inner, name: `${outer.name}.inner`, pinning: "none", initialSlots: new Map() };
  }
  return { maps, byOffset };
}
