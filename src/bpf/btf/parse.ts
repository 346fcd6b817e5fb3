// Reads the binary BTF format (include/uapi/linux/btf.h): one validating pass that records where
// each type record starts, and a decoder that turns one record into the type model of types.ts.
import { BtfError } from "../errors.js";
import { FUNC_KIND, NAME_HASH, nameKey, newNameChains } from "./name-index.js";
import type { NameChains } from "./name-index.js";
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

/** A validated BTF blob: where each own type's record starts, decoded on demand by decodeType. */
export interface BtfTypeSection {
  /** The type section as little-endian 32-bit words (every field of every record is one). */
  readonly words: Uint32Array;
  /** Index in `words` of each own type's record, in id order. */
  readonly offsets: Uint32Array;
  readonly firstTypeId: number;
  readonly strings: BtfStrings;
  /** Names, linkages and type ids are still unchecked: checkRecord before decoding. */
  readonly lazy: boolean;
  /** Lazy sections: the types chained by name, for RawNameIndex. */
  readonly names?: NameChains;
}

export interface ParseContext {
  /** Number of types (including void) in the base, or 1 for standalone BTF. */
  firstTypeId: number;
  baseStrings?: BtfStrings;
  fileName?: string;
  /** Leave the entries (members, parameters, enumerators, section variables) to checkEntries. */
  lazy?: boolean;
}

/** Words a record takes after its 3-word header, by kind number, plus vlen entries of... */
const FIXED_WORDS = [0, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0];
/** ...this many words each. */
const ENTRY_WORDS = [0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3];
/** Both of those in one number by the 5-bit kind field: fixed | per entry << 8, -1 for unknown kinds. */
const RECORD_WORDS = Array.from({ length: 32 }, (_, k) =>
  k === 0 || k >= KIND_NAMES.length ? -1 : FIXED_WORDS[k] | (ENTRY_WORDS[k] << 8),
);
/** What follows the header, for truncation messages (`#` is vlen). */
const WHAT_FOLLOWS = [
  "",
  "int encoding",
  "",
  "the array descriptor",
  "# members",
  "# members",
  "# enum values",
  "",
  "",
  "",
  "",
  "",
  "",
  "# parameters",
  "the var linkage",
  "# variables",
  "",
  "the component index",
  "",
  "# enum values",
];
/** Kinds whose entries start with a name offset, and what the entries are (`#` is the type id). */
const ENTRY_NAMED = KIND_NAMES.map((k) => ["struct", "union", "enum", "enum64", "func_proto"].includes(k));
const ENTRY_WHAT = KIND_NAMES.map((k) =>
  k === "func_proto"
    ? "parameter of BTF func_proto #"
    : k.startsWith("enum")
      ? "value of BTF enum #"
      : "member of BTF type #",
);
/** Word of a type id in each entry (-1: none). */
const ENTRY_TYPE_AT = KIND_NAMES.map((k) =>
  k === "struct" || k === "union" || k === "func_proto" ? 1 : k === "datasec" ? 0 : -1,
);
/** Kinds whose header's size_type field is a type id. */
const REF_IN_HEADER = KIND_NAMES.map((k) =>
  [
    "ptr",
    "typedef",
    "volatile",
    "const",
    "restrict",
    "type_tag",
    "func",
    "func_proto",
    "var",
    "decl_tag",
  ].includes(k),
);

/**
 * Validates a BTF blob (the .BTF section or /sys/kernel/btf/*) as a full decode would, without
 * building a single type object: every check of decodeType's input happens here, so a type
 * decoded later cannot fail.
 */
export function indexBtf(buf: Uint8Array, ctx: ParseContext): BtfTypeSection {
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

  const lazy = ctx.lazy === true;
  const words = typeWords(buf, hdrLen + typeOff, typeLen);
  if (!lazy) {
    const offsets = indexRecords(words, ctx.firstTypeId, strings, fail);
    return { words, offsets, firstTypeId: ctx.firstTypeId, strings, lazy };
  }
  const names = newNameChains(typeLen);
  const offsets = indexLazyRecords(words, ctx.firstTypeId, strings, fail, names);
  names.next = names.next.subarray(0, offsets.length);
  return { words, offsets, firstTypeId: ctx.firstTypeId, strings, lazy, names };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The type section as words: a view when it is aligned (the kernel's mapped blob is), else a
 * copy. Word reads are what keeps the cold passes over 100k+ kernel types quick.
 */
function typeWords(buf: Uint8Array, start: number, len: number): Uint32Array {
  const at = buf.byteOffset + start;
  if (LITTLE_ENDIAN && at % 4 === 0) return new Uint32Array(buf.buffer, at, len / 4);
  const v = new DataView(buf.buffer, at, len);
  const words = new Uint32Array(len / 4);
  for (let i = 0; i < words.length; i++) words[i] = v.getUint32(i * 4, true);
  return words;
}

/** Messages for corrupt records, shared by the passes over them and the checks on use. */
function recordErrors(words: Uint32Array, strings: BtfStrings, fail: (msg: string) => BtfError) {
  return {
    truncated: (id: number, at: number, n: number, what: string) =>
      fail(
        `BTF type ${id} is truncated: ${what} needs ${n * 4} bytes at offset ${at * 4}, ${(words.length - at) * 4} left`,
      ),
    name: (off: number, what: string) =>
      fail(`${what}: name offset ${off} is outside the string section (${strings.end} bytes)`),
    linkage: (kindNo: number, id: number, nameOff: number, linkage: number) =>
      fail(`BTF ${KIND_NAMES[kindNo]} ${id} (${strings.get(nameOff)}) has invalid linkage ${linkage}`),
    ref: (id: number, ref: number, lastId: number) =>
      fail(`BTF type ${id} refers to type ${ref}, but the last type id is ${lastId}`),
  };
}

/**
 * The validating pass over the type records: returns the word index where each one starts.
 * Every check decodeType relies on happens here.
 */
function indexRecords(
  words: Uint32Array,
  firstTypeId: number,
  strings: BtfStrings,
  fail: (msg: string) => BtfError,
): Uint32Array {
  const ownStart = strings.start;
  const strEnd = strings.end;
  const end = words.length;
  const badName = (off: number) => (off < ownStart ? !strings.has(off) : off >= strEnd);
  const errors = recordErrors(words, strings, fail);

  // Every record is at least 3 words, which bounds the number of types.
  const offsets = new Uint32Array(Math.floor(end / 3));
  let count = 0;
  let id = firstTypeId;
  let at = 0;
  let maxRef = 0;
  let maxRefFrom = 0;

  while (at < end) {
    if (at + 3 > end) throw errors.truncated(id, at, 3, "the type header");
    offsets[count++] = at;
    const nameOff = words[at];
    const info = words[at + 1];
    const sizeOrType = words[at + 2];
    const kindNo = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    if (kindNo === 0 || kindNo >= KIND_NAMES.length) throw fail(`BTF type ${id} has unknown kind ${kindNo}`);
    if (nameOff !== 0 && badName(nameOff))
      throw errors.name(nameOff, `BTF type ${id} (${KIND_NAMES[kindNo]})`);
    at += 3;
    const step = ENTRY_WORDS[kindNo];
    const next = at + FIXED_WORDS[kindNo] + vlen * step;
    if (next > end)
      throw errors.truncated(id, at, next - at, WHAT_FOLLOWS[kindNo].replace("#", String(vlen)));
    // Types this record refers to: one in the header for these kinds, more in the entries below.
    let ref = REF_IN_HEADER[kindNo] ? sizeOrType : 0;
    if (kindNo === 3) {
      // array: element and index types
      ref = words[at] > words[at + 1] ? words[at] : words[at + 1];
    } else if (kindNo === 12 || kindNo === 14) {
      const linkage = kindNo === 12 ? vlen : words[at];
      if (linkage >= LINKAGES.length) throw errors.linkage(kindNo, id, nameOff, linkage);
    } else if (step !== 0) {
      // One table-driven loop for the entries of every kind.
      const named = ENTRY_NAMED[kindNo];
      const typeAt = ENTRY_TYPE_AT[kindNo];
      for (let e = at; e < next; e += step) {
        if (named) {
          const eName = words[e];
          if (eName !== 0 && badName(eName))
            throw errors.name(eName, ENTRY_WHAT[kindNo].replace("#", String(id)));
        }
        if (typeAt >= 0 && words[e + typeAt] > ref) ref = words[e + typeAt];
      }
    }
    if (ref > maxRef) {
      maxRef = ref;
      maxRefFrom = id;
    }
    at = next;
    id++;
  }
  if (maxRef >= id) throw errors.ref(maxRefFrom, maxRef, id - 1);
  return offsets.subarray(0, count);
}

/**
 * The pass over the records of a lazy section: only what finding the records needs (known kinds,
 * records inside the section) is checked, the rest is left to checkRecord, and the types are
 * chained by name on the way. It runs over every record of a 5+ MB kernel blob on a cold start,
 * mostly before the JIT has optimized it, so each record costs a handful of word and byte reads.
 */
function indexLazyRecords(
  words: Uint32Array,
  firstTypeId: number,
  strings: BtfStrings,
  fail: (msg: string) => BtfError,
  names: NameChains,
): Uint32Array {
  const nameBytes = strings.bytes;
  const ownStart = strings.start;
  const strEnd = strings.end;
  const { heads, shift } = names;
  const end = words.length;
  const errors = recordErrors(words, strings, fail);
  const offsets = new Uint32Array(Math.floor(end / 3));
  const chainNext = new Int32Array(offsets.length);
  names.next = chainNext;
  let count = 0;
  let at = 0;

  while (at < end) {
    if (at + 3 > end) throw errors.truncated(firstTypeId + count, at, 3, "the type header");
    const nameOff = words[at];
    const info = words[at + 1];
    const size = RECORD_WORDS[(info >>> 24) & 0x1f];
    if (size < 0) throw fail(`BTF type ${firstTypeId + count} has unknown kind ${(info >>> 24) & 0x1f}`);
    const next = at + 3 + (size & 0xff) + (info & 0xffff) * (size >>> 8);
    if (next > end) {
      const what = WHAT_FOLLOWS[(info >>> 24) & 0x1f].replace("#", String(info & 0xffff));
      throw errors.truncated(firstTypeId + count, at + 3, next - at - 3, what);
    }
    // The name's key: its first KEY_BYTES bytes, packed (nameKey() inlined); a bad offset is
    // left unchained, for checkRecord to report. Functions are chained apart, on demand.
    let key = 0;
    if (((info >>> 24) & 0x1f) === FUNC_KIND) {
      // RawNameIndex chains functions when a lookup first wants them.
    } else if (nameOff >= ownStart && nameOff < strEnd) {
      const p = nameOff - ownStart;
      key = nameBytes[p];
      if (key !== 0 && nameBytes[p + 1] !== 0) {
        key = (key << 8) | nameBytes[p + 1];
        if (nameBytes[p + 2] !== 0) {
          key = (key << 8) | nameBytes[p + 2];
          if (nameBytes[p + 3] !== 0) key = (key << 8) | nameBytes[p + 3];
        }
      }
    } else if (nameOff !== 0 && nameOff < ownStart) key = nameKey(strings, nameOff);
    if (key !== 0) {
      const b = Math.imul(key, NAME_HASH) >>> shift;
      chainNext[count] = heads[b];
      heads[b] = count;
    }
    offsets[count++] = at;
    at = next;
  }
  return offsets.subarray(0, count);
}

/**
 * The checks indexLazyRecords left out, for type `id`, with the messages indexRecords gives:
 * run before decoding it.
 */
export function checkRecord(sec: BtfTypeSection, id: number, fileName: string | undefined): void {
  const { words, strings } = sec;
  const errors = recordErrors(words, strings, (msg) => new BtfError(msg, fileName));
  const at = sec.offsets[id - sec.firstTypeId];
  const nameOff = words[at];
  const info = words[at + 1];
  const kindNo = (info >>> 24) & 0x1f;
  const vlen = info & 0xffff;
  if (nameOff !== 0 && !strings.has(nameOff))
    throw errors.name(nameOff, `BTF type ${id} (${KIND_NAMES[kindNo]})`);
  let ref = REF_IN_HEADER[kindNo] ? words[at + 2] : 0;
  if (kindNo === 3) ref = Math.max(words[at + 3], words[at + 4]);
  else if (kindNo === 12 || kindNo === 14) {
    const linkage = kindNo === 12 ? vlen : words[at + 3];
    if (linkage >= LINKAGES.length) throw errors.linkage(kindNo, id, nameOff, linkage);
  }
  const step = ENTRY_WORDS[kindNo];
  const typeAt = ENTRY_TYPE_AT[kindNo];
  for (let e = at + 3; step !== 0 && e < at + 3 + vlen * step; e += step) {
    if (ENTRY_NAMED[kindNo] && words[e] !== 0 && !strings.has(words[e]))
      throw errors.name(words[e], ENTRY_WHAT[kindNo].replace("#", String(id)));
    if (typeAt >= 0) ref = Math.max(ref, words[e + typeAt]);
  }
  const lastId = sec.firstTypeId + sec.offsets.length - 1;
  if (ref > lastId) throw errors.ref(id, ref, lastId);
}

/** Decodes the record of type `id` of a section indexBtf has validated (so nothing is checked here). */
export function decodeType(sec: BtfTypeSection, id: number): BtfType {
  const w = sec.words;
  const strings = sec.strings;
  const name = (off: number) => (off === 0 ? "" : (strings.get(off) as string));
  let at = sec.offsets[id - sec.firstTypeId];
  const info = w[at + 1];
  const sizeOrType = w[at + 2];
  const tname = name(w[at]);
  at += 3;
  const vlen = info & 0xffff;
  const kindFlag = info >>> 31 === 1;
  const kind = KIND_NAMES[(info >>> 24) & 0x1f];
  switch (kind) {
    case "int": {
      const enc = w[at];
      const e = (enc >>> 24) & 0x0f;
      return {
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
    }
    case "ptr":
      return { id, name: tname, kind, type: sizeOrType };
    case "array":
      return { id, name: tname, kind, type: w[at], indexType: w[at + 1], nelems: w[at + 2] };
    case "struct":
    case "union": {
      const members: BtfMember[] = new Array(vlen);
      let bitfields = false;
      for (let i = 0; i < vlen; i++, at += 3) {
        const off = w[at + 2];
        const bitfieldSize = kindFlag ? off >>> 24 : 0;
        if (bitfieldSize) bitfields = true;
        members[i] = {
          name: name(w[at]),
          type: w[at + 1],
          bitOffset: kindFlag ? off & 0xffffff : off,
          bitfieldSize,
        };
      }
      const t: BtfType = { id, name: tname, kind, size: sizeOrType, members };
      if (kindFlag && !bitfields) t.kindFlag = true;
      return t;
    }
    case "enum":
    case "enum64": {
      const step = kind === "enum" ? 2 : 3;
      const values = new Array(vlen);
      for (let i = 0; i < vlen; i++, at += step) {
        let value: bigint;
        if (kind === "enum") value = BigInt(kindFlag ? w[at + 1] | 0 : w[at + 1]);
        else {
          const raw = (BigInt(w[at + 2]) << 32n) | BigInt(w[at + 1]);
          value = kindFlag ? BigInt.asIntN(64, raw) : raw;
        }
        values[i] = { name: name(w[at]), value };
      }
      return { id, name: tname, kind, size: sizeOrType, signed: kindFlag, values };
    }
    case "fwd":
      return { id, name: tname, kind, union: kindFlag };
    case "typedef":
    case "volatile":
    case "const":
    case "restrict":
    case "type_tag": {
      const t: BtfType = { id, name: tname, kind, type: sizeOrType };
      if (kind === "type_tag" && kindFlag) t.attribute = true;
      return t;
    }
    case "func":
      return { id, name: tname, kind, type: sizeOrType, linkage: LINKAGES[vlen] };
    case "func_proto": {
      const params = new Array(vlen);
      for (let i = 0; i < vlen; i++, at += 2) params[i] = { name: name(w[at]), type: w[at + 1] };
      return { id, name: tname, kind, returnType: sizeOrType, params };
    }
    case "var":
      return { id, name: tname, kind, type: sizeOrType, linkage: LINKAGES[w[at]] };
    case "datasec": {
      const vars = new Array(vlen);
      for (let i = 0; i < vlen; i++, at += 3) vars[i] = { type: w[at], offset: w[at + 1], size: w[at + 2] };
      return { id, name: tname, kind, size: sizeOrType, vars };
    }
    case "float":
      return { id, name: tname, kind, size: sizeOrType };
    case "decl_tag": {
      const t: BtfType = { id, name: tname, kind, type: sizeOrType, componentIdx: w[at] | 0 };
      if (kindFlag) t.attribute = true;
      return t;
    }
    default:
      throw new BtfError(`BTF type ${id}: kind ${kind} cannot be decoded`);
  }
}
