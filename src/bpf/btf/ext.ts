// .BTF.ext: per-section func_info, line_info and CO-RE relocation records (libbpf's btf_ext),
// and the func_info / line_info arrays that BPF_PROG_LOAD takes.
import { BtfError } from "../errors.js";
import type { Btf } from "./btf.js";
import { BTF_MAGIC } from "./parse.js";

/** One func_info record: the function starting at `insnOff` has BTF FUNC `typeId`. */
export interface FuncInfo {
  /** Byte offset in the ELF section (divide by 8 for the instruction slot). */
  insnOff: number;
  typeId: number;
}

export interface LineInfo {
  /** Byte offset in the ELF section. */
  insnOff: number;
  fileNameOff: number;
  lineOff: number;
  /** line << 10 | column, as in struct bpf_line_info. */
  lineCol: number;
  fileName: string;
  /** The source line's text. */
  line: string;
  lineNumber: number;
  column: number;
}

/** bpf_core_relo_kind. */
export const CoreReloKind = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;
export type CoreReloKind = (typeof CoreReloKind)[keyof typeof CoreReloKind];

export interface CoreRelo {
  /** Byte offset in the ELF section of the instruction to patch. */
  insnOff: number;
  /** Local (object) BTF type id the access starts from. */
  typeId: number;
  accessStrOff: number;
  /** "0:1:2" style accessor: member/array indexes, or an enumerator index. */
  accessStr: string;
  /** bpf_core_relo_kind (see CoreReloKind); validated when applied. */
  kind: number;
}

export interface BtfExtParseOptions {
  fileName?: string;
}

const EXT_HEADER_MIN = 24;
const FUNC_INFO_MIN = 8;
const LINE_INFO_MIN = 16;
const CORE_RELO_MIN = 16;

export class BtfExt {
  private constructor(
    /** func_info records by ELF section name. */
    readonly funcInfo: Map<string, FuncInfo[]>,
    /** line_info records by ELF section name. */
    readonly lineInfo: Map<string, LineInfo[]>,
    /** CO-RE relocations by ELF section name. */
    readonly coreRelos: Map<string, CoreRelo[]>,
    /** Record sizes as found in the file (a newer compiler may use larger records). */
    readonly recordSizes: { funcInfo: number; lineInfo: number; coreRelo: number },
  ) {}

  /** Parses a .BTF.ext section; names are looked up in `btf`, the object's .BTF. */
  static parse(buf: Uint8Array, btf: Btf, opts: BtfExtParseOptions = {}): BtfExt {
    const fail = (msg: string) => new BtfError(`.BTF.ext: ${msg}`, opts.fileName);
    if (buf.length < 8)
      throw fail(`truncated: ${buf.length} bytes, the header needs at least ${EXT_HEADER_MIN}`);
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const magic = v.getUint16(0, true);
    if (magic === 0x9feb) throw fail("big-endian data: plexus reads little-endian objects only");
    if (magic !== BTF_MAGIC) throw fail(`bad magic 0x${magic.toString(16)}, expected 0xeb9f`);
    if (buf[2] !== 1) throw fail(`unsupported version ${buf[2]}`);
    const hdrLen = v.getUint32(4, true);
    if (hdrLen < EXT_HEADER_MIN || hdrLen > buf.length)
      throw fail(
        `header length ${hdrLen} is invalid for a ${buf.length}-byte section (minimum ${EXT_HEADER_MIN})`,
      );
    const str = (off: number, what: string) => {
      const s = btf.strings.get(off);
      if (s === undefined) throw fail(`${what}: string offset ${off} is outside the BTF string table`);
      return s;
    };

    /** Walks one info block: rec_size, then { sec_name_off, num_info, records } groups. */
    const block = <T>(
      what: string,
      off: number,
      len: number,
      minRec: number,
      rec: (at: number, section: string, i: number) => T,
    ): { map: Map<string, T[]>; recSize: number } => {
      const map = new Map<string, T[]>();
      if (len === 0) return { map, recSize: minRec };
      const start = hdrLen + off;
      const end = start + len;
      if (off % 4 !== 0 || end > buf.length)
        throw fail(
          `${what} (offset ${off}, ${len} bytes) runs past the end of the ${buf.length}-byte section`,
        );
      if (len < 4) throw fail(`${what} is too short for its record size field`);
      const recSize = v.getUint32(start, true);
      if (recSize < minRec)
        throw fail(
          `${what} record size ${recSize} is smaller than the minimum ${minRec}: the object is corrupt`,
        );
      if (recSize % 4 !== 0) throw fail(`${what} record size ${recSize} is not a multiple of 4`);
      let at = start + 4;
      while (at < end) {
        if (at + 8 > end)
          throw fail(`${what} is truncated at offset ${at - hdrLen}: expected a section header`);
        const section = str(v.getUint32(at, true), `${what} section name`);
        const num = v.getUint32(at + 4, true);
        at += 8;
        if (num === 0) throw fail(`${what} for section '${section}' has no records`);
        if (num * recSize > end - at)
          throw fail(
            `${what} for section '${section}' claims ${num} records of ${recSize} bytes, only ${end - at} left`,
          );
        const list = map.get(section) ?? [];
        for (let i = 0; i < num; i++, at += recSize) list.push(rec(at, section, i));
        map.set(section, list);
      }
      return { map, recSize };
    };

    const funcs = block("func_info", v.getUint32(8, true), v.getUint32(12, true), FUNC_INFO_MIN, (at) => ({
      insnOff: v.getUint32(at, true),
      typeId: v.getUint32(at + 4, true),
    }));
    const lines = block(
      "line_info",
      v.getUint32(16, true),
      v.getUint32(20, true),
      LINE_INFO_MIN,
      (at, sec, i) => {
        const fileNameOff = v.getUint32(at + 4, true);
        const lineOff = v.getUint32(at + 8, true);
        const lineCol = v.getUint32(at + 12, true);
        return {
          insnOff: v.getUint32(at, true),
          fileNameOff,
          lineOff,
          lineCol,
          fileName: str(fileNameOff, `line_info ${i} of '${sec}' file name`),
          line: str(lineOff, `line_info ${i} of '${sec}' line`),
          lineNumber: lineCol >>> 10,
          column: lineCol & 0x3ff,
        };
      },
    );
    let relos = { map: new Map<string, CoreRelo[]>(), recSize: CORE_RELO_MIN };
    // The CO-RE part of the header is optional (older compilers write a 24-byte header).
    if (hdrLen >= 32)
      relos = block(
        "core_relo",
        v.getUint32(24, true),
        v.getUint32(28, true),
        CORE_RELO_MIN,
        (at, sec, i) => {
          const accessStrOff = v.getUint32(at + 8, true);
          return {
            insnOff: v.getUint32(at, true),
            typeId: v.getUint32(at + 4, true),
            accessStrOff,
            accessStr: str(accessStrOff, `core_relo ${i} of '${sec}' access string`),
            kind: v.getUint32(at + 12, true),
          };
        },
      );
    return new BtfExt(funcs.map, lines.map, relos.map, {
      funcInfo: funcs.recSize,
      lineInfo: lines.recSize,
      coreRelo: relos.recSize,
    });
  }
}

/** Packs line and column the way struct bpf_line_info's line_col does. */
export const lineCol = (line: number, column: number): number => ((line << 10) | (column & 0x3ff)) >>> 0;

/** BPF_PROG_LOAD's func_info array (rec size 8): insnOff counts instructions (8-byte slots). */
export function marshalFuncInfo(records: readonly { insnOff: number; typeId: number }[]): Buffer {
  const out = Buffer.alloc(records.length * FUNC_INFO_MIN);
  records.forEach((r, i) => {
    out.writeUInt32LE(r.insnOff, i * 8);
    out.writeUInt32LE(r.typeId, i * 8 + 4);
  });
  return out;
}

/** BPF_PROG_LOAD's line_info array (rec size 16): insnOff counts instructions (8-byte slots). */
export function marshalLineInfo(
  records: readonly { insnOff: number; fileNameOff: number; lineOff: number; lineCol: number }[],
): Buffer {
  const out = Buffer.alloc(records.length * LINE_INFO_MIN);
  records.forEach((r, i) => {
    out.writeUInt32LE(r.insnOff, i * 16);
    out.writeUInt32LE(r.fileNameOff, i * 16 + 4);
    out.writeUInt32LE(r.lineOff, i * 16 + 8);
    out.writeUInt32LE(r.lineCol >>> 0, i * 16 + 12);
  });
  return out;
}

/** Record sizes of the arrays above, for bpf_attr's func_info_rec_size / line_info_rec_size. */
export const FUNC_INFO_REC_SIZE = FUNC_INFO_MIN;
export const LINE_INFO_REC_SIZE = LINE_INFO_MIN;
