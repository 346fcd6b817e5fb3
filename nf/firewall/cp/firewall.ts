// One firewall instance's control plane: its rules (single rules from the `rules` table and whole
// rule sets from the `ruleset` table, merged by id), their compilation and atomic installation,
// per-rule counters that survive rule-set changes and daemon restarts, the configuration in
// fw_cfg, its conntrack zone, and the `conntrack` table.
import { parse as parseYaml } from "yaml";
import { native } from "../../../src/bpf/sys/native.js";
import { possibleCpus } from "../../../src/bpf/sys/cpus.js";
import { NotFoundError, ValidationError } from "../../../src/core/errors.js";
import type { InstanceContext } from "../../../src/core/nf-api.js";
import { COUNTER_SIZE, MAX_RULES, decodeRuleMeta, ruleMeta, rulesetKey, rulesetMeta, u32 } from "./abi.js";
import { CompileError, compileRules, type CompiledRules } from "./compile.js";
import { firewallConfig, writeConfig, type FirewallConfig } from "./config.js";
import { collectExpired, deleteConnections, joinZone, leaveZone, listConnections } from "./conntrack.js";
import { Installer } from "./install.js";
import { RuleError, parseRule, ruleHash, ruleView, type Rule } from "./rules.js";

/** Rules one rule set may hold (the whole firewall holds MAX_RULES). */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$/;

interface RuleSet {
  rules: Rule[];
  loadedNs: bigint;
}

/** Where an effective rule comes from. */
type Origin = { set: string } | { single: true };

const problem = (e: unknown): never => {
  if (e instanceof RuleError || e instanceof CompileError) throw new ValidationError(e.message);
  throw e;
};

/** Runs changes one after another (table changes, timers). */
class Queue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export class Firewall {
  cfg: FirewallConfig;
  private readonly rulesets = new Map<string, RuleSet>();
  private readonly singles = new Map<number, Rule>();
  /** Counter slot and definition hash per rule id (mirrored in fw_rule_ids). */
  private readonly slots = new Map<number, { slot: number; hash: number }>();
  /** Counter slots not in use, oldest freed first (reuse comes late: in-flight packets are done). */
  private free: number[] = [];
  private freeHead = 0;
  private compiled: CompiledRules | undefined;
  private origins = new Map<number, Origin>();
  private started = false;
  /** The interface indexes the installed rules were compiled with. */
  private ifaces = "";
  private readonly installer: Installer;
  private readonly queue = new Queue();

  constructor(public ctx: InstanceContext) {
    this.cfg = firewallConfig(ctx.config);
    this.installer = new Installer((n) => this.ctx.map(n));
  }

  /** Identifies the instance across this process (its fw_cfg map, unique while it exists). */
  private get user(): number {
    return this.ctx.map("fw_cfg").id;
  }

  /** Takes over the maps (fresh or left by an earlier daemon) and installs the collected rules. */
  start(): Promise<void> {
    return this.queue.run(async () => {
      this.slots.clear();
      for (const [k, v] of this.ctx.map("fw_rule_ids").entriesBatched()) {
        const m = decodeRuleMeta(v);
        if (m.counter >= 1 && m.counter <= MAX_RULES)
          this.slots.set(k.readUInt32LE(0), { slot: m.counter, hash: m.hash });
      }
      const taken = new Set([...this.slots.values()].map((s) => s.slot));
      this.free = [];
      this.freeHead = 0;
      for (let s = 1; s <= MAX_RULES; s++) if (!taken.has(s)) this.free.push(s);
      this.installer.adopt();
      this.applyConfig(this.ctx.config);
      this.started = true;
      try {
        await this.commit(this.rulesets, this.singles, false);
      } catch (e) {
        this.ctx.log.error({ err: e }, "the stored rules do not compile; the data plane keeps what it had");
        this.ctx.event("rules.failed", `the stored rules were not installed: ${(e as Error).message}`);
      }
    });
  }

  applyConfig(raw: Readonly<Record<string, unknown>>): void {
    this.cfg = firewallConfig(raw);
    writeConfig(this.ctx.map("fw_cfg").mmap(), this.cfg);
    joinZone(this.user, this.cfg.zone, this.ctx.map("fw_ct_ref"));
  }

  destroy(): void {
    leaveZone(this.user);
  }

  // ---- rules ----

  /** The rules in force: every rule set's, then single rules (replacing rule-set rules by id). */
  private effective(
    sets: Map<string, RuleSet>,
    singles: Map<number, Rule>,
  ): { rules: Rule[]; origins: Map<number, Origin> } {
    const byId = new Map<number, Rule>();
    const origins = new Map<number, Origin>();
    for (const [name, s] of sets)
      for (const r of s.rules) {
        const o = origins.get(r.id);
        if (o && "set" in o)
          throw new RuleError(
            `rule set ${name}, rule ${r.id}: rule set ${o.set} has a rule ${r.id} too (rule ids are one order for all rule sets)`,
          );
        byId.set(r.id, r);
        origins.set(r.id, { set: name });
      }
    for (const [id, r] of singles) {
      byId.set(id, r);
      origins.set(id, { single: true });
    }
    return { rules: [...byId.values()], origins };
  }

  private ifindex(name: string): number | undefined {
    return native().ifNameToIndex(name) || undefined;
  }

  /**
   * Compiles and installs the rules of `sets` and `singles`, and makes them the current ones.
   * Nothing changes when they do not compile. Before start() it only checks and keeps them.
   */
  private async commit(
    sets: Map<string, RuleSet>,
    singles: Map<number, Rule>,
    strict: boolean,
  ): Promise<void> {
    let eff: ReturnType<Firewall["effective"]>;
    let c: CompiledRules;
    try {
      eff = this.effective(sets, singles);
      c = compileRules(eff.rules, { ifindex: (n) => this.ifindex(n) });
    } catch (e) {
      return problem(e);
    }
    if (strict && c.missingInterfaces.length) {
      const name = c.missingInterfaces[0];
      const r = c.rules.find((x) => x.iif?.names.includes(name));
      throw new ValidationError(
        `rule ${r?.id}: iif ${name}: no such interface in the daemon's network namespace (check ip link)`,
      );
    }
    const adopt = () => {
      if (sets !== this.rulesets) {
        this.rulesets.clear();
        for (const [k, v] of sets) this.rulesets.set(k, v);
      }
      if (singles !== this.singles) {
        this.singles.clear();
        for (const [k, v] of singles) this.singles.set(k, v);
      }
    };
    if (!this.started) return adopt();

    // Counter slots: a rule keeps its slot while its definition stays; new ones get zeroed slots.
    const keep = new Map<number, { slot: number; hash: number }>();
    const fresh: number[] = [];
    const headBefore = this.freeHead;
    const counters = c.rules.map((r) => {
      const h = ruleHash(r);
      const had = this.slots.get(r.id);
      if (had && had.hash === h) {
        keep.set(r.id, had);
        return had.slot;
      }
      const slot = this.freeHead < this.free.length ? this.free[this.freeHead++] : undefined;
      if (slot === undefined) {
        this.freeHead = headBefore;
        throw new ValidationError("no counter slot left");
      }
      fresh.push(slot);
      keep.set(r.id, { slot, hash: h });
      return slot;
    });
    if (!this.compiled) fresh.push(0); // the default policy's counter starts at zero too
    try {
      await this.installer.install(c, counters, fresh);
    } catch (e) {
      this.freeHead = headBefore; // the slots taken above stay free
      throw e;
    }

    // Bookkeeping for restarts, then the slots given up.
    const ids = this.ctx.map("fw_rule_ids");
    const gone = [...this.slots.keys()].filter((id) => !keep.has(id));
    if (gone.length) ids.deleteBatch(gone.map((id) => u32(id)));
    const changed = [...keep].filter(([id, s]) => this.slots.get(id) !== s);
    if (changed.length)
      ids.updateBatch(
        changed.map(([id]) => u32(id)),
        changed.map(([, s]) => ruleMeta(s.slot, s.hash)),
      );
    if (this.freeHead > 4096) {
      this.free = this.free.slice(this.freeHead);
      this.freeHead = 0;
    }
    for (const [id, s] of this.slots) if (keep.get(id)?.slot !== s.slot) this.free.push(s.slot);
    this.slots.clear();
    for (const [id, s] of keep) this.slots.set(id, s);
    adopt();
    this.compiled = c;
    this.origins = eff.origins;
    this.ifaces = this.interfaceText(c);
    for (const name of c.missingInterfaces)
      this.ctx.event(
        "rules.iif",
        `interface ${name} does not exist: rules naming it match nothing on it until it does`,
      );
  }

  private interfaceText(c: CompiledRules): string {
    const names = [...new Set(c.rules.flatMap((r) => r.iif?.names ?? []))].sort();
    return names.map((n) => `${n}=${this.ifindex(n) ?? 0}`).join(",");
  }

  addRule(entry: Record<string, unknown>): Promise<void> {
    return this.addRules([entry]);
  }

  /** Adds or replaces single rules, all switched in at once (or none, on the first problem). */
  addRules(entries: readonly Record<string, unknown>[]): Promise<void> {
    return this.queue.run(async () => {
      const singles = new Map(this.singles);
      const seen = new Set<number>();
      for (const [i, entry] of entries.entries()) {
        let rule: Rule;
        try {
          const where = entry.id === undefined ? `rule #${i + 1} of ${entries.length}` : `rule ${entry.id}`;
          rule = parseRule(entry, where);
        } catch (e) {
          return problem(e);
        }
        if (seen.has(rule.id)) throw new ValidationError(`rule ${rule.id} is given twice`);
        seen.add(rule.id);
        singles.set(rule.id, rule);
      }
      await this.commit(this.rulesets, singles, true);
    });
  }

  deleteRule(key: Record<string, unknown>): Promise<void> {
    return this.deleteRules([key]);
  }

  /** Deletes single rules, all in one switch (each delete recompiles the whole rule set). */
  deleteRules(keys: readonly Record<string, unknown>[]): Promise<void> {
    return this.queue.run(async () => {
      const singles = new Map(this.singles);
      for (const key of keys) {
        const id = Number(key.id);
        if (!Number.isInteger(id) || id < 1)
          throw new ValidationError(`say which rule: id (got ${JSON.stringify(key.id)})`);
        if (!singles.has(id)) {
          const set = [...this.rulesets].find(([, s]) => s.rules.some((r) => r.id === id));
          if (set)
            throw new ValidationError(
              `rule ${id} belongs to rule set ${set[0]}: load the rule set again without it, or replace it with plexus ${this.ctx.name} rules add ${id} ...`,
            );
          throw new NotFoundError(`${this.ctx.name} has no rule ${id}`);
        }
        singles.delete(id);
      }
      await this.commit(this.rulesets, singles, false);
    });
  }

  /** Parses a rule set's rules: an array of rule objects, or YAML / JSON text of one. */
  static parseRuleSet(name: string, raw: unknown): Rule[] {
    let list = raw;
    if (typeof raw === "string") {
      try {
        list = parseYaml(raw);
      } catch (e) {
        throw new RuleError(
          `rule set ${name}: not valid YAML or JSON: ${(e as Error).message.split("\n")[0]}`,
        );
      }
    }
    if (list && typeof list === "object" && !Array.isArray(list) && "rules" in list)
      list = (list as { rules: unknown }).rules; // a file with a top-level `rules:` key
    if (!Array.isArray(list)) throw new RuleError(`rule set ${name}: rules must be a list of rules`);
    if (list.length > MAX_RULES)
      throw new RuleError(
        `rule set ${name}: ${list.length.toLocaleString("en")} rules, at most ${MAX_RULES.toLocaleString("en")}`,
      );
    const withIds = list.filter(
      (e) => e && typeof e === "object" && (e as Record<string, unknown>).id !== undefined,
    ).length;
    if (withIds && withIds !== list.length)
      throw new RuleError(
        `rule set ${name}: give every rule an id, or none (they are then numbered 10, 20, 30...)`,
      );
    return list.map((e, i) => {
      const where = `rule set ${name}, rule #${i + 1}`;
      if (!e || typeof e !== "object" || Array.isArray(e)) throw new RuleError(`${where}: not a rule object`);
      return parseRule(e as Record<string, unknown>, where, withIds ? undefined : (i + 1) * 10);
    });
  }

  addRuleSet(entry: Record<string, unknown>): Promise<void> {
    return this.addRuleSets([entry]);
  }

  /** Loads (or replaces) rule sets by name, all switched in at once. */
  addRuleSets(entries: readonly Record<string, unknown>[]): Promise<void> {
    return this.queue.run(async () => {
      const sets = new Map(this.rulesets);
      const loaded: [string, number][] = [];
      for (const entry of entries) {
        const name = typeof entry.name === "string" ? entry.name.trim() : "";
        if (!NAME_RE.test(name))
          throw new ValidationError(
            `a rule set needs a name of letters, digits, '.', '_' and '-' (at most 31), got ${JSON.stringify(entry.name)}`,
          );
        const unknown = Object.keys(entry).filter((k) => k !== "name" && k !== "rules");
        if (unknown.length)
          throw new ValidationError(
            `rule set ${name}: unknown field ${unknown.join(", ")} (fields: name, rules)`,
          );
        let rules: Rule[];
        try {
          rules = Firewall.parseRuleSet(name, entry.rules ?? []);
        } catch (e) {
          return problem(e);
        }
        sets.set(name, { rules, loadedNs: process.hrtime.bigint() });
        loaded.push([name, rules.length]);
      }
      await this.commit(sets, this.singles, true);
      if (this.started)
        for (const [name, count] of loaded)
          this.ctx.map("fw_rulesets").update(rulesetKey(name), rulesetMeta(count, process.hrtime.bigint()));
    });
  }

  deleteRuleSet(key: Record<string, unknown>): Promise<void> {
    return this.queue.run(async () => {
      const name = String(key.name ?? "");
      if (!this.rulesets.has(name))
        throw new NotFoundError(
          `${this.ctx.name} has no rule set '${name}' (rule sets: ${[...this.rulesets.keys()].join(", ") || "none"})`,
        );
      const sets = new Map(this.rulesets);
      sets.delete(name);
      await this.commit(sets, this.singles, false);
      this.ctx.map("fw_rulesets").delete(rulesetKey(name));
    });
  }

  // ---- views ----

  /** Packets and bytes per counter slot, summed over CPUs. */
  counters(): Map<number, { packets: number; bytes: number }> {
    const out = new Map<number, { packets: number; bytes: number }>();
    const cpus = possibleCpus();
    for (const [k, v] of this.ctx.map("fw_counters").entriesBatched(4096)) {
      let packets = 0n;
      let bytes = 0n;
      for (let c = 0; c < cpus; c++) {
        packets += v.readBigUInt64LE(c * COUNTER_SIZE);
        bytes += v.readBigUInt64LE(c * COUNTER_SIZE + 8);
      }
      if (packets) out.set(k.readUInt32LE(0), { packets: Number(packets), bytes: Number(bytes) });
    }
    return out;
  }

  listRules(): Record<string, unknown>[] {
    const counts = this.counters();
    const rows: Record<string, unknown>[] = (this.compiled?.rules ?? []).map((r) => {
      const o = this.origins.get(r.id);
      const n = counts.get(this.slots.get(r.id)?.slot ?? -1);
      return {
        ...ruleView(r),
        packets: n?.packets ?? 0,
        bytes: n?.bytes ?? 0,
        from: o && "set" in o ? `ruleset ${o.set}` : "rules",
      };
    });
    const p = counts.get(0);
    rows.push({
      id: "policy",
      action: this.cfg.policy,
      packets: p?.packets ?? 0,
      bytes: p?.bytes ?? 0,
      from: "config",
    });
    return rows;
  }

  listRuleSets(): Record<string, unknown>[] {
    return [...this.rulesets].map(([name, s]) => ({ name, count: s.rules.length }));
  }

  listConnections(): Record<string, unknown>[] {
    return listConnections(this.user);
  }

  deleteConnections(filter: Record<string, unknown>): number {
    const n = deleteConnections(this.user, filter);
    this.ctx.event("conntrack.deleted", `deleted ${n} connection${n === 1 ? "" : "s"}`, { filter, count: n });
    return n;
  }

  // ---- periodic work ----

  /** Removes expired connections; recompiles when an interface rules name came or went. */
  tick(): Promise<void> {
    return this.queue.run(async () => {
      collectExpired(this.user);
      const c = this.compiled;
      if (c && this.ifaces && this.interfaceText(c) !== this.ifaces)
        await this.commit(this.rulesets, this.singles, false);
    });
  }
}
