// One DDoS mitigator instance's control plane: its configuration (ddos_cfg), its prefixes (single
// entries from the `src` and `dst` tables, whole lists from the `list` table) merged into the
// tries the data plane looks up, and the read-only views of what was dropped and why (`sources`,
// `syn`, `stats`). Every change is checked whole before anything is written: a bad, contradictory
// or too large definition is refused with a message naming it, and nothing of it is applied.
import { possibleCpus } from "../../../src/bpf/sys/cpus.js";
import { NotFoundError, ValidationError } from "../../../src/core/errors.js";
import type { InstanceContext } from "../../../src/core/nf-api.js";
import {
  ACTION_CODES,
  Action,
  MAX_LISTS,
  MAX_PREFIXES,
  MAX_RULES,
  STAT_NAMES,
  decodeBucket,
  decodeSvc,
  encodeCfg,
  encodeListMeta,
  listKey,
  readCString,
  ruleKey,
  ruleValue,
  u32,
  type ActionName,
  type Side,
} from "./abi.js";
import { cfgRecord, ddosConfig, type DdosConfig } from "./config.js";
import { ListError, parsePrefixList } from "./lists.js";
import {
  PrefixError,
  formatAddr,
  parsePrefix,
  prefixKey,
  prefixText,
  textOf,
  type Family,
  type Prefix,
} from "./prefix.js";
import { Tries } from "./tries.js";

const SIDES: readonly Side[] = ["src", "dst"];
const FAMILIES: readonly Family[] = [4, 6];
const LIST_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$/;
/** Rows the `sources` and `syn` views show at most. */
const VIEW_ROWS = 1000;

interface Single {
  prefix: Prefix;
  /** Canonical text (what the `src` and `dst` tables show and record). */
  text: string;
  action: ActionName;
}

interface PrefixList {
  name: string;
  side: Side;
  action: ActionName;
  prefixes: Prefix[];
  ipv4: number;
  ipv6: number;
  loadedMs: number;
}

/** What the lists say about one prefix on one side. */
interface Listed {
  prefix: Prefix;
  action: ActionName;
  /** The first list holding it, and any others (rare: kept apart to spare an array per prefix). */
  list: string;
  more?: string[];
}

const listsOf = (l: Listed): string[] => (l.more ? [l.list, ...l.more] : [l.list]);

const isSide = (v: unknown): v is Side => v === "src" || v === "dst";
const isAction = (v: unknown): v is ActionName => v === "drop" || v === "allow";

function checkFields(entry: Record<string, unknown>, allowed: readonly string[], what: string): void {
  const unknown = Object.keys(entry).filter((k) => !allowed.includes(k));
  if (unknown.length)
    throw new ValidationError(
      `${what}: unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => `'${u}'`).join(", ")} (fields: ${allowed.join(", ")})`,
    );
}

export class Ddos {
  cfg: DdosConfig;
  /** Per side: prefix key -> single entry. */
  private singles: Record<Side, Map<string, Single>> = { src: new Map(), dst: new Map() };
  private readonly lists = new Map<string, PrefixList>();
  /** Per side: prefix key -> what the lists say about it. */
  private listed: Record<Side, Map<string, Listed>> = { src: new Map(), dst: new Map() };
  private started = false;
  private readonly tries: Tries;

  constructor(public ctx: InstanceContext) {
    this.cfg = ddosConfig(ctx.config);
    this.tries = new Tries((n) => this.ctx.map(n));
  }

  /**
   * Takes over the maps (fresh, or left by an earlier daemon) with what was collected before (the
   * hypervisor replays configured entries first) and puts the tries in force.
   */
  start(): void {
    for (const side of SIDES)
      for (const [k, v] of this.ruleMap(side).entries()) {
        const text = readCString(k);
        const action = readCString(v);
        try {
          const prefix = parsePrefix(text);
          if (isAction(action) && !this.singles[side].has(prefix.key))
            this.singles[side].set(prefix.key, { prefix, text: textOf(prefix), action });
        } catch {
          this.ruleMap(side).delete(k); // not ours: an older layout
        }
      }
    const metas = this.ctx.map("ddos_lists");
    for (const k of [...metas.keys()]) if (!this.lists.has(readCString(k))) metas.delete(k);
    this.applyConfig(this.ctx.config);
    this.started = true;
    for (const side of SIDES) this.rebuild(side);
  }

  applyConfig(raw: Readonly<Record<string, unknown>>): void {
    this.cfg = ddosConfig(raw);
    this.ctx.map("ddos_cfg").update(u32(0), encodeCfg(cfgRecord(this.cfg)));
  }

  destroy(): void {
    this.tries.close();
  }

  private ruleMap(side: Side) {
    return this.ctx.map(side === "src" ? "ddos_src_rules" : "ddos_dst_rules");
  }

  // ---- what is in force ----

  /** The action in force for a prefix: its single entry's, else its lists'. */
  private effective(side: Side, key: string): ActionName | undefined {
    return this.singles[side].get(key)?.action ?? this.listed[side].get(key)?.action;
  }

  /** Puts the prefixes in force on a side into its tries. */
  private rebuild(side: Side): void {
    const prefixes: Record<Family, Prefix[]> = { 4: [], 6: [] };
    const actions: Record<Family, number[]> = { 4: [], 6: [] };
    const singles = this.singles[side];
    for (const [key, l] of this.listed[side])
      if (!singles.has(key)) {
        prefixes[l.prefix.family].push(l.prefix);
        actions[l.prefix.family].push(ACTION_CODES[l.action]);
      }
    for (const s of singles.values()) {
      prefixes[s.prefix.family].push(s.prefix);
      actions[s.prefix.family].push(ACTION_CODES[s.action]);
    }
    for (const f of FAMILIES) this.tries.replace(side, f, prefixes[f], actions[f]);
  }

  /** How many prefixes of each family a side would hold. */
  private counts(listed: Map<string, Listed>, singles: Map<string, Single>): Record<Family, number> {
    const n: Record<Family, number> = { 4: 0, 6: 0 };
    for (const l of listed.values()) n[l.prefix.family]++;
    for (const [key, s] of singles) if (!listed.has(key)) n[s.prefix.family]++;
    return n;
  }

  private checkCapacity(side: Side, n: Record<Family, number>, what: string): void {
    for (const f of FAMILIES)
      if (n[f] > MAX_PREFIXES)
        throw new ValidationError(
          `${what}: the ${side} side would hold ${n[f].toLocaleString("en")} IPv${f} prefixes, more than the ${MAX_PREFIXES.toLocaleString("en")} it can (counting every list and single entry)`,
        );
  }

  /**
   * The lists' view of one side with list `removed` taken out and `added` put in, as a new map
   * (the one in force is not touched). Throws when `added` gives a prefix another action than a
   * list that has it already.
   */
  private index(side: Side, removed?: PrefixList, added?: PrefixList): Map<string, Listed> {
    const out = new Map(this.listed[side]);
    if (removed?.side === side)
      for (const p of removed.prefixes) {
        const have = out.get(p.key);
        if (!have) continue;
        const rest = listsOf(have).filter((n) => n !== removed.name);
        if (!rest.length) out.delete(p.key);
        else out.set(p.key, { prefix: have.prefix, action: have.action, list: rest[0], more: rest.slice(1) });
      }
    if (added?.side === side)
      for (const p of added.prefixes) {
        const have = out.get(p.key);
        if (!have) out.set(p.key, { prefix: p, action: added.action, list: added.name });
        else if (have.action === added.action)
          out.set(p.key, { ...have, more: [...(have.more ?? []), added.name] });
        else
          throw new ValidationError(
            `list ${added.name}: ${textOf(p)} is '${added.action}' here but '${have.action}' in list ${have.list}; a prefix has one action (take it out of one list, or override both with a single ${side} entry)`,
          );
      }
    return out;
  }

  // ---- single entries: the `src` and `dst` tables ----

  private parseEntryPrefix(side: Side, value: unknown, verb: string): Prefix {
    if (typeof value !== "string")
      throw new ValidationError(`${side} ${verb}: 'prefix' is required (e.g. 198.18.0.0/16 or fd00:1::/48)`);
    try {
      return parsePrefix(value);
    } catch (e) {
      if (e instanceof PrefixError) throw new ValidationError(`${side} ${value}: ${e.message}`);
      throw e;
    }
  }

  /** Adds or replaces a single entry. The entry is rewritten in canonical form (what is recorded). */
  addSingle(side: Side, entry: Record<string, unknown>): void {
    checkFields(entry, ["prefix", "action"], `${side} entry`);
    const prefix = this.parseEntryPrefix(side, entry.prefix, "entry");
    const text = textOf(prefix);
    const action = entry.action ?? "drop";
    if (!isAction(action))
      throw new ValidationError(`${side} ${text}: action '${String(action)}' is neither drop nor allow`);
    const singles = this.singles[side];
    if (!singles.has(prefix.key)) {
      if (singles.size >= MAX_RULES)
        throw new ValidationError(
          `${side} ${text}: the ${side} table holds ${MAX_RULES} single entries at most; load the rest as a list`,
        );
      const next = new Map(singles).set(prefix.key, { prefix, text, action });
      this.checkCapacity(side, this.counts(this.listed[side], next), `${side} ${text}`);
    }
    // Canonical text in the recorded entry, so that deleting "fd00:0::/16" finds "fd00::/16".
    entry.prefix = text;
    entry.action = action;
    const present = this.started && this.effective(side, prefix.key) !== undefined;
    this.ruleMap(side).update(ruleKey(text), ruleValue(action));
    singles.set(prefix.key, { prefix, text, action });
    if (this.started) this.tries.set(side, prefix.family, prefix, ACTION_CODES[action], present);
  }

  /**
   * Adds or replaces many single entries in one step (a bulk load: `plexus INST src load FILE`):
   * all are checked first, a bad one refused naming it and none applied; then the records go in
   * with one batched update and the side's tries are rebuilt and swapped once. Returns the entries
   * in canonical form, in order.
   */
  addSingles(side: Side, entries: Record<string, unknown>[]): Record<string, unknown>[] {
    const singles = this.singles[side];
    const batch = new Map<string, Single>();
    const out = entries.map((entry, i) => {
      const where = entries.length > 1 ? ` (entry ${i + 1})` : "";
      checkFields(entry, ["prefix", "action"], `${side} entry${where}`);
      const prefix = this.parseEntryPrefix(side, entry.prefix, `entry${where}`);
      const text = textOf(prefix);
      const action = entry.action ?? "drop";
      if (!isAction(action))
        throw new ValidationError(`${side} ${text}: action '${String(action)}' is neither drop nor allow`);
      batch.delete(prefix.key); // a later entry for the same prefix wins
      batch.set(prefix.key, { prefix, text, action });
      return { prefix: text, action };
    });
    let added = 0;
    for (const key of batch.keys()) if (!singles.has(key)) added++;
    if (singles.size + added > MAX_RULES)
      throw new ValidationError(
        `${side}: ${added.toLocaleString("en")} new single entries would make ${(singles.size + added).toLocaleString("en")}, more than the ${MAX_RULES.toLocaleString("en")} the ${side} table holds; load the rest as a list`,
      );
    const next = new Map(singles);
    for (const [key, s] of batch) next.set(key, s);
    this.checkCapacity(side, this.counts(this.listed[side], next), `${side} (${batch.size} entries)`);
    // Checked: now apply.
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    for (const s of batch.values()) {
      keys.push(ruleKey(s.text));
      values.push(ruleValue(s.action));
    }
    this.ruleMap(side).updateBatch(keys, values);
    this.singles[side] = next;
    if (this.started) this.rebuild(side);
    return out;
  }

  deleteSingle(side: Side, key: Record<string, unknown>): void {
    const prefix = this.parseEntryPrefix(side, key.prefix, "del");
    const text = textOf(prefix);
    if (!this.singles[side].has(prefix.key))
      throw new NotFoundError(`${side} ${text}: no such entry (lists are deleted with list del NAME)`);
    key.prefix = text;
    this.singles[side].delete(prefix.key);
    this.ruleMap(side).delete(ruleKey(text));
    if (!this.started) return;
    const after = this.listed[side].get(prefix.key)?.action;
    this.tries.set(side, prefix.family, prefix, after ? ACTION_CODES[after] : Action.NONE, true);
  }

  listSingles(side: Side): Record<string, unknown>[] {
    return [...this.singles[side].values()]
      .sort((a, b) => (a.text < b.text ? -1 : 1))
      .map((s) => {
        const listed = this.listed[side].get(s.prefix.key);
        return {
          prefix: s.text,
          action: s.action,
          packets: Number(this.started ? this.tries.hits(side, s.prefix.family, s.prefix) : 0n),
          ...(listed ? { overrides: listsOf(listed).join(",") } : {}),
        };
      });
  }

  // ---- lists: the `list` table ----

  /** Loads (or reloads) a whole list: checked whole, then swapped in at once. */
  addList(entry: Record<string, unknown>): void {
    checkFields(entry, ["name", "side", "action", "prefixes"], "list entry");
    const name = entry.name;
    if (typeof name !== "string" || !LIST_NAME.test(name))
      throw new ValidationError(
        `list ${JSON.stringify(name ?? "")}: a name is 1-31 letters, digits, '.', '_' or '-', starting with a letter or digit`,
      );
    const what = `list ${name}`;
    if (!isSide(entry.side))
      throw new ValidationError(`${what}: side must be src or dst (got ${JSON.stringify(entry.side)})`);
    const action = entry.action ?? "drop";
    if (!isAction(action))
      throw new ValidationError(`${what}: action '${String(action)}' is neither drop nor allow`);
    if (typeof entry.prefixes !== "string")
      throw new ValidationError(`${what}: 'prefixes' is required: the list's prefixes as text`);
    if (!this.lists.has(name) && this.lists.size >= MAX_LISTS)
      throw new ValidationError(`${what}: ${MAX_LISTS} lists at most; merge some`);
    let parsed;
    try {
      parsed = parsePrefixList(entry.prefixes, what, MAX_PREFIXES);
    } catch (e) {
      if (e instanceof ListError) throw new ValidationError(e.message);
      throw e;
    }
    const list: PrefixList = {
      name,
      side: entry.side,
      action,
      prefixes: parsed.v4.length ? (parsed.v6.length ? parsed.v4.concat(parsed.v6) : parsed.v4) : parsed.v6,
      ipv4: parsed.v4.length,
      ipv6: parsed.v6.length,
      loadedMs: Date.now(),
    };
    const old = this.lists.get(name);
    const affected = new Set<Side>([list.side, ...(old ? [old.side] : [])]);
    const next: Partial<Record<Side, Map<string, Listed>>> = {};
    for (const side of affected) {
      next[side] = this.index(side, old, list);
      this.checkCapacity(side, this.counts(next[side], this.singles[side]), what);
    }
    // Checked: now apply.
    this.lists.set(name, list);
    for (const side of affected) this.listed[side] = next[side] as Map<string, Listed>;
    this.ctx.map("ddos_lists").update(
      listKey(name),
      encodeListMeta({
        side: list.side,
        action,
        ipv4: list.ipv4,
        ipv6: list.ipv6,
        loadedNs: BigInt(list.loadedMs) * 1_000_000n,
      }),
    );
    if (this.started) for (const side of affected) this.rebuild(side);
  }

  deleteList(key: Record<string, unknown>): void {
    const name = String(key.name ?? "");
    const old = this.lists.get(name);
    if (!old)
      throw new NotFoundError(
        `list ${name}: no such list (lists: ${[...this.lists.keys()].sort().join(", ") || "none"})`,
      );
    this.listed[old.side] = this.index(old.side, old);
    this.lists.delete(name);
    this.ctx.map("ddos_lists").delete(listKey(name));
    if (this.started) this.rebuild(old.side);
  }

  /** The lists, with the packets their prefixes matched (a prefix in two lists counts for both). */
  listLists(): Record<string, unknown>[] {
    const hits = new Map<string, bigint>();
    for (const side of SIDES) {
      if (![...this.lists.values()].some((l) => l.side === side)) continue;
      for (const f of FAMILIES)
        for (const el of this.tries.elements(side, f)) {
          if (!el.packets) continue;
          const key = prefixKey(el.addr, el.len);
          const listed = this.listed[side].get(key);
          if (!listed || this.singles[side].has(key)) continue;
          for (const n of listsOf(listed)) hits.set(n, (hits.get(n) ?? 0n) + el.packets);
        }
    }
    return [...this.lists.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((l) => ({
        name: l.name,
        side: l.side,
        action: l.action,
        ipv4: l.ipv4,
        ipv6: l.ipv6,
        packets: Number(hits.get(l.name) ?? 0n),
        loaded: new Date(l.loadedMs).toISOString(),
      }));
  }

  // ---- views: what was dropped and why ----

  /** The sources the rate limit dropped packets from, most dropped first. */
  listSources(): Record<string, unknown>[] {
    const rows: { source: string; passed: bigint; dropped: bigint }[] = [];
    for (const [k, v] of this.ctx.map("ddos_rate").entriesBatched(1024)) {
      const b = decodeBucket(k, v);
      if (!b.dropped) continue;
      const bits = b.family === 4 ? this.cfg.ipv4RatePrefix : this.cfg.ipv6RatePrefix;
      const full = b.family === 4 ? 32 : 128;
      rows.push({
        source: bits === full ? formatAddr(b.family, b.addr) : prefixText(b.family, b.addr, bits),
        passed: b.passed,
        dropped: b.dropped,
      });
    }
    return rows
      .sort((a, b) => (a.dropped > b.dropped ? -1 : a.dropped < b.dropped ? 1 : 0))
      .slice(0, VIEW_ROWS)
      .map((r) => ({ source: r.source, passed: Number(r.passed), dropped: Number(r.dropped) }));
  }

  /** Destinations SYNs were seen for, most cookies first. */
  listSyn(): Record<string, unknown>[] {
    const now = process.hrtime.bigint(); // CLOCK_MONOTONIC, as bpf_ktime_get_ns()
    const rows = [...this.ctx.map("ddos_syn").entriesBatched(1024)].map(([k, v]) => decodeSvc(k, v));
    return rows
      .sort((a, b) => (a.cookies > b.cookies ? -1 : a.cookies < b.cookies ? 1 : 0))
      .slice(0, VIEW_ROWS)
      .map((s) => ({
        destination: formatAddr(s.family, s.addr),
        port: s.port,
        passed: Number(s.passed),
        cookies: Number(s.cookies),
        lastPassedSecondsAgo: Number((now > s.passedNs ? now - s.passedNs : 0n) / 1_000_000n) / 1000,
      }));
  }

  /** Every counter of ddos_stats, summed over the CPUs. */
  stats(): Record<string, bigint> {
    const m = this.ctx.map("ddos_stats");
    const out: Record<string, bigint> = {};
    STAT_NAMES.forEach((name, i) => {
      const vals = m.lookupPerCpu(u32(i)) ?? [];
      out[name] = vals.slice(0, possibleCpus()).reduce((s, b) => s + b.readBigUInt64LE(0), 0n);
    });
    return out;
  }

  listStats(): Record<string, unknown>[] {
    return Object.entries(this.stats()).map(([counter, packets]) => ({ counter, packets: Number(packets) }));
  }
}
