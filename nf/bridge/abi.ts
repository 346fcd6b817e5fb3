// The bridge data plane's records (br_abi.h), encoded and decoded for the control plane. Keep the
// two in step.

export const VLAN_MAX = 4094;
export const VLAN_IDS = 4096;
export const MAX_PORTS = 128;

export const Maps = {
  fdb: "br_fdb",
  config: "br_config",
  port: "br_port",
  floodList: "br_flood_list",
  floodXdp: "br_flood_xdp",
  ifports: "br_ifports",
} as const;

/** The devmap egress program of the XDP object. */
export const EGRESS_PROGRAM = "bridge_egress";

export const FdbFlags = { STATIC: 1 } as const;

export const PortMode = { DEFAULT: 0, ACCESS: 1, TRUNK: 2 } as const;

/** NF drop reasons (nf.yaml). */
export const BridgeDrop = {
  MALFORMED: 0,
  INVALID_SRC: 1,
  VLAN_INGRESS: 2,
  VLAN_EGRESS: 3,
  SAME_PORT: 4,
  LINK_LOCAL: 5,
  NO_DEST: 6,
} as const;

// ---- MAC addresses ----

const MAC_RE = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/i;

export const isMac = (s: unknown): s is string => typeof s === "string" && MAC_RE.test(s.trim());

export const macBytes = (s: string): Buffer =>
  Buffer.from(
    s
      .trim()
      .split(":")
      .map((x) => parseInt(x, 16)),
  );

export const macText = (b: Uint8Array): string =>
  [...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, "0")).join(":");

// ---- struct br_fdb_key / struct br_fdb_entry ----

export interface FdbKey {
  mac: string;
  vlan: number;
}

export interface FdbEntry {
  port: number;
  flags: number;
  /** CLOCK_MONOTONIC ns of the last frame (learned entries). */
  seen: bigint;
}

export function encodeFdbKey(k: FdbKey): Buffer {
  const b = Buffer.alloc(8);
  macBytes(k.mac).copy(b, 0);
  b.writeUInt16LE(k.vlan, 6);
  return b;
}

export const decodeFdbKey = (b: Buffer): FdbKey => ({ mac: macText(b), vlan: b.readUInt16LE(6) });

export function encodeFdbEntry(e: FdbEntry): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(e.port, 0);
  b.writeUInt32LE(e.flags, 4);
  b.writeBigUInt64LE(e.seen, 8);
  return b;
}

export const decodeFdbEntry = (b: Buffer): FdbEntry => ({
  port: b.readUInt32LE(0),
  flags: b.readUInt32LE(4),
  seen: b.readBigUInt64LE(8),
});

// ---- struct br_config ----

export function encodeConfig(agingNs: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(agingNs, 0);
  return b;
}

// ---- struct br_port ----

export const PORT_RECORD_SIZE = 520;

export interface PortRecord {
  mode: number;
  /** Untagged VLAN (0: none). */
  pvid: number;
  /** Member VLANs (pvid included). */
  vlans: ReadonlySet<number>;
}

export function encodePort(p: PortRecord): Buffer {
  const b = Buffer.alloc(PORT_RECORD_SIZE);
  b[0] = p.mode;
  b.writeUInt16LE(p.pvid, 2);
  for (const v of p.vlans) b[8 + (v >> 3)] |= 1 << (v & 7); // little-endian u64 words = a byte bitmap
  return b;
}

// ---- struct br_flood ----

export const FLOOD_RECORD_SIZE = 4 + MAX_PORTS;

export interface FloodList {
  /** Ports that send the VLAN untagged (listed first). */
  untagged: number[];
  tagged: number[];
}

/** Writes struct br_flood at `at` of `out` (a new buffer by default). */
export function encodeFlood(f: FloodList, out: Buffer = Buffer.alloc(FLOOD_RECORD_SIZE), at = 0): Buffer {
  out.writeUInt16LE(f.untagged.length, at);
  out.writeUInt16LE(f.untagged.length + f.tagged.length, at + 2);
  f.untagged.forEach((p, i) => (out[at + 4 + i] = p));
  f.tagged.forEach((p, i) => (out[at + 4 + f.untagged.length + i] = p));
  return out;
}

export function decodeFlood(b: Buffer): FloodList {
  const untagged = b.readUInt16LE(0);
  const ports = [...b.subarray(4, 4 + b.readUInt16LE(2))];
  return { untagged: ports.slice(0, untagged), tagged: ports.slice(untagged) };
}

// ---- struct br_ifport, struct bpf_devmap_val (XDP) ----

export function encodeIfport(port: number, slot: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(port, 0);
  b.writeUInt32LE(slot, 4);
  return b;
}

export const decodeIfport = (b: Buffer): { port: number; slot: number } => ({
  port: b.readUInt32LE(0),
  slot: b.readUInt32LE(4),
});

/** A devmap value: the interface, and the egress program by fd (by id when read back). */
export function encodeDevmapValue(ifindex: number, progFd: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(ifindex, 0);
  b.writeInt32LE(progFd, 4);
  return b;
}

export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
