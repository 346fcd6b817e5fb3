// Netlink attributes (struct nlattr: u16 len, u16 type, payload padded to 4 bytes): a builder that
// nests, and a parser that never reads past the buffer it is given.
import { NetlinkError } from "../errors.js";
import { EPROTO, NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK, align4 } from "./constants.js";

/** Builds a run of attributes; nested() opens an attribute whose payload is more attributes. */
export class AttrBuilder {
  private chunks: Buffer[] = [];
  private length = 0;

  private push(type: number, payload: Buffer): this {
    const len = NLA_HDRLEN + payload.length;
    const b = Buffer.alloc(align4(len));
    b.writeUInt16LE(len, 0);
    b.writeUInt16LE(type, 2);
    payload.copy(b, NLA_HDRLEN);
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }

  bytes(type: number, data: Uint8Array): this {
    return this.push(type, Buffer.from(data));
  }

  u8(type: number, v: number): this {
    return this.push(type, Buffer.from([v & 0xff]));
  }

  u16(type: number, v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v, 0);
    return this.push(type, b);
  }

  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0, 0);
    return this.push(type, b);
  }

  s32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v, 0);
    return this.push(type, b);
  }

  /** A NUL-terminated string (NLA_STRING / NLA_NUL_STRING both accept it). */
  string(type: number, s: string): this {
    return this.push(type, Buffer.from(`${s}\0`, "utf8"));
  }

  nested(type: number, fill: (b: AttrBuilder) => void): this {
    const inner = new AttrBuilder();
    fill(inner);
    return this.push(type | NLA_F_NESTED, inner.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

/** Parsed attributes of one level: the last value of each type, by type (flag bits masked off). */
export class Attrs {
  private constructor(private readonly map: Map<number, Buffer>) {}

  /** Parses `buf` as a run of attributes; a length that overruns the buffer is a protocol error. */
  static parse(buf: Uint8Array, what = "netlink attributes"): Attrs {
    const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    const map = new Map<number, Buffer>();
    let off = 0;
    while (off + NLA_HDRLEN <= b.length) {
      const len = b.readUInt16LE(off);
      const type = b.readUInt16LE(off + 2) & NLA_TYPE_MASK;
      if (len < NLA_HDRLEN || off + len > b.length)
        throw new NetlinkError(
          `parse ${what}`,
          EPROTO,
          `attribute ${type} at offset ${off} has length ${len}`,
        );
      map.set(type, b.subarray(off + NLA_HDRLEN, off + len));
      off += align4(len);
    }
    return new Attrs(map);
  }

  has(type: number): boolean {
    return this.map.has(type);
  }

  bytes(type: number): Buffer | undefined {
    return this.map.get(type);
  }

  u8(type: number): number | undefined {
    const b = this.map.get(type);
    return b && b.length >= 1 ? b.readUInt8(0) : undefined;
  }

  u32(type: number): number | undefined {
    const b = this.map.get(type);
    return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
  }

  s32(type: number): number | undefined {
    const b = this.map.get(type);
    return b && b.length >= 4 ? b.readInt32LE(0) : undefined;
  }

  string(type: number): string | undefined {
    const b = this.map.get(type);
    if (!b) return undefined;
    const end = b.indexOf(0);
    return b.subarray(0, end < 0 ? b.length : end).toString("utf8");
  }

  nested(type: number): Attrs | undefined {
    const b = this.map.get(type);
    return b ? Attrs.parse(b, `nested attribute ${type}`) : undefined;
  }
}
