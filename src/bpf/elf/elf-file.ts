// Reader for the ELF64 little-endian relocatable objects that clang -target bpf writes.
// Every offset and size read from the file is checked against the file before it is used, so a
// corrupt object ends in an ElfError, never in a RangeError or a huge allocation.
import { ElfError } from "../errors.js";
import {
  EM_BPF,
  ET_REL,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT,
  elfTypeName,
  machineName,
  symbolBind,
  symbolType,
  symbolVisibility,
} from "./constants.js";
import type { SymbolBind, SymbolType, SymbolVisibility } from "./constants.js";

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
const RELA_SIZE = 24;

export interface ElfSymbol {
  /** Index in .symtab (0 is the null symbol). */
  index: number;
  name: string;
  value: number;
  size: number;
  type: SymbolType;
  bind: SymbolBind;
  visibility: SymbolVisibility;
  /** Raw st_info and st_other. */
  info: number;
  other: number;
  /** Section the symbol is defined in, or SHN_UNDEF / SHN_ABS / SHN_COMMON. */
  sectionIndex: number;
}

export interface ElfRelocation {
  /** Offset in the section the relocation applies to. */
  offset: number;
  symbol: ElfSymbol;
  /** R_BPF_* type. */
  type: number;
  /** Explicit addend for SHT_RELA; 0 for SHT_REL (BPF keeps the addend in the instruction). */
  addend: number;
}

export class ElfSection {
  constructor(
    private readonly file: Uint8Array,
    readonly index: number,
    readonly name: string,
    readonly type: number,
    readonly flags: number,
    readonly addr: number,
    readonly offset: number,
    readonly size: number,
    readonly link: number,
    readonly info: number,
    readonly addralign: number,
    readonly entsize: number,
  ) {}

  /** The section's bytes (a view into the file; empty for SHT_NOBITS such as .bss). */
  data(): Uint8Array {
    if (this.type === SHT.NOBITS || this.type === SHT.NULL) return new Uint8Array(0);
    return this.file.subarray(this.offset, this.offset + this.size);
  }
}

const utf8 = new TextDecoder("utf-8");

export class ElfFile {
  readonly sections: readonly ElfSection[];
  /** All of .symtab, index 0 being the null symbol (empty when the object has no symbol table). */
  readonly symbols: readonly ElfSymbol[];
  readonly machine: number;
  readonly type: number;
  readonly flags: number;
  private readonly byName = new Map<string, ElfSection>();
  private readonly relocs = new Map<number, ElfSection[]>();
  private readonly view: DataView;

  private constructor(
    readonly bytes: Uint8Array,
    readonly fileName: string | undefined,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const h = this.header();
    this.machine = h.machine;
    this.type = h.type;
    this.flags = h.flags;
    this.sections = this.readSections(h.shoff, h.shnum, h.shstrndx);
    for (const s of this.sections) {
      if (s.name !== "" && !this.byName.has(s.name)) this.byName.set(s.name, s);
      if (s.type === SHT.REL || s.type === SHT.RELA) {
        const list = this.relocs.get(s.info) ?? [];
        list.push(s);
        this.relocs.set(s.info, list);
      }
    }
    this.symbols = this.readSymbols();
  }

  /** Parses an ELF64 little-endian BPF relocatable object. Throws ElfError on anything unusable. */
  static parse(buf: Uint8Array, fileName?: string): ElfFile {
    return new ElfFile(buf, fileName);
  }

  section(index: number): ElfSection {
    const s = this.sections[index];
    if (!s) throw this.error(`no section with index ${index} (the object has ${this.sections.length})`);
    return s;
  }

  /** The first section with this name. */
  sectionByName(name: string): ElfSection | undefined {
    return this.byName.get(name);
  }

  /** Symbols defined in a section, in symbol-table order. */
  symbolsIn(sectionIndex: number): ElfSymbol[] {
    return this.symbols.filter((s) => s.index !== 0 && s.sectionIndex === sectionIndex);
  }

  symbolByName(name: string): ElfSymbol | undefined {
    return this.symbols.find((s) => s.index !== 0 && s.name === name);
  }

  /** Relocations that apply to a section (from every SHT_REL/SHT_RELA section whose sh_info names it). */
  relocationsFor(sectionIndex: number): ElfRelocation[] {
    const out: ElfRelocation[] = [];
    for (const rs of this.relocs.get(sectionIndex) ?? []) out.push(...this.readRelocations(rs));
    return out;
  }

  private error(message: string): ElfError {
    return new ElfError(message, this.fileName);
  }

  private need(offset: number, length: number, what: string): void {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw this.error(
        `truncated file: ${what} needs bytes ${offset}..${offset + length} but the file is ${this.bytes.length} bytes; ` +
          "the object is incomplete or corrupt, rebuild it",
      );
    }
  }

  /** A u64 that must be usable as a JavaScript number (offsets, sizes, addresses). */
  private u64(at: number, what: string): number {
    const lo = this.view.getUint32(at, true);
    const hi = this.view.getUint32(at + 4, true);
    if (hi >= 0x200000)
      throw this.error(`${what} is too large (0x${hi.toString(16)}${lo.toString(16).padStart(8, "0")})`);
    return hi * 0x100000000 + lo;
  }

  private i64(at: number, what: string): number {
    const v = this.view.getBigInt64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      throw this.error(`${what} is out of range (${v})`);
    return Number(v);
  }

  private header() {
    const b = this.bytes;
    if (b.length < 4 || b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46)
      throw this.error("not an ELF file (no \\x7fELF magic): pass a clang -target bpf object (.o)");
    this.need(0, EHDR_SIZE, "the ELF header");
    const cls = b[4];
    if (cls === 1)
      throw this.error("32-bit ELF (EI_CLASS=1): eBPF objects are ELF64; compile with clang -target bpf");
    if (cls !== 2) throw this.error(`invalid ELF class EI_CLASS=${cls} (expected 2, ELF64)`);
    const data = b[5];
    if (data === 2)
      throw this.error(
        "big-endian ELF (EI_DATA=2): plexus loads little-endian eBPF objects; build with clang -target bpfel or -target bpf on a little-endian host",
      );
    if (data !== 1) throw this.error(`invalid ELF data encoding EI_DATA=${data} (expected 1, little-endian)`);
    if (b[6] !== 1) throw this.error(`unsupported ELF version EI_VERSION=${b[6]} (expected 1)`);
    const v = this.view;
    const type = v.getUint16(16, true);
    const machine = v.getUint16(18, true);
    if (machine !== EM_BPF)
      throw this.error(
        `ELF machine is ${machineName(machine)} (${machine}), not BPF (${EM_BPF}): compile with clang -target bpf`,
      );
    if (type !== ET_REL)
      throw this.error(
        `ELF type is ${elfTypeName(type)}, not a relocatable object (ET_REL): pass the .o that clang -c writes, not a linked file`,
      );
    const flags = v.getUint32(48, true);
    const shoff = this.u64(40, "e_shoff");
    const shentsize = v.getUint16(58, true);
    let shnum = v.getUint16(60, true);
    let shstrndx = v.getUint16(62, true);
    if (shoff === 0) throw this.error("the object has no section header table (e_shoff=0)");
    if (shentsize !== SHDR_SIZE)
      throw this.error(`section header size e_shentsize=${shentsize}, expected ${SHDR_SIZE} for ELF64`);
    // Extended numbering: counts that do not fit 16 bits live in section 0.
    if (shnum === 0 || shstrndx === SHN_XINDEX) {
      this.need(shoff, SHDR_SIZE, "section header 0 (extended section numbering)");
      if (shnum === 0) shnum = this.u64(shoff + 32, "section count in section 0's sh_size");
      if (shstrndx === SHN_XINDEX) shstrndx = v.getUint32(shoff + 40, true);
    }
    const maxSections = Math.floor((b.length - Math.min(shoff, b.length)) / SHDR_SIZE);
    if (shnum > maxSections)
      throw this.error(
        `section count ${shnum} is absurd: the section header table at offset ${shoff} has room for ${maxSections} headers in a ${b.length}-byte file`,
      );
    if (shstrndx >= shnum)
      throw this.error(
        `section name table index e_shstrndx=${shstrndx} is out of bounds (${shnum} sections)`,
      );
    return { type, machine, flags, shoff, shnum, shstrndx };
  }

  private readSections(shoff: number, shnum: number, shstrndx: number): ElfSection[] {
    const v = this.view;
    const raw = [];
    for (let i = 0; i < shnum; i++) {
      const at = shoff + i * SHDR_SIZE;
      this.need(at, SHDR_SIZE, `section header ${i}`);
      const type = v.getUint32(at + 4, true);
      const offset = this.u64(at + 24, `section ${i} sh_offset`);
      const size = this.u64(at + 32, `section ${i} sh_size`);
      if (type !== SHT.NOBITS && type !== SHT.NULL && offset + size > this.bytes.length)
        throw this.error(
          `section ${i} is out of bounds: offset ${offset} + size ${size} is past the end of the ${this.bytes.length}-byte file`,
        );
      raw.push({
        nameOff: v.getUint32(at, true),
        type,
        flags: this.u64(at + 8, `section ${i} sh_flags`),
        addr: this.u64(at + 16, `section ${i} sh_addr`),
        offset,
        size,
        link: v.getUint32(at + 40, true),
        info: v.getUint32(at + 44, true),
        addralign: this.u64(at + 48, `section ${i} sh_addralign`),
        entsize: this.u64(at + 56, `section ${i} sh_entsize`),
      });
    }
    const shstr = raw[shstrndx];
    if (shstr.type !== SHT.STRTAB)
      throw this.error(
        `section name table (section ${shstrndx}) has type ${shstr.type}, expected SHT_STRTAB (3)`,
      );
    return raw.map((r, i) => {
      const name =
        i === 0 && r.nameOff === 0
          ? ""
          : this.str(shstr.offset, shstr.size, r.nameOff, `name of section ${i}`);
      return new ElfSection(
        this.bytes,
        i,
        name,
        r.type,
        r.flags,
        r.addr,
        r.offset,
        r.size,
        r.link,
        r.info,
        r.addralign,
        r.entsize,
      );
    });
  }

  /** A NUL-terminated string at `off` inside the string table at [base, base+size). */
  private str(base: number, size: number, off: number, what: string): string {
    if (off >= size)
      throw this.error(`${what}: string offset ${off} is outside the ${size}-byte string table`);
    const start = base + off;
    const end = this.bytes.indexOf(0, start);
    if (end < 0 || end >= base + size)
      throw this.error(`${what}: string at offset ${off} is not NUL-terminated inside its string table`);
    return utf8.decode(this.bytes.subarray(start, end));
  }

  private readSymbols(): ElfSymbol[] {
    const symtabs = this.sections.filter((s) => s.type === SHT.SYMTAB);
    if (symtabs.length === 0) return [];
    if (symtabs.length > 1) throw this.error(`the object has ${symtabs.length} symbol tables, expected one`);
    const st = symtabs[0];
    if (st.entsize !== SYM_SIZE)
      throw this.error(`symbol table entry size sh_entsize=${st.entsize}, expected ${SYM_SIZE}`);
    if (st.size % SYM_SIZE !== 0)
      throw this.error(`symbol table size ${st.size} is not a multiple of the ${SYM_SIZE}-byte entry size`);
    const strtab = this.sections[st.link];
    if (!strtab || strtab.type !== SHT.STRTAB)
      throw this.error(`symbol table links to section ${st.link}, which is not a string table`);
    const shndx = this.sections.find((s) => s.type === SHT.SYMTAB_SHNDX && s.link === st.index);
    const count = st.size / SYM_SIZE;
    const v = this.view;
    const out: ElfSymbol[] = [];
    for (let i = 0; i < count; i++) {
      const at = st.offset + i * SYM_SIZE;
      const nameOff = v.getUint32(at, true);
      const info = v.getUint8(at + 4);
      const other = v.getUint8(at + 5);
      let sectionIndex = v.getUint16(at + 6, true);
      if (sectionIndex === SHN_XINDEX) {
        if (!shndx || (i + 1) * 4 > shndx.size)
          throw this.error(`symbol ${i} uses SHN_XINDEX but there is no matching SHT_SYMTAB_SHNDX entry`);
        sectionIndex = v.getUint32(shndx.offset + i * 4, true);
      }
      if (sectionIndex !== SHN_UNDEF && sectionIndex < SHN_LORESERVE && sectionIndex >= this.sections.length)
        throw this.error(
          `symbol ${i} refers to section ${sectionIndex}, but there are ${this.sections.length}`,
        );
      const name = nameOff === 0 ? "" : this.str(strtab.offset, strtab.size, nameOff, `name of symbol ${i}`);
      out.push({
        index: i,
        name,
        value: this.u64(at + 8, `symbol ${i} st_value`),
        size: this.u64(at + 16, `symbol ${i} st_size`),
        type: symbolType(info),
        bind: symbolBind(info),
        visibility: symbolVisibility(other),
        info,
        other,
        sectionIndex,
      });
    }
    return out;
  }

  private readRelocations(rs: ElfSection): ElfRelocation[] {
    const rela = rs.type === SHT.RELA;
    const entsize = rela ? RELA_SIZE : REL_SIZE;
    if (rs.entsize !== 0 && rs.entsize !== entsize)
      throw this.error(`relocation section ${rs.name} has entry size ${rs.entsize}, expected ${entsize}`);
    if (rs.size % entsize !== 0)
      throw this.error(`relocation section ${rs.name} size ${rs.size} is not a multiple of ${entsize}`);
    const symtab = this.sections[rs.link];
    if (!symtab || symtab.type !== SHT.SYMTAB)
      throw this.error(
        `relocation section ${rs.name} links to section ${rs.link}, which is not the symbol table`,
      );
    const target = this.sections[rs.info];
    const v = this.view;
    const out: ElfRelocation[] = [];
    for (let i = 0; i < rs.size / entsize; i++) {
      const at = rs.offset + i * entsize;
      const offset = this.u64(at, `${rs.name} entry ${i} r_offset`);
      const type = v.getUint32(at + 8, true);
      const symIndex = v.getUint32(at + 12, true);
      const symbol = this.symbols[symIndex];
      if (!symbol)
        throw this.error(
          `${rs.name} entry ${i} refers to symbol ${symIndex}, but the symbol table has ${this.symbols.length}`,
        );
      if (target && target.type !== SHT.NOBITS && offset >= target.size)
        throw this.error(
          `${rs.name} entry ${i} has offset ${offset}, outside ${target.name} (${target.size} bytes)`,
        );
      out.push({
        offset,
        symbol,
        type,
        addend: rela ? this.i64(at + 16, `${rs.name} entry ${i} r_addend`) : 0,
      });
    }
    return out;
  }
}
