// Firewall rules as users write them (API entries, rule-set files, CLI arguments) and as the
// compiler takes them. Every field but `action` is optional; a rule matches a packet when every
// field it has matches. Lists ("80,443", ["10.0.0.0/8", "fd00::/8"]) match any element; a leading
// "!" negates a whole field. Problems name the rule ("rule 30: ...") and what to write instead.
import { AddressError, formatPrefix, parsePrefix, type Family, type Prefix } from "./addr.js";
import { CT_STATE_NAMES, Reject } from "./abi.js";

export const ACTIONS = ["accept", "drop", "reject", "count"] as const;
export type ActionName = (typeof ACTIONS)[number];

export const REJECT_WITH = {
  "tcp-reset": Reject.TCP_RESET,
  "port-unreachable": Reject.PORT_UNREACH,
  "admin-prohibited": Reject.ADMIN_PROHIB,
  "host-unreachable": Reject.HOST_UNREACH,
  "net-unreachable": Reject.NET_UNREACH,
} as const;
export type RejectName = keyof typeof REJECT_WITH;

export const PROTOCOLS: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  gre: 47,
  esp: 50,
  ah: 51,
  icmpv6: 58,
  "ipv6-icmp": 58,
  ospf: 89,
  sctp: 132,
};
const PROTO_NAMES: Record<number, string> = {
  1: "icmp",
  2: "igmp",
  6: "tcp",
  17: "udp",
  47: "gre",
  50: "esp",
  51: "ah",
  58: "icmpv6",
  89: "ospf",
  132: "sctp",
};
export const TCP = 6;
export const UDP = 17;
export const SCTP = 132;
export const ICMP = 1;
export const ICMPV6 = 58;

const ICMP4_TYPES: Record<string, number> = {
  "echo-reply": 0,
  "destination-unreachable": 3,
  "source-quench": 4,
  redirect: 5,
  "echo-request": 8,
  "router-advertisement": 9,
  "router-solicitation": 10,
  "time-exceeded": 11,
  "parameter-problem": 12,
  "timestamp-request": 13,
  "timestamp-reply": 14,
};
const ICMP6_TYPES: Record<string, number> = {
  "destination-unreachable": 1,
  "packet-too-big": 2,
  "time-exceeded": 3,
  "parameter-problem": 4,
  "echo-request": 128,
  "echo-reply": 129,
  "router-solicitation": 133,
  "router-advertisement": 134,
  "neighbour-solicitation": 135,
  "neighbor-solicitation": 135,
  "neighbour-advertisement": 136,
  "neighbor-advertisement": 136,
  redirect: 137,
};

export const TCP_FLAGS: Record<string, number> = {
  fin: 0x01,
  syn: 0x02,
  rst: 0x04,
  psh: 0x08,
  ack: 0x10,
  urg: 0x20,
  ece: 0x40,
  cwr: 0x80,
};

/** Inclusive ranges. */
export interface RangeSpec {
  negate: boolean;
  ranges: [number, number][];
}

export interface PrefixSpec {
  negate: boolean;
  list: Prefix[];
}

export interface Rule {
  id: number;
  action: ActionName;
  rejectWith?: RejectName;
  /** The families the rule can match (from `family`, its addresses and its protocols). */
  families: Family[];
  src?: PrefixSpec;
  dst?: PrefixSpec;
  proto?: { negate: boolean; values: number[] };
  /** Ports, or ICMP type and code (the data plane looks them up in the same two tables). */
  sport?: RangeSpec;
  dport?: RangeSpec;
  icmpType?: RangeSpec;
  icmpCode?: RangeSpec;
  tcpFlags?: { value: number; mask: number };
  /** Bit per px_ct_state. */
  states?: number;
  iif?: { negate: boolean; names: string[] };
  comment?: string;
}

export class RuleError extends Error {
  override name = "RuleError";
}

const FIELDS = [
  "id",
  "action",
  "rejectWith",
  "family",
  "src",
  "dst",
  "proto",
  "sport",
  "dport",
  "icmpType",
  "icmpCode",
  "tcpFlags",
  "state",
  "iif",
  "comment",
] as const;
const FIELD_SET = new Set<string>(FIELDS);

/** Most elements one field of a rule may list. */
export const MAX_LIST = 100_000;

/** A field's elements: "a,b" strings split, arrays flattened, numbers as text. */
function elements(what: string, v: unknown): string[] {
  const out: string[] = [];
  const add = (x: unknown) => {
    if (typeof x === "number" && Number.isFinite(x)) out.push(String(x));
    else if (typeof x === "string") for (const p of x.split(",")) out.push(p.trim());
    else throw new RuleError(`${what}: ${JSON.stringify(x)} is neither a string nor a number`);
  };
  if (Array.isArray(v)) v.forEach(add);
  else add(v);
  if (out.length > MAX_LIST) throw new RuleError(`${what}: ${out.length} elements, at most ${MAX_LIST}`);
  if (out.some((x) => x === "")) throw new RuleError(`${what}: an empty element in ${JSON.stringify(v)}`);
  return out;
}

/** Splits a leading "!" off the first element (negating the whole field). */
function negation(what: string, parts: string[]): { negate: boolean; parts: string[] } {
  const negate = parts[0].startsWith("!");
  const rest = parts.map((p, i) => (i === 0 && negate ? p.slice(1).trim() : p));
  if (rest.slice(1).some((p) => p.startsWith("!")) || rest[0].startsWith("!"))
    throw new RuleError(`${what}: '!' negates the whole field and goes once, in front ("!a,b")`);
  if (rest[0] === "") throw new RuleError(`${what}: nothing after '!'`);
  return { negate, parts: rest };
}

function range(what: string, text: string, max: number, names?: Record<string, number>): [number, number] {
  if (names && text.toLowerCase() in names) {
    const n = names[text.toLowerCase()];
    return [n, n];
  }
  const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(text);
  if (!m)
    throw new RuleError(
      `${what}: '${text}' is not a number or a range like 1000-2000${names ? ` (or a name: ${Object.keys(names).join(", ")})` : ""}`,
    );
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > max || hi > max) throw new RuleError(`${what}: '${text}' is out of range (0-${max})`);
  if (lo > hi) throw new RuleError(`${what}: '${text}' is an empty range (${lo} is above ${hi})`);
  return [lo, hi];
}

function rangeSpec(what: string, v: unknown, max: number, names?: Record<string, number>): RangeSpec {
  const { negate, parts } = negation(what, elements(what, v));
  return { negate, ranges: parts.map((p) => range(what, p, max, names)) };
}

function prefixSpec(what: string, v: unknown): PrefixSpec {
  const { negate, parts } = negation(what, elements(what, v));
  const list = parts.map((p) => {
    try {
      return parsePrefix(p);
    } catch (e) {
      throw new RuleError(`${what}: ${(e as AddressError).message}`);
    }
  });
  return { negate, list };
}

function tcpFlagsSpec(what: string, v: unknown): { value: number; mask: number } {
  const bits = (list: string) => {
    let n = 0;
    for (const f of list.split(",").map((x) => x.trim().toLowerCase())) {
      if (!(f in TCP_FLAGS))
        throw new RuleError(`${what}: '${f}' is not a TCP flag (${Object.keys(TCP_FLAGS).join(", ")})`);
      n |= TCP_FLAGS[f];
    }
    return n;
  };
  const text = (Array.isArray(v) ? v.join(",") : String(v)).trim();
  if (text.includes("/")) {
    const [set, mask] = text.split("/");
    const value = set.trim() === "" ? 0 : bits(set);
    const m = bits(mask);
    if (value & ~m)
      throw new RuleError(`${what}: '${text}': the flags before '/' must be among those after it`);
    return { value, mask: m };
  }
  let value = 0;
  let mask = 0;
  for (const f of text.split(",").map((x) => x.trim())) {
    const neg = f.startsWith("!");
    const b = bits(neg ? f.slice(1) : f);
    mask |= b;
    if (!neg) value |= b;
  }
  return { value, mask };
}

const isPortProto = (p: number) => p === TCP || p === UDP || p === SCTP;

/**
 * Parses one rule. `where` names it in errors ("rule 30", "rule set main, rule #4"); `id` is
 * used when the entry has none (rule sets number their rules).
 */
export function parseRule(entry: Record<string, unknown>, where: string, id?: number): Rule {
  const unknown = Object.keys(entry).filter((k) => !FIELD_SET.has(k));
  if (unknown.length)
    throw new RuleError(
      `${where}: unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => `'${u}'`).join(", ")} (fields: ${FIELDS.join(", ")})`,
    );
  const has = (k: string) => entry[k] !== undefined && entry[k] !== null && entry[k] !== "";
  const w = (field: string) => `${where}: ${field}`;

  let ruleId = id;
  if (has("id")) {
    const raw = entry.id;
    const n = typeof raw === "string" && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 0xffffffff)
      throw new RuleError(`${w("id")} must be an integer from 1 to 4294967295 (got ${JSON.stringify(raw)})`);
    ruleId = n;
  }
  if (ruleId === undefined) throw new RuleError(`${where}: a rule needs an id (its place in the order)`);
  const label = entry.id === undefined && id !== undefined ? `${where} (id ${ruleId})` : where;
  const at = (field: string) => `${label}: ${field}`;

  if (!has("action")) throw new RuleError(`${label}: a rule needs an action (${ACTIONS.join(", ")})`);
  const action = String(entry.action).trim().toLowerCase() as ActionName;
  if (!ACTIONS.includes(action))
    throw new RuleError(`${at("action")} '${String(entry.action)}' is not one of ${ACTIONS.join(", ")}`);
  const rule: Rule = { id: ruleId, action, families: [4, 6] };

  let families = new Set<Family>([4, 6]);
  // `why` is a function: the text is only made for an error (formatting 10,000 prefixes is not free).
  const restrict = (fams: Iterable<Family>, why: () => string) => {
    const keep = new Set([...fams].filter((f) => families.has(f)));
    if (!keep.size)
      throw new RuleError(
        `${label}: ${why()} contradicts the rest of the rule: it could never match a packet`,
      );
    families = keep;
  };

  if (has("family")) {
    const f = String(entry.family).trim().toLowerCase();
    const fam =
      f === "ipv4" || f === "ip" || f === "4" ? 4 : f === "ipv6" || f === "ip6" || f === "6" ? 6 : undefined;
    if (!fam) throw new RuleError(`${at("family")} '${String(entry.family)}' is not ipv4 or ipv6`);
    restrict([fam], () => `family ${f}`);
  }
  for (const field of ["src", "dst"] as const) {
    if (!has(field)) continue;
    const spec = prefixSpec(at(field), entry[field]);
    // A /0 in a plain list matches the whole family: the family restriction says it all.
    rule[field] = spec;
    restrict(
      spec.list.map((p) => p.family),
      () => `${field} ${spec.list.map(formatPrefix).join(",")}`,
    );
  }
  if (has("proto")) {
    const { negate, parts } = negation(at("proto"), elements(at("proto"), entry.proto));
    const values = parts.map((p) => {
      const n = p.toLowerCase() in PROTOCOLS ? PROTOCOLS[p.toLowerCase()] : /^\d+$/.test(p) ? Number(p) : NaN;
      if (!Number.isInteger(n) || n > 255)
        throw new RuleError(
          `${at("proto")} '${p}' is not a protocol name (${Object.keys(PROTOCOLS).join(", ")}) or number 0-255`,
        );
      return n;
    });
    rule.proto = { negate, values: [...new Set(values)].sort((a, b) => a - b) };
    if (!negate) {
      const fams = new Set<Family>();
      for (const v of values) {
        if (v !== ICMPV6) fams.add(4);
        if (v !== ICMP) fams.add(6);
      }
      restrict(fams, () => `proto ${parts.join(",")}`);
    }
  }
  const protos = rule.proto && !rule.proto.negate ? rule.proto.values : undefined;
  const needProto = (field: string, ok: (p: number) => boolean, want: string) => {
    if (!protos || !protos.every(ok))
      throw new RuleError(
        `${at(field)} needs proto ${want}${protos ? ` (the rule says proto ${entry.proto})` : ""}`,
      );
  };
  for (const field of ["sport", "dport"] as const) {
    if (!has(field)) continue;
    needProto(field, isPortProto, "tcp, udp or sctp");
    rule[field] = rangeSpec(at(field), entry[field], 65535);
  }
  if (has("icmpType") || has("icmpCode")) {
    const field = has("icmpType") ? "icmpType" : "icmpCode";
    if (!protos || protos.length !== 1 || (protos[0] !== ICMP && protos[0] !== ICMPV6))
      throw new RuleError(`${at(field)} needs proto icmp or icmpv6 (one of them)`);
    const names = protos[0] === ICMP ? ICMP4_TYPES : ICMP6_TYPES;
    if (has("icmpType")) rule.icmpType = rangeSpec(at("icmpType"), entry.icmpType, 255, names);
    if (has("icmpCode")) rule.icmpCode = rangeSpec(at("icmpCode"), entry.icmpCode, 255);
  }
  if (has("tcpFlags")) {
    needProto("tcpFlags", (p) => p === TCP, "tcp");
    rule.tcpFlags = tcpFlagsSpec(at("tcpFlags"), entry.tcpFlags);
  }
  if (has("state")) {
    const { negate, parts } = negation(at("state"), elements(at("state"), entry.state));
    let bits = 0;
    for (const p of parts) {
      const i = CT_STATE_NAMES.indexOf(p.toLowerCase() as (typeof CT_STATE_NAMES)[number]);
      if (i < 0) throw new RuleError(`${at("state")} '${p}' is not one of ${CT_STATE_NAMES.join(", ")}`);
      bits |= 1 << i;
    }
    rule.states = negate ? ~bits & ((1 << CT_STATE_NAMES.length) - 1) : bits;
    if (!rule.states) throw new RuleError(`${at("state")} excludes every state: the rule could never match`);
  }
  if (has("iif")) {
    const { negate, parts } = negation(at("iif"), elements(at("iif"), entry.iif));
    for (const n of parts)
      if (!/^[^\s/:]{1,15}$/.test(n)) throw new RuleError(`${at("iif")} '${n}' is not an interface name`);
    rule.iif = { negate, names: [...new Set(parts)] };
  }
  if (has("rejectWith")) {
    const r = String(entry.rejectWith).trim().toLowerCase() as RejectName;
    if (!(r in REJECT_WITH))
      throw new RuleError(
        `${at("rejectWith")} '${String(entry.rejectWith)}' is not one of ${Object.keys(REJECT_WITH).join(", ")}`,
      );
    if (action !== "reject") throw new RuleError(`${at("rejectWith")} only goes with action reject`);
    if (r === "tcp-reset") needProto("rejectWith tcp-reset", (p) => p === TCP, "tcp");
    rule.rejectWith = r;
  }
  if (has("comment")) {
    if (typeof entry.comment !== "string" || entry.comment.length > 256)
      throw new RuleError(`${at("comment")} must be a string of at most 256 characters`);
    rule.comment = entry.comment;
  }
  rule.families = [...families].sort();
  return rule;
}

// ---- showing rules ----

const rangesText = (s: RangeSpec, names?: Record<number, string>) =>
  (s.negate ? "!" : "") +
  s.ranges.map(([lo, hi]) => (lo === hi ? (names?.[lo] ?? String(lo)) : `${lo}-${hi}`)).join(",");

function flagsText(f: { value: number; mask: number }): string {
  const names = (n: number) =>
    Object.entries(TCP_FLAGS)
      .filter(([, b]) => n & b)
      .map(([k]) => k)
      .join(",");
  return `${names(f.value)}/${names(f.mask)}`;
}

/** The rule in canonical text fields (what `rules show` lists and the counter hash covers). */
export function ruleView(r: Rule): Record<string, unknown> {
  const v: Record<string, unknown> = { id: r.id, action: r.action };
  if (r.families.length === 1) v.family = r.families[0] === 4 ? "ipv4" : "ipv6";
  for (const f of ["src", "dst"] as const) {
    const s = r[f];
    if (s) v[f] = (s.negate ? "!" : "") + s.list.map(formatPrefix).join(",");
  }
  if (r.proto)
    v.proto = (r.proto.negate ? "!" : "") + r.proto.values.map((p) => PROTO_NAMES[p] ?? String(p)).join(",");
  if (r.sport) v.sport = rangesText(r.sport);
  if (r.dport) v.dport = rangesText(r.dport);
  if (r.icmpType) v.icmpType = rangesText(r.icmpType);
  if (r.icmpCode) v.icmpCode = rangesText(r.icmpCode);
  if (r.tcpFlags) v.tcpFlags = flagsText(r.tcpFlags);
  if (r.states !== undefined)
    v.state = CT_STATE_NAMES.filter((_, i) => r.states !== undefined && r.states & (1 << i)).join(",");
  if (r.iif) v.iif = (r.iif.negate ? "!" : "") + r.iif.names.join(",");
  if (r.rejectWith) v.rejectWith = r.rejectWith;
  if (r.comment) v.comment = r.comment;
  return v;
}

/** FNV-1a of what the rule matches and does: a changed rule gets fresh counters. */
export function ruleHash(r: Rule): number {
  const { comment: _c, id: _i, ...rest } = ruleView(r);
  const text = JSON.stringify(rest);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
