// Generic access to an NF's tables: map keys and values as JSON objects, laid out from the map's
// BTF key and value types (struct members become fields, nested structs "outer.inner") and shown
// in the formats the manifest names (mac, ipv4, ipv6, port, hex...).
import type { Btf } from "../bpf/btf/index.js";
import { ValidationError } from "./errors.js";

export type FieldFormat = "int" | "bool" | "mac" | "ipv4" | "ipv6" | "port" | "hex" | "string";

export interface Field {
  name: string;
  offset: number;
  size: number;
  signed: boolean;
  /** For bitfields: bit offset within `size` bytes and width; 0 otherwise. */
  bitOffset: number;
  bits: number;
  format: FieldFormat;
}

export interface PortNames {
  name(index: number): string | undefined;
  index(name: string): number | undefined;
}

/** Flattens a BTF type into fields. */
export function layoutFields(
  btf: Btf,
  typeId: number,
  formats: Record<string, string> = {},
  prefix = "",
  base = 0,
): Field[] {
  const t = btf.resolve(typeId);
  const fmt = (name: string, fallback: FieldFormat): FieldFormat =>
    (formats[name] as FieldFormat | undefined) ?? fallback;
  switch (t.kind) {
    case "struct":
    case "union": {
      const out: Field[] = [];
      t.members.forEach((m, i) => {
        const name = prefix ? (m.name ? `${prefix}.${m.name}` : prefix) : m.name || `field${i}`;
        if (m.bitfieldSize) {
          const mt = btf.resolve(m.type);
          const size = "size" in mt ? (mt.size as number) : 4;
          out.push({
            name,
            offset: base + Math.floor(m.bitOffset / 8 / size) * size,
            size,
            signed: mt.kind === "int" && mt.signed,
            bitOffset: m.bitOffset % (size * 8),
            bits: m.bitfieldSize,
            format: fmt(name, "int"),
          });
        } else out.push(...layoutFields(btf, m.type, formats, name, base + m.bitOffset / 8));
      });
      return out;
    }
    case "array": {
      const elem = btf.resolve(t.type);
      const size = btf.sizeof(typeId);
      const name = prefix || "value";
      const byteArray = elem.kind === "int" && elem.size === 1;
      // clang marks `char` by name, rarely by the BTF char encoding.
      const isChar = elem.kind === "int" && (elem.char || elem.name === "char");
      const guess: FieldFormat = byteArray ? (isChar ? "string" : size === 6 ? "mac" : "hex") : "hex";
      return [{ name, offset: base, size, signed: false, bitOffset: 0, bits: 0, format: fmt(name, guess) }];
    }
    case "int":
    case "enum":
    case "enum64": {
      const name = prefix || "value";
      const boolish = t.kind === "int" && t.bool;
      return [
        {
          name,
          offset: base,
          size: t.size,
          signed: t.signed,
          bitOffset: 0,
          bits: 0,
          format: fmt(name, boolish ? "bool" : "int"),
        },
      ];
    }
    default: {
      const name = prefix || "value";
      return [
        {
          name,
          offset: base,
          size: btf.sizeof(typeId),
          signed: false,
          bitOffset: 0,
          bits: 0,
          format: fmt(name, "hex"),
        },
      ];
    }
  }
}

/** Fields for a map without BTF types: one hex field of the given size. */
export const rawFields = (name: string, size: number): Field[] =>
  size ? [{ name, offset: 0, size, signed: false, bitOffset: 0, bits: 0, format: "hex" }] : [];

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function parseIpv4(s: string): Buffer | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const b = m.slice(1).map(Number);
  return b.every((x) => x <= 255) ? Buffer.from(b) : undefined;
}

/** IPv6 text to 16 bytes (with :: and an embedded IPv4 tail). */
export function parseIpv6(s: string): Buffer | undefined {
  let text = s;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = parseIpv4(v4[1]);
    if (!b) return undefined;
    text = `${text.slice(0, -v4[1].length)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  if (!/^[0-9a-f:]+$/i.test(text)) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (p: string) =>
    p === "" ? [] : p.split(":").map((x) => (/^[0-9a-f]{1,4}$/i.test(x) ? parseInt(x, 16) : NaN));
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  if ([...head, ...tail].some(Number.isNaN)) return undefined;
  if (halves.length === 2 && head.length + tail.length > 7) return undefined;
  const words =
    halves.length === 2 ? [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail] : head;
  if (words.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

export function formatIpv6(b: Uint8Array): string {
  const words = Array.from({ length: 8 }, (_, i) => (b[i * 2] << 8) | b[i * 2 + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

function readUint(b: Buffer, f: Field): bigint {
  let v = f.size === 8 ? b.readBigUInt64LE(f.offset) : BigInt(b.readUIntLE(f.offset, f.size));
  if (f.bits) v = (v >> BigInt(f.bitOffset)) & ((1n << BigInt(f.bits)) - 1n);
  return v;
}

export function decodeField(b: Buffer, f: Field, ports?: PortNames): unknown {
  const bytes = b.subarray(f.offset, f.offset + f.size);
  switch (f.format) {
    case "mac":
      return [...bytes].map((x) => x.toString(16).padStart(2, "0")).join(":");
    case "ipv4":
      return [...bytes.subarray(0, 4)].join(".");
    case "ipv6":
      return formatIpv6(bytes);
    case "hex":
      return bytes.toString("hex");
    case "string": {
      const end = bytes.indexOf(0);
      return bytes.subarray(0, end < 0 ? bytes.length : end).toString("utf8");
    }
    case "bool":
      return readUint(b, f) !== 0n;
    case "port": {
      const i = Number(readUint(b, f));
      return ports?.name(i) ?? i;
    }
    default: {
      let v = readUint(b, f);
      if (f.signed && !f.bits) v = BigInt.asIntN(f.size * 8, v);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
        ? Number(v)
        : v.toString();
    }
  }
}

export function encodeField(out: Buffer, f: Field, value: unknown, ports?: PortNames): void {
  const bad = (why: string) =>
    new ValidationError(`field '${f.name}': ${why} (got ${JSON.stringify(value)})`);
  const text = typeof value === "string" ? value.trim() : undefined;
  switch (f.format) {
    case "mac":
      if (!text || !MAC_RE.test(text)) throw bad("expected a MAC address like 02:00:00:00:00:01");
      Buffer.from(text.split(":").map((x) => parseInt(x, 16))).copy(out, f.offset);
      return;
    case "ipv4": {
      const b = text ? parseIpv4(text) : undefined;
      if (!b) throw bad("expected an IPv4 address like 198.18.0.1");
      b.copy(out, f.offset);
      return;
    }
    case "ipv6": {
      const b = text ? parseIpv6(text) : undefined;
      if (!b) throw bad("expected an IPv6 address like fd00::1");
      b.copy(out, f.offset);
      return;
    }
    case "hex": {
      if (!text || !/^(?:[0-9a-f]{2})*$/i.test(text) || text.length !== f.size * 2)
        throw bad(`expected ${f.size} bytes as hex`);
      Buffer.from(text, "hex").copy(out, f.offset);
      return;
    }
    case "string": {
      if (text === undefined) throw bad("expected a string");
      const b = Buffer.from(text);
      if (b.length >= f.size) throw bad(`longer than ${f.size - 1} bytes`);
      b.copy(out, f.offset);
      return;
    }
  }
  let n: bigint;
  if (f.format === "port" && typeof value === "string" && !/^\d+$/.test(value)) {
    const i = ports?.index(value);
    if (i === undefined) throw bad("no such port");
    n = BigInt(i);
  } else if (typeof value === "boolean") n = value ? 1n : 0n;
  else if (
    typeof value === "number" ||
    typeof value === "bigint" ||
    (typeof value === "string" && /^-?(0x)?[0-9a-f]+$/i.test(value))
  ) {
    try {
      n = BigInt(value);
    } catch {
      throw bad("expected an integer");
    }
  } else throw bad("expected an integer");
  const width = f.bits || f.size * 8;
  const min = f.signed ? -(1n << BigInt(width - 1)) : 0n;
  const max = f.signed ? (1n << BigInt(width - 1)) - 1n : (1n << BigInt(width)) - 1n;
  if (n < min || n > max) throw bad(`out of range [${min}, ${max}]`);
  let word = BigInt.asUintN(width, n);
  if (f.bits) {
    const cur = f.size === 8 ? out.readBigUInt64LE(f.offset) : BigInt(out.readUIntLE(f.offset, f.size));
    const mask = ((1n << BigInt(f.bits)) - 1n) << BigInt(f.bitOffset);
    word = (cur & ~mask) | (word << BigInt(f.bitOffset));
  }
  if (f.size === 8) out.writeBigUInt64LE(word, f.offset);
  else out.writeUIntLE(Number(word), f.offset, f.size);
}

/** Encodes and decodes one map's entries as flat JSON objects (key fields, then value fields). */
export class TableCodec {
  constructor(
    readonly keyFields: Field[],
    readonly valueFields: Field[],
    readonly keySize: number,
    readonly valueSize: number,
    private readonly ports?: PortNames,
  ) {
    const clash = keyFields.find((k) => valueFields.some((v) => v.name === k.name));
    if (clash) throw new ValidationError(`table key and value both have a field '${clash.name}'`);
  }

  decode(key: Buffer, value: Buffer): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    for (const f of this.keyFields) o[f.name] = decodeField(key, f, this.ports);
    for (const f of this.valueFields) o[f.name] = decodeField(value, f, this.ports);
    return o;
  }

  private encode(fields: Field[], size: number, entry: Record<string, unknown>, required: boolean): Buffer {
    const b = Buffer.alloc(size);
    for (const f of fields) {
      const v = entry[f.name];
      if (v === undefined) {
        if (required)
          throw new ValidationError(
            `missing key field '${f.name}' (fields: ${fields.map((x) => x.name).join(", ")})`,
          );
        continue;
      }
      encodeField(b, f, v, this.ports);
    }
    return b;
  }

  encodeKey(entry: Record<string, unknown>): Buffer {
    return this.encode(this.keyFields, this.keySize, entry, true);
  }

  encodeValue(entry: Record<string, unknown>): Buffer {
    const unknown = Object.keys(entry).filter(
      (k) => !this.keyFields.some((f) => f.name === k) && !this.valueFields.some((f) => f.name === k),
    );
    if (unknown.length)
      throw new ValidationError(
        `unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => `'${u}'`).join(", ")} (fields: ${[...this.keyFields, ...this.valueFields].map((f) => f.name).join(", ")})`,
      );
    return this.encode(this.valueFields, this.valueSize, entry, false);
  }
}
