// Decodes the binary BTF format (include/uapi/linux/btf.h) into the type model of types.ts.
import { BtfError } from "../errors.js";
import { BtfStrings } from "./strings.js";
import type { BtfKindName, BtfLinkage, BtfMember, BtfType } from "./types.js";

export const BTF_MAGIC = 0xeb9f;
export const BTF_VERSION = 1;
export const BTF_HEADER_SIZE = 24;
export const TYPE_HEADER_SIZE = 12;

/** BTF_KIND_* number -> name. */
export const KIND_NAMES: readonly BtfKindName[] = [
  "void",
  "int",
  "ptr",
  "array",
  "struct",
  "union",
  "enum",
  "fwd",
  "typedef",
  "volatile",
  "const",
  "restrict",
  "func",
  "func_proto",
  "var",
  "datasec",
  "float",
  "decl_tag",
  "type_tag",
  "enum64",
];

export const LINKAGES: readonly BtfLinkage[] = ["static", "global", "extern"];

const INT_SIGNED = 1;
const INT_CHAR = 2;
const INT_BOOL = 4;

export interface ParsedBtf {
  /** Own types in id order, starting at `firstTypeId`. */
  types: BtfType[];
  strings: BtfStrings;
}

export interface ParseContext {
  /** Number of types (including void) in the base, or 1 for standalone BTF. */
  firstTypeId: number;
  baseStrings?: BtfStrings;
  fileName?: string;
}

/** Parses a BTF blob (the .BTF section or /sys/kernel/btf/*). */
export function parseBtf(buf: Uint8Array, ctx: ParseContext): ParsedBtf {
  const fail = (msg: string) => new BtfError(msg, ctx.fileName);
  if (buf.length < 8)
    throw fail(`BTF is truncated: ${buf.length} bytes, the header alone needs ${BTF_HEADER_SIZE}`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = v.getUint16(0, true);
  if (magic === 0x9feb)
    throw fail("big-endian BTF (magic 0xeb9f stored big-endian): plexus reads little-endian BTF only");
  if (magic !== BTF_MAGIC) throw fail(`not BTF: magic 0x${magic.toString(16)}, expected 0xeb9f`);
  if (buf[2] !== BTF_VERSION) throw fail(`unsupported BTF version ${buf[2]} (expected ${BTF_VERSION})`);
  const hdrLen = v.getUint32(4, true);
  if (hdrLen < BTF_HEADER_SIZE || hdrLen > buf.length)
    throw fail(
      `BTF header length ${hdrLen} is invalid for a ${buf.length}-byte blob (minimum ${BTF_HEADER_SIZE})`,
    );
  // A longer header from a newer kernel is accepted if its unknown tail is zero, as the kernel does.
  for (let i = BTF_HEADER_SIZE; i < hdrLen; i++)
    if (buf[i] !== 0) throw fail(`BTF header has unknown non-zero fields beyond byte ${BTF_HEADER_SIZE}`);
  const typeOff = v.getUint32(8, true);
  const typeLen = v.getUint32(12, true);
  const strOff = v.getUint32(16, true);
  const strLen = v.getUint32(20, true);
  const body = buf.length - hdrLen;
  if (typeOff + typeLen > body)
    throw fail(
      `BTF type section (offset ${typeOff}, ${typeLen} bytes) runs past the end of the data (${body} bytes)`,
    );
  if (strOff + strLen > body)
    throw fail(
      `BTF string section (offset ${strOff}, ${strLen} bytes) runs past the end of the data (${body} bytes)`,
    );
  if (typeLen % 4 !== 0 || typeOff % 4 !== 0) throw fail("BTF type section is not 4-byte aligned");
  if (typeOff < strOff ? typeOff + typeLen > strOff : strOff + strLen > typeOff)
    throw fail("BTF type and string sections overlap");

  const strBytes = buf.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
  if (!ctx.baseStrings && (strLen === 0 || strBytes[0] !== 0))
    throw fail("BTF string section must start with an empty string");
  if (strLen > 0 && strBytes[strLen - 1] !== 0) throw fail("BTF string section does not end with a NUL byte");
  const strings = new BtfStrings(strBytes, ctx.baseStrings);

  /** Name at `off`; `what`/`index` only build the message on failure (no closure per name). */
  const name = (off: number, what: string, index: number): string => {
    if (off === 0) return "";
    const s = strings.get(off);
    if (s === undefined)
      throw fail(
        `${what.replace("#", String(index))}: name offset ${off} is outside the string section (${strings.end} bytes)`,
      );
    return s;
  };

  const types: BtfType[] = [];
  let id = ctx.firstTypeId;
  let at = hdrLen + typeOff;
  const end = at + typeLen;
  let maxRef = 0;
  let maxRefFrom = 0;
  const ref = (t: number) => {
    if (t > maxRef) {
      maxRef = t;
      maxRefFrom = id;
    }
    return t;
  };
  const need = (n: number, what: string) => {
    if (at + n > end)
      throw fail(
        `BTF type ${id} is truncated: ${what} needs ${n} bytes at offset ${at - hdrLen - typeOff}, ${end - at} left`,
      );
  };

  while (at < end) {
    need(TYPE_HEADER_SIZE, "the type header");
    const nameOff = v.getUint32(at, true);
    const info = v.getUint32(at + 4, true);
    const sizeOrType = v.getUint32(at + 8, true);
    at += TYPE_HEADER_SIZE;
    const kindNo = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    const kind = KIND_NAMES[kindNo];
    if (kind === undefined || kind === "void") throw fail(`BTF type ${id} has unknown kind ${kindNo}`);
    const tname = name(nameOff, `BTF type # (${kind})`, id);
    let t: BtfType;
    switch (kind) {
      case "int": {
        need(4, "int encoding");
        const enc = v.getUint32(at, true);
        at += 4;
        const e = (enc >>> 24) & 0x0f;
        t = {
          id,
          name: tname,
          kind,
          size: sizeOrType,
          signed: (e & INT_SIGNED) !== 0,
          char: (e & INT_CHAR) !== 0,
          bool: (e & INT_BOOL) !== 0,
          bitOffset: (enc >>> 16) & 0xff,
          bits: enc & 0xff,
        };
        break;
      }
      case "ptr":
        t = { id, name: tname, kind, type: ref(sizeOrType) };
        break;
      case "array":
        need(12, "the array descriptor");
        t = {
          id,
          name: tname,
          kind,
          type: ref(v.getUint32(at, true)),
          indexType: ref(v.getUint32(at + 4, true)),
          nelems: v.getUint32(at + 8, true),
        };
        at += 12;
        break;
      case "struct":
      case "union": {
        need(vlen * 12, `${vlen} members`);
        const members: BtfMember[] = new Array(vlen);
        let bitfields = false;
        for (let i = 0; i < vlen; i++, at += 12) {
          const mOff = v.getUint32(at, true);
          const off = v.getUint32(at + 8, true);
          const bitfieldSize = kindFlag ? off >>> 24 : 0;
          if (bitfieldSize) bitfields = true;
          members[i] = {
            name: name(mOff, `member of BTF type #`, id),
            type: ref(v.getUint32(at + 4, true)),
            bitOffset: kindFlag ? off & 0xffffff : off,
            bitfieldSize,
          };
        }
        t = { id, name: tname, kind, size: sizeOrType, members };
        if (kindFlag && !bitfields) t.kindFlag = true;
        break;
      }
      case "enum":
      case "enum64": {
        const rec = kind === "enum" ? 8 : 12;
        need(vlen * rec, `${vlen} enum values`);
        const values = new Array(vlen);
        for (let i = 0; i < vlen; i++, at += rec) {
          const vOff = v.getUint32(at, true);
          let value: bigint;
          if (kind === "enum")
            value = BigInt(kindFlag ? v.getInt32(at + 4, true) : v.getUint32(at + 4, true));
          else {
            const raw = (BigInt(v.getUint32(at + 8, true)) << 32n) | BigInt(v.getUint32(at + 4, true));
            value = kindFlag ? BigInt.asIntN(64, raw) : raw;
          }
          values[i] = { name: name(vOff, `value of BTF enum #`, id), value };
        }
        t = { id, name: tname, kind, size: sizeOrType, signed: kindFlag, values };
        break;
      }
      case "fwd":
        t = { id, name: tname, kind, union: kindFlag };
        break;
      case "typedef":
      case "volatile":
      case "const":
      case "restrict":
      case "type_tag":
        t = { id, name: tname, kind, type: ref(sizeOrType) };
        if (kind === "type_tag" && kindFlag) t.attribute = true;
        break;
      case "func":
        if (vlen >= LINKAGES.length) throw fail(`BTF func ${id} (${tname}) has invalid linkage ${vlen}`);
        t = { id, name: tname, kind, type: ref(sizeOrType), linkage: LINKAGES[vlen] };
        break;
      case "func_proto": {
        need(vlen * 8, `${vlen} parameters`);
        const params = new Array(vlen);
        for (let i = 0; i < vlen; i++, at += 8) {
          const pOff = v.getUint32(at, true);
          params[i] = {
            name: name(pOff, `parameter of BTF func_proto #`, id),
            type: ref(v.getUint32(at + 4, true)),
          };
        }
        t = { id, name: tname, kind, returnType: ref(sizeOrType), params };
        break;
      }
      case "var": {
        need(4, "the var linkage");
        const linkage = v.getUint32(at, true);
        at += 4;
        if (linkage >= LINKAGES.length) throw fail(`BTF var ${id} (${tname}) has invalid linkage ${linkage}`);
        t = { id, name: tname, kind, type: ref(sizeOrType), linkage: LINKAGES[linkage] };
        break;
      }
      case "datasec": {
        need(vlen * 12, `${vlen} variables`);
        const vars = new Array(vlen);
        for (let i = 0; i < vlen; i++, at += 12)
          vars[i] = {
            type: ref(v.getUint32(at, true)),
            offset: v.getUint32(at + 4, true),
            size: v.getUint32(at + 8, true),
          };
        t = { id, name: tname, kind, size: sizeOrType, vars };
        break;
      }
      case "float":
        t = { id, name: tname, kind, size: sizeOrType };
        break;
      case "decl_tag":
        need(4, "the component index");
        t = { id, name: tname, kind, type: ref(sizeOrType), componentIdx: v.getInt32(at, true) };
        at += 4;
        if (kindFlag) t.attribute = true;
        break;
    }
    types.push(t);
    id++;
  }
  if (maxRef >= id)
    throw fail(`BTF type ${maxRefFrom} refers to type ${maxRef}, but the last type id is ${id - 1}`);
  return { types, strings };
}
