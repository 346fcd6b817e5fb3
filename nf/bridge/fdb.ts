// The forwarding database from the control plane: the `fdb` table (show, add static, delete),
// aging (freeing entries the data plane already treats as unknown) and flushing entries that
// point at ports that went away or left the VLAN.
import { BatchCursor } from "../../src/bpf/map/map.js";
import { NotFoundError, ValidationError } from "../../src/core/errors.js";
import type { InstanceContext, PortInfo, TableHandler } from "../../src/core/nf-api.js";
import {
  FdbFlags,
  Maps,
  VLAN_MAX,
  decodeFdbEntry,
  decodeFdbKey,
  encodeConfig,
  encodeFdbEntry,
  encodeFdbKey,
  isMac,
  macBytes,
  u32,
  type FdbEntry,
  type FdbKey,
} from "./abi.js";
import type { BridgePort } from "./layout.js";
import { portRecord } from "./vlans.js";

export const DEFAULT_AGING_SECONDS = 300;
const FDB_BATCH = 4096;

/** The data plane's clock (bpf_ktime_get_coarse_ns is CLOCK_MONOTONIC_COARSE; same epoch). */
export const monotonicNs = (): bigint => process.hrtime.bigint();

export function agingNs(config: Readonly<Record<string, unknown>>): bigint {
  const s = config.agingTime;
  return BigInt(typeof s === "number" && s > 0 ? Math.floor(s) : DEFAULT_AGING_SECONDS) * 1_000_000_000n;
}

export function writeConfig(ctx: InstanceContext, config: Readonly<Record<string, unknown>>): void {
  ctx.map(Maps.config).update(u32(0), encodeConfig(agingNs(config)));
}

const isStale = (e: FdbEntry, now: bigint, aging: bigint): boolean =>
  (e.flags & FdbFlags.STATIC) === 0 && now - e.seen > aging;

/** Every entry, decoded (for the table; sweeps use scanFdb). */
function entries(ctx: InstanceContext): [FdbKey, FdbEntry][] {
  const out: [FdbKey, FdbEntry][] = [];
  for (const [k, v] of ctx.map(Maps.fdb).entriesBatched(FDB_BATCH))
    out.push([decodeFdbKey(k), decodeFdbEntry(v)]);
  return out;
}

/**
 * Deletes the entries `doomed` picks, reading the table in batches without decoding it: the aging
 * sweep reads the whole table every few seconds. `doomed` gets the raw key and value (valid only
 * during the call). Returns how many were deleted.
 */
function sweepFdb(ctx: InstanceContext, doomed: (key: Buffer, value: Buffer) => boolean): number {
  const map = ctx.map(Maps.fdb);
  const out = map.batchBuffers(FDB_BATCH);
  const cursor = new BatchCursor();
  const gone: Buffer[] = [];
  while (!cursor.done) {
    const c = map.lookupBatch(cursor, FDB_BATCH, out);
    for (let i = 0; i < c.count; i++) {
      const key = c.keys.subarray(i * map.keySize, (i + 1) * map.keySize);
      if (doomed(key, c.values.subarray(i * map.valueSize, (i + 1) * map.valueSize)))
        gone.push(Buffer.from(key));
    }
  }
  try {
    return map.deleteBatch(gone);
  } catch {
    // One vanished meanwhile (the batch stops there): the rest one by one.
    let n = 0;
    for (const k of gone) if (map.delete(k)) n++;
    return n;
  }
}

// Raw field access (struct br_fdb_key / struct br_fdb_entry).
const keyVlan = (k: Buffer) => k.readUInt16LE(6);
const entryPort = (v: Buffer) => v.readUInt32LE(0);
const entryStatic = (v: Buffer) => (v.readUInt32LE(4) & FdbFlags.STATIC) !== 0;
const entrySeen = (v: Buffer) => v.readBigUInt64LE(8);

/** Frees learned entries older than the aging time. Returns how many. */
export function ageFdb(ctx: InstanceContext, now = monotonicNs()): number {
  const aging = agingNs(ctx.config);
  return sweepFdb(ctx, (_, v) => !entryStatic(v) && now - entrySeen(v) > aging);
}

/**
 * Removes entries the ports no longer back: any entry on a port that is gone, and learned entries
 * on a disconnected port or in a VLAN the port left (as the Linux bridge flushes a port that goes
 * down). Static entries on existing ports stay: they are configuration.
 */
export function flushFdb(ctx: InstanceContext, ports: readonly BridgePort[]): number {
  const byIndex = new Map(ports.map((p) => [p.index, p]));
  return sweepFdb(ctx, (k, v) => {
    const p = byIndex.get(entryPort(v));
    return !p || (!entryStatic(v) && !(p.connected && p.record.vlans.has(keyVlan(k))));
  });
}

// ---- the table ----

function vlanOf(v: unknown): number {
  if (v === undefined || v === null || v === "") return 1;
  const n = typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > VLAN_MAX)
    throw new ValidationError(`vlan ${JSON.stringify(v)} is not a VLAN id (1..${VLAN_MAX})`);
  return n;
}

function macOf(v: unknown): string {
  if (!isMac(v))
    throw new ValidationError(`mac ${JSON.stringify(v)} is not a MAC address like 02:00:00:00:00:01`);
  const mac = v.trim().toLowerCase();
  const b = macBytes(mac);
  if (b[0] & 1)
    throw new ValidationError(`mac ${mac} is a group address; static entries are for unicast addresses`);
  if (b.every((x) => x === 0)) throw new ValidationError(`mac ${mac} is the all-zero address`);
  return mac;
}

function portOf(ctx: InstanceContext, v: unknown): PortInfo {
  if (v === undefined || v === null || v === "")
    throw new ValidationError(
      `a static entry needs a port (port=NAME; ports: ${
        ctx
          .ports()
          .map((p) => p.name)
          .join(", ") || "none"
      })`,
    );
  const p =
    ctx.port(String(v)) ??
    (typeof v === "number" || /^\d+$/.test(String(v)) ? ctx.port(Number(v)) : undefined);
  if (!p)
    throw new NotFoundError(
      `${ctx.name} has no port ${JSON.stringify(v)} (ports: ${
        ctx
          .ports()
          .map((x) => x.name)
          .join(", ") || "none"
      })`,
    );
  return p;
}

function rejectUnknown(entry: Record<string, unknown>, allowed: readonly string[]): void {
  const extra = Object.keys(entry).filter((k) => !allowed.includes(k));
  if (extra.length)
    throw new ValidationError(
      `unknown field${extra.length > 1 ? "s" : ""} ${extra.join(", ")} (fields: ${allowed.join(", ")})`,
    );
}

export const fdbTable: TableHandler = {
  /** Live entries (aged ones are left out: the data plane already ignores them), by VLAN and MAC. */
  list(ctx) {
    const now = monotonicNs();
    const aging = agingNs(ctx.config);
    return entries(ctx)
      .filter(([, e]) => !isStale(e, now, aging))
      .sort(([a], [b]) => a.vlan - b.vlan || a.mac.localeCompare(b.mac))
      .map(([k, e]) => {
        const isStatic = (e.flags & FdbFlags.STATIC) !== 0;
        return {
          mac: k.mac,
          vlan: k.vlan,
          port: ctx.port(e.port)?.name ?? e.port,
          type: isStatic ? "static" : "learned",
          ...(isStatic ? {} : { age: Math.max(0, Math.round(Number(now - e.seen) / 1e8) / 10) }),
        };
      });
  },

  /**
   * A static entry: mac, port (by name), vlan (default 1). It replaces a learned one. The entry is
   * completed in place (vlan filled in, mac lowercased, port by name) so that the hypervisor
   * records it with the same key a later delete gives.
   */
  add(ctx, entry) {
    rejectUnknown(entry, ["mac", "vlan", "port", "type"]);
    if (entry.type !== undefined && entry.type !== "static")
      throw new ValidationError(
        `type ${JSON.stringify(entry.type)}: only static entries can be added (learned ones are learned)`,
      );
    const mac = macOf(entry.mac);
    const vlan = vlanOf(entry.vlan);
    const port = portOf(ctx, entry.port);
    if (!portRecord(port.config).vlans.has(vlan))
      throw new ValidationError(
        `port ${port.name} is not a member of VLAN ${vlan}: give the entry the port's VLAN (vlan=N) or add ${vlan} to the port's vlan/vlans`,
      );
    ctx
      .map(Maps.fdb)
      .update(
        encodeFdbKey({ mac, vlan }),
        encodeFdbEntry({ port: port.index, flags: FdbFlags.STATIC, seen: 0n }),
      );
    Object.assign(entry, { mac, vlan, port: port.name });
    delete entry.type;
  },

  /** Deletes an entry, static or learned: mac, vlan (default 1). */
  delete(ctx, key) {
    rejectUnknown(key, ["mac", "vlan", "port", "type"]);
    const mac = macOf(key.mac);
    const vlan = vlanOf(key.vlan);
    if (!ctx.map(Maps.fdb).delete(encodeFdbKey({ mac, vlan })))
      throw new NotFoundError(`${ctx.name} fdb: no entry for ${mac} in VLAN ${vlan}`);
    Object.assign(key, { mac, vlan });
  },
};
