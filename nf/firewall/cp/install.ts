// Writes a compiled rule set into the generation the data plane is not using and then switches
// to it: arrays through their memory mappings (no syscall per element), prefix and interface
// tables with batched updates, the switch with one update of fw_cfg. A packet sees either
// generation whole. The generation given up is only rewritten after a grace period, so packets
// that read the old switch value are done with it.
import type { BpfMap } from "../../../src/bpf/map/map.js";
import { possibleCpus } from "../../../src/bpf/sys/cpus.js";
import {
  ACTION_SIZE,
  BLOCK_SIZE,
  CFG_SIZE,
  CLASS_SIZE,
  COUNTER_SIZE,
  CfgOffset,
  Field,
  FIELDS,
  GEN_BLOCKS,
  GEN_CLASSES,
  GEN_SIZE,
  MAX_RULES,
  META_KEYS,
  U32_STRIDE,
  encodeGen,
  iifKey,
  pfx4Key,
  pfx6Key,
  u32,
} from "./abi.js";
import type { CompiledRules } from "./compile.js";

/** Time a packet may still be using the generation just switched away from. */
export const GRACE_MS = 20;

export type MapSource = (name: string) => BpfMap;

/** What one installed generation put in the hash maps (deleted before the generation is reused). */
export interface GenKeys {
  pfx4: Buffer[];
  pfx6: Buffer[];
  iif: Buffer[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Views of an mmapped array map. */
function views(m: BpfMap): { u8: Uint8Array; u32: Uint32Array; dv: DataView } {
  const u8 = m.mmap();
  return {
    u8,
    u32: new Uint32Array(u8.buffer, u8.byteOffset, Math.floor(u8.byteLength / 4)),
    dv: new DataView(u8.buffer, u8.byteOffset, u8.byteLength),
  };
}

export class Installer {
  private lastSwitch = 0;
  /** Hash-map keys of each generation, as far as this process knows them. */
  private readonly keys: (GenKeys | undefined)[] = [undefined, undefined];

  constructor(private readonly map: MapSource) {}

  /** The generation the data plane uses now. */
  activeGen(): number {
    return views(this.map("fw_cfg")).dv.getUint32(CfgOffset.gen, true) & 1;
  }

  /**
   * Learns the hash-map keys each generation holds (after a restart: this process did not write
   * them) so that the next install can clear them.
   */
  adopt(): void {
    const found: GenKeys[] = [
      { pfx4: [], pfx6: [], iif: [] },
      { pfx4: [], pfx6: [], iif: [] },
    ];
    for (const [k] of this.map("fw_pfx4").entriesBatched()) found[k[0] & 1].pfx4.push(k);
    for (const [k] of this.map("fw_pfx6").entriesBatched()) found[k[0] & 1].pfx6.push(k);
    for (const [k] of this.map("fw_iif").entriesBatched()) found[k.readUInt32LE(0) & 1].iif.push(k);
    this.keys[0] = found[0];
    this.keys[1] = found[1];
  }

  /**
   * Installs `c` with rule i counting into slot `counters[i]` (slots in `fresh` are zeroed first)
   * and switches to it. Returns the generation now in use.
   */
  async install(c: CompiledRules, counters: readonly number[], fresh: readonly number[]): Promise<number> {
    const wait = this.lastSwitch + GRACE_MS - performance.now();
    if (wait > 0) await sleep(wait);
    const gen = this.activeGen() ^ 1;
    this.clearKeys(gen);
    this.zeroCounters(fresh);
    this.write(gen, c, counters);
    this.switchTo(gen);
    return gen;
  }

  private clearKeys(gen: number): void {
    const k = this.keys[gen];
    if (!k) {
      // Never written by this process and not adopted: find them.
      this.adopt();
      return this.clearKeys(gen);
    }
    if (k.pfx4.length) this.map("fw_pfx4").deleteBatch(k.pfx4);
    if (k.pfx6.length) this.map("fw_pfx6").deleteBatch(k.pfx6);
    if (k.iif.length) this.map("fw_iif").deleteBatch(k.iif);
    this.keys[gen] = { pfx4: [], pfx6: [], iif: [] };
  }

  private zeroCounters(slots: readonly number[]): void {
    if (!slots.length) return;
    const m = this.map("fw_counters");
    const zero = Buffer.alloc(COUNTER_SIZE * possibleCpus());
    m.updateBatch(
      slots.map((s) => u32(s)),
      slots.map(() => zero),
    );
  }

  private write(gen: number, c: CompiledRules, counters: readonly number[]): void {
    const classBase = gen * GEN_CLASSES;
    const blockBase = gen * GEN_BLOCKS;
    const abs = (cls: number) => classBase + cls;
    const { pool } = c;

    // Blocks, then the classes that point into them.
    const blocks = views(this.map("fw_blocks"));
    blocks.u32.set(pool.blocks.subarray(0, pool.nblocks * (BLOCK_SIZE / 4)), (blockBase * BLOCK_SIZE) / 4);
    const classes = views(this.map("fw_classes"));
    pool.classes.forEach((rec, i) => {
      const off = (classBase + i) * CLASS_SIZE;
      classes.dv.setUint32(off, rec.lo, true);
      classes.dv.setUint32(off + 4, rec.hi, true);
      classes.dv.setUint32(off + 8, blockBase + rec.base, true);
      classes.dv.setUint32(off + 12, 0, true);
    });

    // Direct-indexed field tables (u32 values, 8 bytes apart in memory).
    const fill = (name: string, table: Uint32Array, size: number, field: number) => {
      if (!(c.used & (1 << field))) return;
      const v = views(this.map(name)).u32;
      const stride = U32_STRIDE / 4;
      for (let i = 0, at = gen * size * stride; i < size; i++, at += stride) v[at] = classBase + table[i];
    };
    fill("fw_meta", c.meta, META_KEYS, Field.META);
    fill("fw_sport", c.sport, 65536, Field.SPORT);
    fill("fw_dport", c.dport, 65536, Field.DPORT);
    fill("fw_flags", c.tcpFlags, 256, Field.FLAGS);

    // Actions.
    const actions = views(this.map("fw_actions"));
    c.actions.forEach((a, i) => {
      const off = (gen * MAX_RULES + i) * ACTION_SIZE;
      actions.dv.setUint8(off, a.action);
      actions.dv.setUint8(off + 1, a.reject);
      actions.dv.setUint16(off + 2, 0, true);
      actions.dv.setUint32(off + 4, counters[i], true);
    });

    // Hash tables: prefixes and interfaces.
    const keys: GenKeys = { pfx4: [], pfx6: [], iif: [] };
    const pk4: Buffer[] = [];
    const pv4: Buffer[] = [];
    const pk6: Buffer[] = [];
    const pv6: Buffer[] = [];
    c.pfx.forEach((t, field) => {
      for (const e of t.v4.entries) {
        pk4.push(pfx4Key(gen, field, e.len, e.addr));
        pv4.push(u32(abs(e.cls)));
      }
      for (const e of t.v6.entries) {
        pk6.push(pfx6Key(gen, field, e.len, e.addr));
        pv6.push(u32(abs(e.cls)));
      }
    });
    if (pk4.length) this.map("fw_pfx4").updateBatch(pk4, pv4);
    if (pk6.length) this.map("fw_pfx6").updateBatch(pk6, pv6);
    keys.pfx4 = pk4;
    keys.pfx6 = pk6;
    const ik: Buffer[] = [];
    const iv: Buffer[] = [];
    for (const [ifindex, cls] of c.iif.entries) {
      ik.push(iifKey(gen, ifindex));
      iv.push(u32(abs(cls)));
    }
    if (ik.length) this.map("fw_iif").updateBatch(ik, iv);
    keys.iif = ik;
    this.keys[gen] = keys;

    // The generation record, last: it says which fields to look at.
    const dflt = Array.from({ length: FIELDS }, () => abs(0));
    dflt[Field.SRC] = abs(c.pfx[0].v4.dflt);
    dflt[Field.DST] = abs(c.pfx[1].v4.dflt);
    dflt[Field.IIF] = abs(c.iif.dflt);
    const rec = encodeGen({
      used: c.used,
      nrules: c.rules.length,
      flags: c.flags,
      all: abs(0),
      dflt,
      dflt6: [abs(c.pfx[0].v6.dflt), abs(c.pfx[1].v6.dflt)],
      lens: c.pfx.map((t) => ({ v4: t.v4.lens, v6: t.v6.lens })),
    });
    views(this.map("fw_gens")).u8.set(rec, gen * GEN_SIZE);
  }

  /** Makes `gen` the generation in use (a syscall: everything written before is visible). */
  private switchTo(gen: number): void {
    const m = this.map("fw_cfg");
    const cur = Buffer.from(views(m).u8.subarray(0, CFG_SIZE));
    cur.writeUInt32LE(gen, CfgOffset.gen);
    m.update(u32(0), cur);
    this.lastSwitch = performance.now();
  }
}
