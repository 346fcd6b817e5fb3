// One NAT instance's control plane: its rules (validated, then switched in as a whole generation),
// masquerade addresses followed as interfaces change, the configuration in nat_cfg, its zone's
// shared tables and their garbage collection, and the `rules` and `sessions` tables.
import { networkInterfaces } from "node:os";
import { NotFoundError, ValidationError } from "../../../src/core/errors.js";
import type { InstanceContext } from "../../../src/core/nf-api.js";
import {
  CfgFlag,
  CfgOffset,
  KIND_NAMES,
  RULES_SIZE,
  RULE_SIZE,
  STATS,
  SessFlag,
  TCP_STATE_NAMES,
  encodeRule,
  encodeTimeouts,
  translated,
  u32,
} from "./abi.js";
import { type Addr, type Family, formatEndpoint, parseAddr } from "./addr.js";
import { natConfig, type NatConfig } from "./config.js";
import { RuleError, checkRuleSet, parseRule, ruleImage, ruleView, type Rule } from "./rules.js";
import {
  collectExpired,
  deleteMappings,
  joinZone,
  leaveZone,
  mappings,
  tablesOf,
  type Mapping,
} from "./zone.js";

const PROTO_NAMES: Record<number, string> = { 6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6" };
const STAT_NAMES = [
  "translated",
  "created",
  "prefixTranslated",
  "noFreePort",
  "tableFull",
  "pickedUp",
  "reclaimed",
  "icmpErrors",
];

/** The address masquerade uses on an interface (in the daemon's namespace), if it has one. */
export function interfaceAddress(ifname: string, family: Family): Addr | undefined {
  for (const a of networkInterfaces()[ifname] ?? []) {
    if (family === 4 && a.family === "IPv4") return parseAddr(a.address);
    if (family === 6 && a.family === "IPv6" && !/^fe80:/i.test(a.address)) return parseAddr(a.address);
  }
  return undefined;
}

export class Nat {
  cfg: NatConfig;
  private readonly rules = new Map<number, Rule>();
  /** Masquerade addresses the installed rules were built with ("ifname/family" -> text). */
  private masq = new Map<string, Addr | undefined>();
  private cfgMem: Buffer | undefined;
  private started = false;

  constructor(
    public ctx: InstanceContext,
    readonly addressOf: (ifname: string, family: Family) => Addr | undefined = interfaceAddress,
  ) {
    this.cfg = natConfig(ctx.config);
  }

  /** Identifies the instance across this process (its nat_cfg map is unique while it exists). */
  private get user(): number {
    return this.ctx.map("nat_cfg").id;
  }

  private mem(): Buffer {
    if (!this.cfgMem) {
      const m = this.ctx.map("nat_cfg").mmap();
      this.cfgMem = Buffer.from(m.buffer, m.byteOffset, m.byteLength);
    }
    return this.cfgMem;
  }

  /** Takes over the maps (fresh or left by an earlier daemon) and installs the collected rules. */
  start(): void {
    this.started = true;
    this.applyConfig(this.ctx.config);
    this.install([...this.rules.values()]);
  }

  applyConfig(raw: Readonly<Record<string, unknown>>): void {
    this.cfg = natConfig(raw);
    joinZone(
      this.user,
      this.cfg.zone,
      { sess: this.ctx.map("nat_sess_ref"), ct: this.ctx.map("nat_ct_ref") },
      this.cfg.maxConnections,
    );
    const b = this.mem();
    encodeTimeouts(this.cfg.timeouts, b, CfgOffset.ct);
    b.writeUInt32LE(this.cfg.enabled ? CfgFlag.ACTIVE : 0, CfgOffset.flags);
  }

  destroy(): void {
    leaveZone(this.user);
  }

  // ---- rules ----

  private masqKey = (r: Rule) => `${r.out}/${r.family}`;

  /** Writes `rules` (in id order) into the generation not in force, then switches to it. */
  private install(rules: Rule[]): void {
    if (!this.started) return;
    const sorted = [...rules].sort((a, b) => a.id - b.id);
    const masq = new Map<string, Addr | undefined>();
    const img = Buffer.alloc(RULES_SIZE);
    sorted.forEach((r, i) => {
      let addr: Addr | undefined;
      if (r.type === "masquerade") {
        const k = this.masqKey(r);
        if (!masq.has(k)) masq.set(k, this.addressOf(r.out as string, r.family));
        addr = masq.get(k);
      }
      encodeRule(ruleImage(r, addr), img, i * RULE_SIZE);
    });
    const b = this.mem();
    const next = (b.readUInt32LE(CfgOffset.gen) & 1) ^ 1;
    this.ctx.map("nat_rules").update(u32(next), img);
    b.writeUInt32LE(sorted.length, CfgOffset.count + 4 * next);
    b.writeUInt32LE(next, CfgOffset.gen);
    this.masq = masq;
  }

  private problem(e: unknown): never {
    if (e instanceof RuleError) throw new ValidationError(e.message);
    throw e;
  }

  /** Adds or replaces a rule; the new set is installed whole, or nothing changes. */
  addRule(entry: Record<string, unknown>): void {
    let rule: Rule;
    try {
      rule = parseRule(entry);
      const next = new Map(this.rules).set(rule.id, rule);
      checkRuleSet([...next.values()], rule.id);
    } catch (e) {
      this.problem(e);
    }
    const before = this.rules.get(rule.id);
    this.rules.set(rule.id, rule);
    try {
      this.install([...this.rules.values()]);
    } catch (e) {
      if (before) this.rules.set(rule.id, before);
      else this.rules.delete(rule.id);
      throw e;
    }
  }

  /**
   * Adds or replaces many rules at once (a bulk load): every one is checked, then the whole new set
   * is installed in one switch; one bad rule and nothing changes.
   */
  addRules(entries: readonly Record<string, unknown>[]): void {
    const next = new Map(this.rules);
    const given = new Set<number>();
    try {
      for (const e of entries) {
        const rule = parseRule(e);
        if (given.has(rule.id)) throw new RuleError(`rule ${rule.id}: given twice in one load`);
        given.add(rule.id);
        next.set(rule.id, rule);
      }
      checkRuleSet([...next.values()], [...given].pop());
    } catch (e) {
      this.problem(e);
    }
    this.install([...next.values()]);
    this.rules.clear();
    for (const [id, r] of next) this.rules.set(id, r);
  }

  deleteRule(key: Record<string, unknown>): void {
    const id = Number(key.id);
    if (!this.rules.has(id))
      throw new NotFoundError(
        `${this.ctx.name} has no rule ${String(key.id)} (rules: ${[...this.rules.keys()].sort((a, b) => a - b).join(", ") || "none"})`,
      );
    const next = new Map(this.rules);
    next.delete(id);
    this.install([...next.values()]);
    this.rules.delete(id);
  }

  listRules(): Record<string, unknown>[] {
    return [...this.rules.values()]
      .sort((a, b) => a.id - b.id)
      .map((r) => {
        const row = ruleView(r);
        if (r.type === "masquerade") {
          const a = this.masq.get(this.masqKey(r));
          row.address = a ? formatEndpoint(a.family, a.bytes) : "none (the interface has no address)";
        }
        return row;
      });
  }

  /** Follows masquerade interfaces' addresses and removes expired connections. */
  tick(): void {
    const changed = [...this.rules.values()].some(
      (r) =>
        r.type === "masquerade" &&
        !sameAddr(this.masq.get(this.masqKey(r)), this.addressOf(r.out as string, r.family)),
    );
    if (changed) {
      this.install([...this.rules.values()]);
      this.ctx.event("masquerade.address", "a masquerade interface's address changed; rules reinstalled");
    }
    collectExpired(this.user);
  }

  /** Runs garbage collection now (tests, `sessions del`). */
  collect(): number {
    return collectExpired(this.user, true);
  }

  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    const m = this.ctx.map("nat_stats");
    for (let i = 0; i < STATS && i < STAT_NAMES.length; i++) {
      const vals = m.lookupPerCpu(u32(i)) ?? [];
      out[STAT_NAMES[i]] = vals.reduce((s, v) => s + Number(Buffer.from(v).readBigUInt64LE(0)), 0);
    }
    return out;
  }

  // ---- sessions ----

  private sessionRow(m: Mapping, now: bigint): Record<string, unknown> {
    const o = m.orig;
    const fam = o.family as Family;
    const icmp = o.proto === 1 || o.proto === 58;
    const ep = (a: Buffer, p: number) => formatEndpoint(fam, a, icmp ? undefined : p);
    const x = translated(o, m.sess);
    const row: Record<string, unknown> = {
      proto: PROTO_NAMES[o.proto] ?? o.proto,
      src: ep(o.saddr, o.sport),
      dst: ep(o.daddr, o.dport),
    };
    if (icmp) row.id = o.sport;
    if (m.sess.flags & SessFlag.SRC) row.newSrc = ep(x.saddr, x.sport);
    if (m.sess.flags & SessFlag.DST) row.newDst = ep(x.daddr, x.dport);
    if (icmp && x.sport !== o.sport) row.newId = x.sport;
    row.type = KIND_NAMES[m.sess.kind] ?? m.sess.kind;
    row.rule = m.sess.rule;
    const ct = m.ct;
    const replied = ct ? (ct.flags & 2) !== 0 : false;
    row.state = !ct
      ? "none"
      : o.proto === 6
        ? (TCP_STATE_NAMES[ct.tcp] ?? String(ct.tcp))
        : replied
          ? "replied"
          : "unreplied";
    row.expires = ct ? Math.max(0, Number((ct.expires - now) / 1_000_000n) / 1000) : 0;
    return row;
  }

  /** The zone's live mappings, one row per connection. */
  listSessions(): Record<string, unknown>[] {
    const t = tablesOf(this.user);
    if (!t) return [];
    const now = process.hrtime.bigint();
    return mappings(t)
      .maps.filter((m) => m.ct && m.ct.expires >= now)
      .map((m) => this.sessionRow(m, now));
  }

  /** Deletes the mappings whose listed fields match every field of `filter` ({}: all). */
  deleteSessions(filter: Record<string, unknown>): number {
    const t = tablesOf(this.user);
    if (!t) return 0;
    const now = process.hrtime.bigint();
    const want = Object.entries(filter).filter(([, v]) => v !== undefined && v !== "");
    const matches = (row: Record<string, unknown>, k: string, v: unknown) => {
      const have = row[k];
      if (have === undefined) return false;
      const s = String(have);
      // An address matches its endpoints ("198.18.1.1" matches "198.18.1.1:40000").
      return s === String(v) || s.startsWith(`${String(v)}:`) || s.startsWith(`[${String(v)}]:`);
    };
    const dead = mappings(t).maps.filter((m) => {
      const row = this.sessionRow(m, now);
      return want.every(([k, v]) => matches(row, k, v));
    });
    deleteMappings(t, dead);
    return dead.length;
  }
}

function sameAddr(a: Addr | undefined, b: Addr | undefined): boolean {
  if (!a || !b) return a === b;
  return a.family === b.family && a.bytes.equals(b.bytes);
}
