// pcapng files: section headers (either byte order), interface descriptions (with if_tsresol),
// enhanced and simple packet blocks (with comments). Writing produces one Ethernet interface per
// ifindex seen and enhanced packet blocks, optionally commented (the runtime writes verdicts there).
import { PlexusBpfError } from "../../bpf/errors.js";
import type { CapturedPacket } from "./pcap.js";
import { LINKTYPE_ETHERNET } from "./pcap.js";

const SHB = 0x0a0d0d0a;
const IDB = 0x00000001;
const SPB = 0x00000003;
const EPB = 0x00000006;
const BOM = 0x1a2b3c4d;
const OPT_COMMENT = 1;
const IF_NAME = 2;
const IF_TSRESOL = 9;

export const isPcapng = (b: Uint8Array): boolean =>
  b.length >= 12 && Buffer.from(b.buffer, b.byteOffset, 4).readUInt32LE(0) === SHB;

interface Iface {
  link: number;
  snap: number;
  /** Timestamp units per second. */
  resolution: bigint;
}

const pad4 = (n: number): number => (n + 3) & ~3;

/** Reads every packet of a pcapng file (all sections, Ethernet interfaces only). */
export function* readPcapng(file: Buffer, name = "pcapng"): IterableIterator<CapturedPacket> {
  let le = true;
  let ifaces: Iface[] = [];
  for (let o = 0; o < file.length;) {
    if (o + 12 > file.length) throw new PlexusBpfError(`${name}: truncated block at byte ${o}`);
    let type = file.readUInt32LE(o);
    if (type === SHB) {
      const bom = file.readUInt32LE(o + 8);
      if (bom === BOM) le = true;
      else if (file.readUInt32BE(o + 8) === BOM) le = false;
      else throw new PlexusBpfError(`${name}: bad byte-order magic at byte ${o}`);
      ifaces = [];
    }
    const u32 = (x: number): number => (le ? file.readUInt32LE(x) : file.readUInt32BE(x));
    const u16 = (x: number): number => (le ? file.readUInt16LE(x) : file.readUInt16BE(x));
    type = u32(o);
    const len = u32(o + 4);
    if (len < 12 || len % 4 || o + len > file.length)
      throw new PlexusBpfError(`${name}: bad block length ${len} at byte ${o}`);
    const body = o + 8;
    const end = o + len - 4;
    const options = (from: number): Map<number, Buffer> => {
      const out = new Map<number, Buffer>();
      for (let p = from; p + 4 <= end;) {
        const code = u16(p);
        const olen = u16(p + 2);
        if (code === 0) break;
        out.set(code, file.subarray(p + 4, p + 4 + olen));
        p += 4 + pad4(olen);
      }
      return out;
    };
    if (type === IDB) {
      const opts = options(body + 8);
      const r = opts.get(IF_TSRESOL)?.[0] ?? 6;
      ifaces.push({
        link: u16(body),
        snap: u32(body + 4),
        resolution: r & 0x80 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r),
      });
    } else if (type === EPB) {
      const ifId = u32(body);
      const iface = ifaces[ifId];
      if (!iface) throw new PlexusBpfError(`${name}: packet of undeclared interface ${ifId} at byte ${o}`);
      const ts = (BigInt(u32(body + 4)) << 32n) | BigInt(u32(body + 8));
      const cap = u32(body + 12);
      const orig = u32(body + 16);
      const data = file.subarray(body + 20, body + 20 + cap);
      const comment = options(body + 20 + pad4(cap)).get(OPT_COMMENT);
      if (iface.link === LINKTYPE_ETHERNET)
        yield {
          timeNs: (ts * 1_000_000_000n) / iface.resolution,
          data,
          origLen: orig,
          interfaceId: ifId,
          ...(comment ? { comment: comment.toString("utf8") } : {}),
        };
    } else if (type === SPB) {
      const iface = ifaces[0];
      if (!iface) throw new PlexusBpfError(`${name}: simple packet block before any interface at byte ${o}`);
      const orig = u32(body);
      const cap = Math.min(orig, iface.snap || orig, len - 16);
      if (iface.link === LINKTYPE_ETHERNET)
        yield { timeNs: 0n, data: file.subarray(body + 4, body + 4 + cap), origLen: orig, interfaceId: 0 };
    }
    o += len;
  }
}

function block(type: number, body: Buffer): Buffer {
  const len = 12 + body.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  b.writeUInt32LE(len, len - 4);
  return b;
}

function option(code: number, value: Buffer): Buffer {
  const b = Buffer.alloc(4 + pad4(value.length));
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(value.length, 2);
  value.copy(b, 4);
  return b;
}

const END_OF_OPTIONS = Buffer.alloc(4);

/** Writes a pcapng file: nanosecond timestamps, one interface per name given to add(). */
export class PcapngWriter {
  readonly #chunks: Buffer[] = [];
  readonly #ifaces = new Map<string, number>();

  constructor(application = "plexus") {
    const shb = Buffer.alloc(16);
    shb.writeUInt32LE(BOM, 0);
    shb.writeUInt16LE(1, 4);
    shb.writeBigInt64LE(-1n, 8);
    this.#chunks.push(block(SHB, Buffer.concat([shb, option(4, Buffer.from(application)), END_OF_OPTIONS])));
  }

  #iface(name: string): number {
    let id = this.#ifaces.get(name);
    if (id === undefined) {
      id = this.#ifaces.size;
      this.#ifaces.set(name, id);
      const head = Buffer.alloc(8);
      head.writeUInt16LE(LINKTYPE_ETHERNET, 0);
      head.writeUInt32LE(262144, 4);
      this.#chunks.push(
        block(
          IDB,
          Buffer.concat([
            head,
            option(IF_NAME, Buffer.from(name)),
            option(IF_TSRESOL, Buffer.from([9])),
            END_OF_OPTIONS,
          ]),
        ),
      );
    }
    return id;
  }

  add(p: { timeNs: bigint; data: Uint8Array; origLen?: number; iface?: string; comment?: string }): void {
    const id = this.#iface(p.iface ?? "plexus");
    const head = Buffer.alloc(20);
    head.writeUInt32LE(id, 0);
    head.writeUInt32LE(Number(p.timeNs >> 32n), 4);
    head.writeUInt32LE(Number(p.timeNs & 0xffff_ffffn), 8);
    head.writeUInt32LE(p.data.length, 12);
    head.writeUInt32LE(Math.max(p.origLen ?? p.data.length, p.data.length), 16);
    const data = Buffer.alloc(pad4(p.data.length));
    data.set(p.data);
    const opts = p.comment ? [option(OPT_COMMENT, Buffer.from(p.comment)), END_OF_OPTIONS] : [];
    this.#chunks.push(block(EPB, Buffer.concat([head, data, ...opts])));
  }

  bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}
