// Just enough ELF64 little-endian reading for the instruction tests: sections, symbols and the
// relocations of code sections. (A stand-in: the library's ELF reader is another area's work.)

export interface LiteSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  data: Buffer;
}

export interface LiteSymbol {
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  shndx: number;
}

export interface LiteReloc {
  offset: number;
  type: number;
  /** Symbol name, or the section name for section symbols. */
  symbol: string;
}

export interface LiteElf {
  sections: LiteSection[];
  symbols: LiteSymbol[];
  /** Relocations by the index of the section they patch. */
  relocations: Map<number, LiteReloc[]>;
}

export const SHF_EXECINSTR = 0x4n;
const SHT_SYMTAB = 2;
const SHT_REL = 9;
const STT_SECTION = 3;

const cstr = (buf: Buffer, at: number): string => buf.toString("latin1", at, buf.indexOf(0, at));

export function readElf(buf: Buffer): LiteElf {
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1)
    throw new Error("not an ELF64 LE file");
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const raw = Array.from({ length: shnum }, (_, i) => {
    const p = shoff + i * shentsize;
    const offset = Number(buf.readBigUInt64LE(p + 0x18));
    const size = Number(buf.readBigUInt64LE(p + 0x20));
    return {
      nameOff: buf.readUInt32LE(p),
      type: buf.readUInt32LE(p + 4),
      flags: buf.readBigUInt64LE(p + 8),
      link: buf.readUInt32LE(p + 0x28),
      info: buf.readUInt32LE(p + 0x2c),
      data: buf.subarray(offset, offset + (buf.readUInt32LE(p + 4) === 8 ? 0 : size)),
    };
  });
  const shstr = raw[shstrndx].data;
  const sections = raw.map((s, index) => ({
    index,
    name: cstr(shstr, s.nameOff),
    type: s.type,
    flags: s.flags,
    data: s.data,
  }));
  const symtab = raw.find((s) => s.type === SHT_SYMTAB);
  const symbols: LiteSymbol[] = [];
  if (symtab) {
    const strtab = raw[symtab.link].data;
    for (let p = 0; p + 24 <= symtab.data.length; p += 24) {
      const info = symtab.data[p + 4];
      symbols.push({
        name: cstr(strtab, symtab.data.readUInt32LE(p)),
        type: info & 0xf,
        bind: info >> 4,
        shndx: symtab.data.readUInt16LE(p + 6),
        value: Number(symtab.data.readBigUInt64LE(p + 8)),
        size: Number(symtab.data.readBigUInt64LE(p + 16)),
      });
    }
  }
  const relocations = new Map<number, LiteReloc[]>();
  for (const s of raw) {
    if (s.type !== SHT_REL) continue;
    const list: LiteReloc[] = [];
    for (let p = 0; p + 16 <= s.data.length; p += 16) {
      const info = s.data.readBigUInt64LE(p + 8);
      const sym = symbols[Number(info >> 32n)];
      list.push({
        offset: Number(s.data.readBigUInt64LE(p)),
        type: Number(info & 0xffffffffn),
        symbol: sym.type === STT_SECTION ? sections[sym.shndx].name : sym.name,
      });
    }
    relocations.set(s.info, list);
  }
  return { sections, symbols, relocations };
}

/** The symbols objdump shows in a section: everything but section and file symbols. */
export const sectionSymbols = (elf: LiteElf, index: number): { name: string; offset: number }[] =>
  elf.symbols
    .filter((s) => s.shndx === index && s.type !== STT_SECTION && s.type !== 4 && s.name !== "")
    .map((s) => ({ name: s.name, offset: s.value }));
