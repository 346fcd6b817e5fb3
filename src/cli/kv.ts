// key=value arguments: typed by a JSON schema (an NF's config or port config) or by table field
// formats, so `agingTime=60` is a number, `icmpErrors=off` a boolean and `ipv4=198.18.1.1/24,...`
// a list, as the schema says. What the schema does not know stays a string for the daemon to judge.
import { UsageError } from "./errors.js";

export type JsonSchema = {
  type?: string | string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
};

const TRUE = new Set(["true", "yes", "on", "1"]);
const FALSE = new Set(["false", "no", "off", "0"]);

const types = (s: JsonSchema): string[] => (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []);

/** Converts one textual value the way `schema` wants it. */
export function coerce(text: string, schema: JsonSchema | undefined): unknown {
  if (!schema) return text;
  const alts = schema.anyOf ?? schema.oneOf;
  if (alts) {
    // A string alternative takes the text as it is (e.g. "10,20-29" for a VLAN list).
    if (alts.some((a) => types(a).includes("string"))) return text;
    for (const a of alts) {
      const v = coerce(text, a);
      if (v !== text) return v;
    }
    return text;
  }
  const t = types(schema);
  if ((t.includes("array") || t.includes("object")) && /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      throw new UsageError(`'${text}' is not valid JSON`);
    }
  }
  if (t.includes("array")) {
    const parts = text === "" ? [] : text.split(",").map((p) => p.trim());
    return parts.map((p) => coerce(p, schema.items));
  }
  if ((t.includes("integer") || t.includes("number")) && /^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(text))
    return Number(text);
  if (t.includes("boolean")) {
    const l = text.toLowerCase();
    if (TRUE.has(l)) return true;
    if (FALSE.has(l)) return false;
  }
  if (t.includes("null") && text === "null") return null;
  return text;
}

/** Splits "key=value" arguments into an object typed by a JSON object schema. */
export function parseKeyValues(args: readonly string[], schema?: JsonSchema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of args) {
    const i = a.indexOf("=");
    if (i <= 0) throw new UsageError(`'${a}' is not key=value`);
    const key = a.slice(0, i);
    out[key] = coerce(a.slice(i + 1), schema?.properties?.[key]);
  }
  return out;
}

/** A table field's value from text: ints and bools typed, the rest (addresses, ports) as text. */
export function coerceField(text: string, format: string | undefined): unknown {
  if (format === "int" && /^-?\d+$/.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : text;
  }
  if (format === "bool") {
    const l = text.toLowerCase();
    if (TRUE.has(l)) return true;
    if (FALSE.has(l)) return false;
  }
  return text;
}

export interface FieldSpec {
  name: string;
  format: string;
}

/**
 * Table command arguments: an optional first positional for the first key field, then
 * `name value` pairs or `name=value`. `198.18.2.0/24 via 198.18.1.2` ->
 * { prefix: "198.18.2.0/24", via: "198.18.1.2" }.
 */
export function parseTableArgs(
  args: readonly string[],
  key: readonly FieldSpec[],
  value: readonly FieldSpec[],
): Record<string, unknown> {
  const fields = new Map([...key, ...value].map((f) => [f.name, f]));
  const out: Record<string, unknown> = {};
  const set = (name: string, text: string) => {
    if (name in out) throw new UsageError(`field '${name}' given twice`);
    out[name] = coerceField(text, fields.get(name)?.format);
  };
  let i = 0;
  const first = args[0];
  if (first !== undefined && !first.includes("=") && !fields.has(first) && key.length) {
    set(key[0].name, first);
    i = 1;
  }
  while (i < args.length) {
    const a = args[i];
    const eq = a.indexOf("=");
    if (eq > 0) {
      set(a.slice(0, eq), a.slice(eq + 1));
      i++;
      continue;
    }
    if (i + 1 >= args.length)
      throw new UsageError(
        `'${a}' needs a value ('${a} VALUE' or '${a}=VALUE'; fields: ${[...fields.keys()].join(", ")})`,
      );
    set(a, args[i + 1]);
    i += 2;
  }
  return out;
}
