// NAT rules as users write them (`rules add 10 type=snat src=198.18.1.0/24 to=198.18.2.254`) and as
// the data plane reads them (struct nat_rule). Every problem names the rule and the field.
import { type RuleImage, Kind, MAX_RULES } from "./abi.js";
import { type Addr, type Family, type Prefix, maskOf, parseAddr, parsePrefix, formatAddr } from "./addr.js";

export class RuleError extends Error {
  override name = "RuleError";
}

export type RuleType = "snat" | "masquerade" | "dnat" | "npt";
export const RULE_TYPES: readonly RuleType[] = ["snat", "masquerade", "dnat", "npt"];

export type PortRange = [number, number];

/** Where a source or destination is translated to: an address range and/or a port range. */
export interface Target {
  addr?: Addr;
  /** Addresses from `addr` on (1: one address). */
  count: number;
  ports?: PortRange;
}

export interface Rule {
  id: number;
  type: RuleType;
  family: Family;
  /** IP protocol number; undefined: TCP, UDP and ICMP echo. */
  proto?: number;
  src?: Prefix;
  dst?: Prefix;
  sport?: PortRange;
  dport?: PortRange;
  /** snat, dnat. */
  to?: Target;
  /** npt: the outside prefix (src is the inside one). */
  toPrefix?: Prefix;
  /** masquerade: the interface whose address is used. */
  out?: string;
  /** The entry as given (for listing). */
  entry: Record<string, unknown>;
}

const FIELDS = new Set([
  "id",
  "type",
  "src",
  "dst",
  "proto",
  "sport",
  "dport",
  "to",
  "out",
  "ports",
  "family",
  "comment",
]);
const PROTOS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };
const IFNAME_RE = /^[A-Za-z0-9_.:@-]{1,15}$/;

function portRange(text: string, what: string, min = 0): PortRange {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
  if (!m) throw new Error(`${what} '${text}' is not a port or a range LO-HI`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo < min || hi > 65535) throw new Error(`${what} '${text}': ports are ${min}..65535`);
  if (lo > hi) throw new Error(`${what} '${text}': the range is empty (${lo} > ${hi})`);
  return [lo, hi];
}

function addrRange(text: string): { addr: Addr; count: number } {
  const dash = text.indexOf("-");
  const lo = parseAddr(dash < 0 ? text : text.slice(0, dash));
  if (!lo) throw new Error(`'${text}' is not an address or a range ADDR-ADDR`);
  if (dash < 0) return { addr: lo, count: 1 };
  const hi = parseAddr(text.slice(dash + 1));
  if (!hi || hi.family !== lo.family)
    throw new Error(`'${text}': both ends of a range must be addresses of one family`);
  const low = lo.family === 4 ? 0 : 12;
  if (lo.family === 6 && Buffer.compare(lo.bytes.subarray(0, 12), hi.bytes.subarray(0, 12)) !== 0)
    throw new Error(`'${text}': an IPv6 range may only vary in its last 32 bits`);
  const a = lo.bytes.readUInt32BE(low);
  const b = hi.bytes.readUInt32BE(low);
  if (a > b) throw new Error(`'${text}': the range is empty (the first address is after the last)`);
  return { addr: lo, count: b - a + 1 };
}

/** "ADDR[-ADDR][:PORT[-PORT]]", "[V6[-V6]]:PORT", "V6[-V6]", ":PORT[-PORT]". */
export function parseTarget(text: string): Target {
  const s = text.trim();
  let addrText = s;
  let portText: string | undefined;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) throw new Error(`'${s}': no closing ']'`);
    addrText = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest && !rest.startsWith(":")) throw new Error(`'${s}': expected ':PORT' after ']'`);
    portText = rest ? rest.slice(1) : undefined;
  } else if (s.startsWith(":")) {
    addrText = "";
    portText = s.slice(1);
  } else if ((s.match(/:/g) ?? []).length === 1) {
    [addrText, portText] = s.split(":");
  }
  const t: Target = { count: 1 };
  if (addrText) Object.assign(t, addrRange(addrText));
  if (portText !== undefined) t.ports = portRange(portText, "port", 1);
  if (!t.addr && !t.ports) throw new Error(`'${s}' names neither an address nor a port`);
  return t;
}

const text = (v: unknown): string | undefined =>
  v === undefined || v === null || v === "" ? undefined : typeof v === "string" ? v : String(v);

/** One's complement sum of a 16-byte address's words. */
function sum16(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < 16; i += 2) s += b.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Validates a table entry into a rule; throws a RuleError that names the rule and the field. */
export function parseRule(entry: Record<string, unknown>): Rule {
  const idv = entry.id;
  const id = typeof idv === "number" ? idv : typeof idv === "string" && /^\d+$/.test(idv) ? Number(idv) : NaN;
  if (!Number.isInteger(id) || id < 1 || id > 0xffffffff)
    throw new RuleError(`rule ${JSON.stringify(idv ?? null)}: id must be an integer 1..4294967295`);
  const fail = (field: string, why: string): never => {
    throw new RuleError(`rule ${id}: ${field}: ${why}`);
  };
  const at = <T>(field: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof RuleError) throw e;
      return fail(field, (e as Error).message);
    }
  };
  for (const k of Object.keys(entry))
    if (!FIELDS.has(k)) fail(k, `unknown field (fields: ${[...FIELDS].join(", ")})`);
  const type = text(entry.type) as RuleType | undefined;
  if (!type || !RULE_TYPES.includes(type))
    fail("type", `must be one of ${RULE_TYPES.join(", ")} (got ${JSON.stringify(entry.type ?? null)})`);
  const rule: Rule = { id, type: type as RuleType, family: 4, entry: { ...entry, id } };

  const families: [string, Family][] = [];
  const fam = text(entry.family);
  if (fam !== undefined) {
    if (fam !== "ipv4" && fam !== "ipv6") fail("family", `must be ipv4 or ipv6 (got '${fam}')`);
    families.push(["family", fam === "ipv4" ? 4 : 6]);
  }
  const src = text(entry.src);
  const dst = text(entry.dst);
  if (src !== undefined) families.push(["src", (rule.src = at("src", () => parsePrefix(src))).family]);
  if (dst !== undefined) families.push(["dst", (rule.dst = at("dst", () => parsePrefix(dst))).family]);
  const to = text(entry.to);
  if (to !== undefined) {
    if (rule.type === "npt") families.push(["to", (rule.toPrefix = at("to", () => parsePrefix(to))).family]);
    else if (rule.type === "masquerade")
      fail("to", "masquerade takes the address of `out`; use type=snat for a fixed address");
    else {
      rule.to = at("to", () => parseTarget(to));
      if (rule.to.addr) families.push(["to", rule.to.addr.family]);
    }
  }
  for (const [f, v] of families)
    if (v !== families[0][1])
      fail(f, `is IPv${v} but ${families[0][0]} is IPv${families[0][1]} (one rule translates one family)`);
  rule.family = families[0]?.[1] ?? 4;

  const proto = text(entry.proto);
  if (proto !== undefined) {
    const p = PROTOS[proto.toLowerCase()];
    if (p === undefined) fail("proto", `must be tcp, udp or icmp (got '${proto}')`);
    rule.proto = p === 1 || p === 58 ? (rule.family === 4 ? 1 : 58) : p;
  }
  const sport = text(entry.sport);
  const dport = text(entry.dport);
  if (sport !== undefined) rule.sport = at("sport", () => portRange(sport, "sport"));
  if (dport !== undefined) rule.dport = at("dport", () => portRange(dport, "dport"));
  if ((rule.sport || rule.dport) && (rule.proto === 1 || rule.proto === 58))
    fail(rule.sport ? "sport" : "dport", "ICMP has no ports (use proto=tcp or proto=udp)");
  const ports = text(entry.ports);
  const out = text(entry.out);

  switch (rule.type) {
    case "snat":
      if (!rule.to?.addr) fail("to", "snat needs an address to translate to (to=ADDR[-ADDR][:PORT[-PORT]])");
      if (out !== undefined) fail("out", "only masquerade takes an interface");
      if (ports !== undefined) {
        if (rule.to?.ports) fail("ports", "given twice (in `to` and in `ports`)");
        (rule.to as Target).ports = at("ports", () => portRange(ports, "ports", 1));
      }
      break;
    case "masquerade":
      if (out === undefined) fail("out", "masquerade needs the interface whose address it uses (out=IFNAME)");
      if (!IFNAME_RE.test(out as string)) fail("out", `'${out}' is not an interface name`);
      rule.out = out;
      rule.to = {
        count: 1,
        ...(ports !== undefined ? { ports: at("ports", () => portRange(ports, "ports", 1)) } : {}),
      };
      break;
    case "dnat": {
      if (!rule.to)
        fail("to", "dnat needs an address and/or a port to translate to (to=ADDR[:PORT] or to=:PORT)");
      if (out !== undefined || ports !== undefined) fail(out !== undefined ? "out" : "ports", "not for dnat");
      const tp = rule.to?.ports;
      if (tp && tp[1] > tp[0]) {
        const dp = rule.dport;
        if (!dp || dp[1] - dp[0] !== tp[1] - tp[0])
          fail("to", `a port range (${tp[0]}-${tp[1]}) maps a dport range of the same size`);
      }
      if (tp && !rule.to?.addr && !rule.dport && !rule.dst)
        fail("to", "a port-only dnat needs dst or dport (or it would take every connection)");
      break;
    }
    case "npt": {
      if (rule.family !== 6) fail("type", "npt translates IPv6 prefixes");
      if (!rule.src) fail("src", "npt needs the inside prefix (src=PREFIX)");
      if (!rule.toPrefix) fail("to", "npt needs the outside prefix (to=PREFIX)");
      const a = rule.src as Prefix;
      const b = rule.toPrefix as Prefix;
      if (a.len !== b.len)
        fail("to", `the outside prefix must be as long as the inside one (/${a.len} vs /${b.len})`);
      if (a.len > 64 || a.len < 1) fail("src", "npt prefixes are /1 to /64");
      for (const f of ["dst", "proto", "sport", "dport", "out", "ports"] as const)
        if (entry[f] !== undefined) fail(f, "npt translates whole prefixes; it takes only src and to");
      break;
    }
  }
  return rule;
}

const ANY = Buffer.alloc(16);

/** The data-plane image of a rule; a masquerade rule gets the interface's current address. */
export function ruleImage(r: Rule, masq?: Addr): RuleImage {
  const img: RuleImage = {
    id: r.id,
    kind: Kind.SNAT,
    family: r.family,
    proto: r.proto ?? 0,
    nptWord: 0,
    src: r.src?.bytes ?? ANY,
    srcMask: r.src?.mask ?? ANY,
    dst: r.dst?.bytes ?? ANY,
    dstMask: r.dst?.mask ?? ANY,
    sport: r.sport ?? [0, 65535],
    dport: r.dport ?? [0, 65535],
    to: r.to?.addr?.bytes ?? ANY,
    toCount: r.to?.addr ? r.to.count : 0,
    toPort: r.to?.ports ?? [0, 0],
    nptAdj: 0,
  };
  switch (r.type) {
    case "masquerade":
      img.kind = Kind.MASQ;
      if (!masq || masq.family !== r.family)
        img.family = 0; // no address yet: takes nothing
      else {
        img.to = masq.bytes;
        img.toCount = 1;
      }
      break;
    case "dnat":
      img.kind = Kind.DNAT;
      break;
    case "npt": {
      const inside = r.src as Prefix;
      const outside = r.toPrefix as Prefix;
      img.kind = Kind.NPT;
      img.to = outside.bytes;
      img.srcMask = maskOf(inside.len);
      // RFC 6296: the word after the prefix takes sum(inside) - sum(outside), so that every
      // checksum over the address stays the same.
      img.nptWord = inside.len <= 48 ? 3 : 4;
      let adj = sum16(inside.bytes) + (~sum16(outside.bytes) & 0xffff);
      while (adj > 0xffff) adj = (adj & 0xffff) + (adj >>> 16);
      img.nptAdj = adj;
      break;
    }
  }
  return img;
}

/** A rule as `rules show` lists it. */
export function ruleView(r: Rule): Record<string, unknown> {
  const row: Record<string, unknown> = { id: r.id, type: r.type, family: r.family === 4 ? "ipv4" : "ipv6" };
  for (const [k, v] of Object.entries(r.entry)) if (k !== "id" && k !== "type" && v !== undefined) row[k] = v;
  return row;
}

const prefixText = (p?: Prefix): string => (p ? `${formatAddr(p.family, p.bytes)}/${p.len}` : "any");

/**
 * What a rule takes, as texts: two rules with a text in common take the same connections (or, for
 * npt, the same prefix one way), so the later one could never apply.
 */
function matchKeys(r: Rule): string[] {
  if (r.type === "npt") return [`npt from ${prefixText(r.src)}`, `npt back to ${prefixText(r.toPrefix)}`];
  const ports = (p?: PortRange) => (p ? `${p[0]}-${p[1]}` : "any");
  const proto = Object.entries(PROTOS).find(([, n]) => n === r.proto)?.[0] ?? "any";
  return [
    `ipv${r.family} proto ${proto} src ${prefixText(r.src)} dst ${prefixText(r.dst)} sport ${ports(r.sport)} dport ${ports(r.dport)}`,
  ];
}

/**
 * Checks a whole rule set: at most MAX_RULES, and no rule that an earlier one makes dead by taking
 * exactly the same connections (a contradiction: two translations for one connection).
 */
export function checkRuleSet(rules: readonly Rule[], changed?: number): void {
  if (rules.length > MAX_RULES)
    throw new RuleError(
      `rule ${changed ?? rules[rules.length - 1].id}: the NAT holds at most ${MAX_RULES} rules (it would have ${rules.length})`,
    );
  const first = new Map<string, Rule>();
  for (const r of [...rules].sort((a, b) => a.id - b.id))
    for (const k of matchKeys(r)) {
      const earlier = first.get(k);
      if (earlier)
        throw new RuleError(
          `rule ${r.id}: takes the same connections as rule ${earlier.id} (${k}), which comes first: it would never apply`,
        );
      first.set(k, r);
    }
}

export const describeAddr = (a: Addr): string => formatAddr(a.family, a.bytes);
