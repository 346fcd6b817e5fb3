// Codecs between JavaScript values and the bytes of map keys and values. Integers are host
// (little-endian) order like C fields; be16/be32 and the address codecs are network order, as they
// appear in packets. struct() lays fields out as a C compiler does (natural alignment, tail padding).
import { createRequire } from "node:module";
import { PlexusBpfError } from "../errors.js";

/** node:net, loaded on first use: it costs a cold start milliseconds and only checks addresses here. */
let net: typeof import("node:net") | undefined;
const netModule = () => (net ??= createRequire(import.meta.url)("node:net") as typeof import("node:net"));

export interface Codec<T> {
  /** Encoded size in bytes. */
  size: number;
  /** Alignment inside a struct (defaults to 1 for codecs that do not say). */
  align?: number;
  encode(v: T, out?: Buffer): Buffer;
  decode(b: Uint8Array): T;
}

/** A codec that can also read and write at an offset (what nested layouts use). */
export interface FieldCodec<T> extends Codec<T> {
  align: number;
  write(v: T, b: Buffer, off: number): void;
  read(b: Buffer, off: number): T;
}

export type CodecValue<C> = C extends Codec<infer T> ? T : never;

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function field<T>(
  size: number,
  align: number,
  write: (v: T, b: Buffer, off: number) => void,
  read: (b: Buffer, off: number) => T,
): FieldCodec<T> {
  return {
    size,
    align,
    write,
    read,
    encode(v, out) {
      const b = out ?? Buffer.alloc(size);
      if (b.length < size) throw new PlexusBpfError(`codec: output of ${b.length} bytes, need ${size}`);
      write(v, b, 0);
      return b;
    },
    decode(b) {
      if (b.length < size) throw new PlexusBpfError(`codec: ${b.length} bytes, need ${size}`);
      return read(asBuffer(b), 0);
    },
  };
}

/** Wraps any Codec so it can be nested (uses encode/decode on sub-ranges). */
export function asField<T>(c: Codec<T>): FieldCodec<T> {
  if ("write" in c && "read" in c) return c as FieldCodec<T>;
  return field<T>(
    c.size,
    c.align ?? 1,
    (v, b, off) => {
      c.encode(v, b.subarray(off, off + c.size));
    },
    (b, off) => c.decode(b.subarray(off, off + c.size)),
  );
}

export const u8 = field<number>(
  1,
  1,
  (v, b, o) => void b.writeUInt8(v, o),
  (b, o) => b.readUInt8(o),
);
export const u16 = field<number>(
  2,
  2,
  (v, b, o) => void b.writeUInt16LE(v, o),
  (b, o) => b.readUInt16LE(o),
);
export const u32 = field<number>(
  4,
  4,
  (v, b, o) => void b.writeUInt32LE(v, o),
  (b, o) => b.readUInt32LE(o),
);
export const u64 = field<bigint>(
  8,
  8,
  (v, b, o) => void b.writeBigUInt64LE(v, o),
  (b, o) => b.readBigUInt64LE(o),
);
export const i8 = field<number>(
  1,
  1,
  (v, b, o) => void b.writeInt8(v, o),
  (b, o) => b.readInt8(o),
);
export const i16 = field<number>(
  2,
  2,
  (v, b, o) => void b.writeInt16LE(v, o),
  (b, o) => b.readInt16LE(o),
);
export const i32 = field<number>(
  4,
  4,
  (v, b, o) => void b.writeInt32LE(v, o),
  (b, o) => b.readInt32LE(o),
);
export const i64 = field<bigint>(
  8,
  8,
  (v, b, o) => void b.writeBigInt64LE(v, o),
  (b, o) => b.readBigInt64LE(o),
);
export const f32 = field<number>(
  4,
  4,
  (v, b, o) => void b.writeFloatLE(v, o),
  (b, o) => b.readFloatLE(o),
);
export const f64 = field<number>(
  8,
  8,
  (v, b, o) => void b.writeDoubleLE(v, o),
  (b, o) => b.readDoubleLE(o),
);
/** Network-order (big-endian) 16-bit field, e.g. a port as the program sees it in a header. */
export const be16 = field<number>(
  2,
  2,
  (v, b, o) => void b.writeUInt16BE(v, o),
  (b, o) => b.readUInt16BE(o),
);
/** Network-order 32-bit field. */
export const be32 = field<number>(
  4,
  4,
  (v, b, o) => void b.writeUInt32BE(v, o),
  (b, o) => b.readUInt32BE(o),
);
/** A C bool (one byte). */
export const bool = field<boolean>(
  1,
  1,
  (v, b, o) => void b.writeUInt8(v ? 1 : 0, o),
  (b, o) => b.readUInt8(o) !== 0,
);

/** The key of keyless maps (queue, stack, bloom filter): nothing at all. */
export const none = field<null>(
  0,
  1,
  () => undefined,
  () => null,
);

/** Raw bytes of a fixed length (decoded as a copy). */
export const bytes = (n: number): FieldCodec<Uint8Array> =>
  field<Uint8Array>(
    n,
    1,
    (v, b, o) => {
      if (v.length !== n) throw new PlexusBpfError(`bytes(${n}): got ${v.length} bytes`);
      b.set(v, o);
    },
    (b, o) => Buffer.from(b.subarray(o, o + n)),
  );

/** A NUL-padded char[n]; encoding truncates to n-1 bytes so the string stays terminated. */
export const cstring = (n: number): FieldCodec<string> =>
  field<string>(
    n,
    1,
    (v, b, o) => {
      b.fill(0, o, o + n);
      b.write(v, o, n - 1, "utf8");
    },
    (b, o) => {
      const s = b.subarray(o, o + n);
      const end = s.indexOf(0);
      return s.subarray(0, end < 0 ? n : end).toString("utf8");
    },
  );

export function parseIpv4(s: string): Buffer {
  if (!netModule().isIPv4(s)) throw new PlexusBpfError(`not an IPv4 address: ${JSON.stringify(s)}`);
  return Buffer.from(s.split(".").map(Number));
}

export const formatIpv4 = (b: Uint8Array): string => `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;

export function parseIpv6(s: string): Buffer {
  if (!netModule().isIPv6(s)) throw new PlexusBpfError(`not an IPv6 address: ${JSON.stringify(s)}`);
  let text = s.replace(/%.*$/, "");
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const q = parseIpv4(v4[1]);
    text =
      text.slice(0, -v4[1].length) + `${q.readUInt16BE(0).toString(16)}:${q.readUInt16BE(2).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const hs = head ? head.split(":") : [];
  const ts = tail ? tail.split(":") : [];
  const groups = tail === undefined ? hs : [...hs, ...Array(8 - hs.length - ts.length).fill("0"), ...ts];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** RFC 5952 text form: lowercase, longest run of zero groups (length >= 2) compressed. */
export function formatIpv6(b: Uint8Array): string {
  const g = Array.from({ length: 8 }, (_, i) => (b[i * 2] << 8) | b[i * 2 + 1]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

export function parseMac(s: string): Buffer {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p)))
    throw new PlexusBpfError(`not a MAC address: ${JSON.stringify(s)}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export const formatMac = (b: Uint8Array): string =>
  Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, "0")).join(":");

/** IPv4 address as text, stored as 4 bytes in network order (like __be32 saddr). */
export const ipv4 = field<string>(
  4,
  4,
  (v, b, o) => void parseIpv4(v).copy(b, o),
  (b, o) => formatIpv4(b.subarray(o, o + 4)),
);
/** IPv6 address as text, 16 bytes in network order (struct in6_addr). */
export const ipv6 = field<string>(
  16,
  4,
  (v, b, o) => void parseIpv6(v).copy(b, o),
  (b, o) => formatIpv6(b.subarray(o, o + 16)),
);
/** MAC address as "aa:bb:cc:dd:ee:ff", 6 bytes. */
export const mac = field<string>(
  6,
  1,
  (v, b, o) => void parseMac(v).copy(b, o),
  (b, o) => formatMac(b.subarray(o, o + 6)),
);

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

type StructValue<F extends Record<string, Codec<unknown>>> = { [K in keyof F]: CodecValue<F[K]> };

/**
 * A C struct of the given fields, in declaration order. Offsets follow C rules (each field at its
 * alignment, size padded to the largest alignment) unless `packed` (as __attribute__((packed))).
 */
export function struct<F extends Record<string, Codec<unknown>>>(
  fields: F,
  opts: { packed?: boolean } = {},
): FieldCodec<StructValue<F>> & { offsets: Record<keyof F, number> } {
  const layout: { name: keyof F; codec: FieldCodec<unknown>; off: number }[] = [];
  let off = 0;
  let align = 1;
  for (const name of Object.keys(fields) as (keyof F)[]) {
    const codec = asField(fields[name]);
    const a = opts.packed ? 1 : codec.align;
    off = alignUp(off, a);
    layout.push({ name, codec, off });
    off += codec.size;
    align = Math.max(align, a);
  }
  const size = alignUp(off, align);
  const c = field<StructValue<F>>(
    size,
    align,
    (v, b, o) => {
      b.fill(0, o, o + size); // padding is part of hash keys: keep it zero
      for (const f of layout) f.codec.write(v[f.name], b, o + f.off);
    },
    (b, o) => {
      const v = {} as StructValue<F>;
      for (const f of layout) v[f.name] = f.codec.read(b, o + f.off) as StructValue<F>[keyof F];
      return v;
    },
  );
  const offsets = Object.fromEntries(layout.map((f) => [f.name, f.off])) as Record<keyof F, number>;
  return Object.assign(c, { offsets });
}

/** A C array T[n]. */
export function array<T>(elem: Codec<T>, n: number): FieldCodec<T[]> {
  const e = asField(elem);
  return field<T[]>(
    e.size * n,
    e.align,
    (v, b, o) => {
      if (v.length !== n) throw new PlexusBpfError(`array(${n}): got ${v.length} elements`);
      v.forEach((x, i) => e.write(x, b, o + i * e.size));
    },
    (b, o) => Array.from({ length: n }, (_, i) => e.read(b, o + i * e.size)),
  );
}

export interface LpmKey<T> {
  /** Number of significant leading bits of `data`. */
  prefixLen: number;
  data: T;
}

/** An LPM trie key: struct bpf_lpm_trie_key_u8 { __u32 prefixlen; __u8 data[]; } with typed data. */
export function lpmKey<T>(data: Codec<T>): FieldCodec<LpmKey<T>> {
  const d = asField(data);
  return field<LpmKey<T>>(
    4 + d.size,
    4,
    (v, b, o) => {
      b.writeUInt32LE(v.prefixLen, o);
      d.write(v.data, b, o + 4);
    },
    (b, o) => ({ prefixLen: b.readUInt32LE(o), data: d.read(b, o + 4) }),
  );
}
