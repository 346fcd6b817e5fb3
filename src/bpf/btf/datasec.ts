// What libbpf does to an object's BTF before the kernel sees it (bpf_object__collect_externs and
// btf_fixup_datasec): clang leaves DATASEC sizes and variable offsets at 0 and emits extern
// variables and functions, all of which the kernel rejects.
import { SHN_UNDEF } from "../elf/constants.js";
import type { ElfFile } from "../elf/elf-file.js";
import { BtfError } from "../errors.js";
import { Btf } from "./btf.js";
import type { BtfDatasec, BtfFunc, BtfFuncProto, BtfInt, BtfType, BtfVar } from "./types.js";

export const KCONFIG_SEC = ".kconfig";
export const KSYMS_SEC = ".ksyms";
/** Name of the variable that stands in for extern functions in .ksyms (as libbpf names it). */
export const DUMMY_KSYM = "dummy_ksym";

/**
 * Returns a copy of `btf` that the kernel accepts: sizes and offsets of data sections filled
 * in from the ELF file, hidden globals made static, .kconfig externs laid out as libbpf lays
 * them out, and .ksyms externs turned into 4-byte int variables (functions via `dummy_ksym`).
 */
export function fixupDatasecs(btf: Btf, elf: ElfFile): Btf {
  const fail = (msg: string) => new BtfError(msg, btf.fileName ?? elf.fileName);
  const types: BtfType[] = structuredClone(btf.ownTypes as BtfType[]);
  const first = btf.firstTypeId;
  const byId = (id: number): BtfType =>
    (id >= first ? types[id - first] : btf.typeById(id)) ?? btf.typeById(id);
  // For sizeof/alignof of existing types (the types added below are never asked about).
  const local = new Btf(types.slice(), { base: btf.base, strings: btf.strings, fileName: btf.fileName });

  const datasecs = types.filter((t): t is BtfDatasec => t.kind === "datasec");
  for (const sec of datasecs) {
    for (const [i, vsi] of sec.vars.entries()) {
      const k = byId(vsi.type).kind;
      if (k !== "var" && !(k === "func" && sec.name === KSYMS_SEC))
        throw fail(`DATASEC '${sec.name}': entry ${i} is a ${k}, not a VAR`);
    }
    if (sec.name === KSYMS_SEC) fixKsyms(sec);
    else if (sec.name === KCONFIG_SEC) fixKconfig(sec);
    else fixData(sec);
    sec.vars.sort((a, b) => a.offset - b.offset);
  }
  return new Btf(types, { base: btf.base, strings: btf.strings, fileName: btf.fileName });

  function int32(): number {
    // libbpf uses the first 32-bit int of the object; add one if there is none.
    const is32 = (t: BtfType) => t.kind === "int" && t.bits === 32;
    for (let id = 1; id < first; id++) if (is32(btf.typeById(id))) return id;
    const found = types.find(is32);
    if (found) return found.id;
    const t: BtfInt = {
      id: first + types.length,
      name: "int",
      kind: "int",
      size: 4,
      signed: true,
      char: false,
      bool: false,
      bitOffset: 0,
      bits: 32,
    };
    types.push(t);
    return t.id;
  }

  function fixKsyms(sec: BtfDatasec) {
    const intId = int32();
    let dummy: BtfVar | undefined;
    sec.vars.forEach((vsi, i) => {
      const t = byId(vsi.type) as BtfVar | BtfFunc;
      if (t.kind === "func") {
        if (!dummy) {
          dummy = { id: first + types.length, name: DUMMY_KSYM, kind: "var", type: intId, linkage: "global" };
          types.push(dummy);
        }
        // The kernel wants named parameters and no extern linkage.
        const proto = byId(t.type);
        if (proto.kind === "func_proto")
          for (const p of (proto as BtfFuncProto).params)
            if (p.type !== 0 && p.name === "") p.name = DUMMY_KSYM;
        t.linkage = "global";
        vsi.type = dummy.id;
      } else {
        t.linkage = "global";
        t.type = intId;
      }
      vsi.offset = i * 4;
      vsi.size = 4;
    });
    sec.size = sec.vars.length * 4;
  }

  function fixKconfig(sec: BtfDatasec) {
    const externs = sec.vars.map((vsi) => {
      const v = byId(vsi.type) as BtfVar;
      let size: number;
      let align: number;
      try {
        size = local.sizeof(v.type);
        align = local.alignof(v.type);
      } catch (e) {
        throw fail(`extern (kconfig) '${v.name}': cannot size its type: ${(e as Error).message}`);
      }
      return { vsi, v, size, align };
    });
    externs.sort(
      (a, b) =>
        b.align - a.align || a.size - b.size || (a.v.name < b.v.name ? -1 : a.v.name > b.v.name ? 1 : 0),
    );
    let off = 0;
    for (const e of externs) {
      off = Math.ceil(off / e.align) * e.align;
      e.vsi.offset = off;
      e.vsi.size = e.size;
      e.v.linkage = "global";
      off += e.size;
    }
    sec.size = off;
  }

  function fixData(sec: BtfDatasec) {
    let fixOffsets = false;
    if (sec.size === 0) {
      const elfSec = elf.sectionByName(sec.name);
      if (!elfSec || elfSec.size === 0)
        throw fail(
          `DATASEC '${sec.name}' has size 0 and the object has no non-empty ELF section of that name to take it from`,
        );
      sec.size = elfSec.size;
      fixOffsets = true;
    }
    for (const vsi of sec.vars) {
      const v = byId(vsi.type) as BtfVar;
      // Static variables already carry their offset; externs are not placed here.
      if (v.linkage !== "global") continue;
      const sym = elf.symbols.find(
        (s) =>
          s.type === "OBJECT" &&
          (s.bind === "GLOBAL" || s.bind === "WEAK") &&
          s.sectionIndex !== SHN_UNDEF &&
          s.name === v.name,
      );
      if (!sym) throw fail(`DATASEC '${sec.name}': no ELF symbol for variable '${v.name}'`);
      if (fixOffsets) vsi.offset = sym.value;
      // Hidden globals are private to the object: libbpf marks them static (and so does the kernel's view).
      if (sym.visibility === "HIDDEN" || sym.visibility === "INTERNAL") v.linkage = "static";
    }
  }
}
