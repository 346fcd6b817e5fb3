// Encodes the type model back into binary BTF: the exact inverse of parse.ts. Names reuse the
// offsets of the table the BTF was parsed from, so an untouched BTF marshals to identical bytes.
import { BtfError } from "../errors.js";
import { BTF_HEADER_SIZE, BTF_MAGIC, BTF_VERSION, LINKAGES, TYPE_HEADER_SIZE } from "./parse.js";
import { StringTableBuilder } from "./strings.js";
import type { BtfStrings } from "./strings.js";
import { BTF_KIND } from "./types.js";
import type { BtfType } from "./types.js";

/** Bytes a type occupies after its 12-byte header. */
export function typeExtraSize(t: BtfType): number {
  switch (t.kind) {
    case "int":
    case "var":
    case "decl_tag":
      return 4;
    case "array":
      return 12;
    case "struct":
    case "union":
      return t.members.length * 12;
    case "enum":
      return t.values.length * 8;
    case "enum64":
      return t.values.length * 12;
    case "func_proto":
      return t.params.length * 8;
    case "datasec":
      return t.vars.length * 12;
    default:
      return 0;
  }
}

const u32 = (n: number) => n >>> 0;

/** Marshals own types (ids from the first own id) with names placed in a table seeded by `strings`. */
export function marshalBtf(types: readonly BtfType[], strings: BtfStrings): Buffer {
  const table = new StringTableBuilder(strings);
  let typeLen = 0;
  for (const t of types) typeLen += TYPE_HEADER_SIZE + typeExtraSize(t);
  const typeBuf = Buffer.alloc(typeLen);
  // A DataView write is one builtin call; Buffer#writeUInt32LE is JavaScript that checks its
  // arguments, which the first (cold) marshal of a load pays for every word.
  const view = new DataView(typeBuf.buffer, typeBuf.byteOffset, typeBuf.byteLength);
  let at = 0;
  const w = (n: number) => {
    view.setUint32(at, u32(n), true);
    at += 4;
  };
  const s = (name: string) => table.offsetOf(name);
  const header = (t: BtfType, vlen: number, kindFlag: boolean, sizeOrType: number) => {
    if (vlen > 0xffff)
      throw new BtfError(`BTF type ${t.id} (${t.name}) has ${vlen} entries, more than 65535`);
    w(s(t.name));
    w(((kindFlag ? 1 : 0) << 31) | (BTF_KIND[t.kind] << 24) | vlen);
    w(sizeOrType);
  };
  for (const t of types) {
    switch (t.kind) {
      case "void":
        throw new BtfError(`cannot marshal void as BTF type ${t.id}`);
      case "int":
        header(t, 0, false, t.size);
        w(
          (((t.signed ? 1 : 0) | (t.char ? 2 : 0) | (t.bool ? 4 : 0)) << 24) |
            ((t.bitOffset & 0xff) << 16) |
            (t.bits & 0xff),
        );
        break;
      case "ptr":
      case "typedef":
      case "volatile":
      case "const":
      case "restrict":
      case "type_tag":
        header(t, 0, t.kind === "type_tag" && t.attribute === true, t.type);
        break;
      case "array":
        header(t, 0, false, 0);
        w(t.type);
        w(t.indexType);
        w(t.nelems);
        break;
      case "struct":
      case "union": {
        const kf = t.kindFlag === true || t.members.some((m) => m.bitfieldSize !== 0);
        header(t, t.members.length, kf, t.size);
        for (const m of t.members) {
          w(s(m.name));
          w(m.type);
          w(kf ? (m.bitfieldSize << 24) | (m.bitOffset & 0xffffff) : m.bitOffset);
        }
        break;
      }
      case "enum":
      case "enum64":
        header(t, t.values.length, t.signed, t.size);
        for (const e of t.values) {
          w(s(e.name));
          w(Number(BigInt.asUintN(32, e.value)));
          if (t.kind === "enum64") w(Number(BigInt.asUintN(32, e.value >> 32n)));
        }
        break;
      case "fwd":
        header(t, 0, t.union, 0);
        break;
      case "func":
        header(t, LINKAGES.indexOf(t.linkage), false, t.type);
        break;
      case "func_proto":
        header(t, t.params.length, false, t.returnType);
        for (const p of t.params) {
          w(s(p.name));
          w(p.type);
        }
        break;
      case "var":
        header(t, 0, false, t.type);
        w(LINKAGES.indexOf(t.linkage));
        break;
      case "datasec":
        header(t, t.vars.length, false, t.size);
        for (const v of t.vars) {
          w(v.type);
          w(v.offset);
          w(v.size);
        }
        break;
      case "float":
        header(t, 0, false, t.size);
        break;
      case "decl_tag":
        header(t, 0, t.attribute === true, t.type);
        w(t.componentIdx);
        break;
    }
  }
  const strBuf = table.bytes();
  const out = Buffer.alloc(BTF_HEADER_SIZE + typeLen + strBuf.length);
  out.writeUInt16LE(BTF_MAGIC, 0);
  out.writeUInt8(BTF_VERSION, 2);
  out.writeUInt8(0, 3);
  out.writeUInt32LE(BTF_HEADER_SIZE, 4);
  out.writeUInt32LE(0, 8);
  out.writeUInt32LE(typeLen, 12);
  out.writeUInt32LE(typeLen, 16);
  out.writeUInt32LE(strBuf.length, 20);
  typeBuf.copy(out, BTF_HEADER_SIZE);
  out.set(strBuf, BTF_HEADER_SIZE + typeLen);
  return out;
}
