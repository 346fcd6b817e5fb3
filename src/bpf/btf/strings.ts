// A BTF string table: NUL-terminated strings addressed by byte offset. Split BTF continues the
// offsets of its base, so an offset below `start` belongs to the base table.

const latin1 = new TextDecoder("latin1");
/** Tables up to this size are decoded whole on first use; larger ones after this many names. */
const SMALL_TABLE = 256 * 1024;
const WHOLE_TABLE_AFTER = 20_000;
const utf8 = new TextDecoder("utf-8");
const encoder = new TextEncoder();

export class BtfStrings {
  /** A Buffer view of `bytes` (no copy): its native slicing decodes one name cheaply. */
  private readonly view: Buffer;
  /** The table ends with a NUL, so every offset inside it starts a terminated string. */
  private readonly terminated: boolean;
  private reverse: Map<string, number> | undefined;
  /** The whole table as latin1 text, once decoded; `ascii` tells whether slices of it are the names. */
  private text: string | undefined;
  private ascii = false;
  private gets = 0;
  /** First offset of this table (the base table's length for split BTF, else 0). */
  readonly start: number;

  constructor(
    /** The own table's bytes. */
    readonly bytes: Uint8Array,
    readonly base?: BtfStrings,
  ) {
    this.start = base ? base.end : 0;
    this.view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.terminated = bytes.length > 0 && bytes[bytes.length - 1] === 0;
  }

  /** One past the last offset of this table. */
  get end(): number {
    return this.start + this.bytes.length;
  }

  /** The string at `offset`, or undefined when the offset is outside the table or unterminated. */
  get(offset: number): string | undefined {
    if (offset < this.start) return this.base?.get(offset);
    const at = offset - this.start;
    if (at >= this.bytes.length) return undefined;
    const end = this.bytes.indexOf(0, at);
    if (end < 0) return undefined;
    // A lookup never decodes a 2.5 MB kernel table whole, names are decoded one at a time; a small
    // table (an object's), or one most names of which are asked for, is cheaper decoded whole.
    if (this.text === undefined && (this.bytes.length <= SMALL_TABLE || ++this.gets > WHOLE_TABLE_AFTER))
      this.decodeWhole();
    if (this.text !== undefined && this.ascii) return this.text.slice(at, end);
    return this.view.toString("utf8", at, end);
  }

  private decodeWhole(): string {
    this.text = latin1.decode(this.bytes);
    // eslint-disable-next-line no-control-regex
    this.ascii = !/[^\x00-\x7f]/.test(this.text);
    return this.text;
  }

  /** Whether get(offset) finds a string (no decoding). */
  has(offset: number): boolean {
    if (offset < this.start) return this.base?.has(offset) ?? false;
    const at = offset - this.start;
    return at < this.bytes.length && (this.terminated || this.bytes.indexOf(0, at) >= 0);
  }

  /** The table (this or a base) holding `offset`, for reading a name's bytes in place. */
  tableOf(offset: number): BtfStrings | undefined {
    if (offset >= this.start) return offset < this.end ? this : undefined;
    return this.base?.tableOf(offset);
  }

  /** Offset of the first occurrence of `s` (in the base first, as libbpf does), if present. */
  find(s: string): number | undefined {
    const inBase = this.base?.find(s);
    if (inBase !== undefined) return inBase;
    if (!this.reverse) {
      this.reverse = new Map();
      const text = this.text ?? this.decodeWhole();
      const ascii = this.ascii;
      let at = 0;
      while (at < this.bytes.length) {
        let end = text.indexOf("\0", at);
        if (end < 0) end = this.bytes.length;
        const str = ascii ? text.slice(at, end) : utf8.decode(this.bytes.subarray(at, end));
        if (!this.reverse.has(str)) this.reverse.set(str, this.start + at);
        at = end + 1;
      }
    }
    return this.reverse.get(s);
  }
}
/** Builds a string table for marshalling: starts from an existing table and appends new strings. */
export class StringTableBuilder {
  private readonly extra: Uint8Array[] = [];
  private readonly added = new Map<string, number>();
  private size: number;

  constructor(private readonly seed: BtfStrings) {
    this.size = seed.end;
    // A table always starts with the empty string (split BTF finds it in its base).
    if (seed.bytes.length === 0 && !seed.base) this.append("");
  }

  offsetOf(s: string): number {
    const known = this.seed.find(s) ?? this.added.get(s);
    if (known !== undefined) return known;
    return this.append(s);
  }

  private append(s: string): number {
    const off = this.size;
    const b = encoder.encode(s + "\0");
    this.extra.push(b);
    this.size += b.length;
    this.added.set(s, off);
    return off;
  }

  /** The own table's bytes (without the base's). */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size - this.seed.start);
    out.set(this.seed.bytes, 0);
    let at = this.seed.bytes.length;
    for (const b of this.extra) {
      out.set(b, at);
      at += b.length;
    }
    return out;
  }
}
