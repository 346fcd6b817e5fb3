// Prefix lists as text: one or more prefixes per line, separated by commas or spaces, comments
// from '#' or ';' to the end of the line (the format of common block lists, e.g. "192.0.2.0/24 ;
// SBL123"). Errors name the list, the line and the item.
import { PrefixError, parsePrefixAt, type Prefix } from "./prefix.js";

export interface ParsedList {
  /** Distinct prefixes, in the order first seen. */
  v4: Prefix[];
  v6: Prefix[];
}

export class ListError extends Error {
  override name = "ListError";
}

/** At most this many bad items are quoted in one error. */
const MAX_QUOTED = 5;

/**
 * Parses a list's text. `what` names the list in errors ("list bogons"); more than `limit`
 * prefixes of one family is an error, as is an empty list.
 */
export function parsePrefixList(text: string, what: string, limit: number): ParsedList {
  const seen = new Set<string>();
  const out: ParsedList = { v4: [], v6: [] };
  const problems: string[] = [];
  let bad = 0;
  let line = 1;
  // One pass over the characters: no per-line strings for lists of hundreds of thousands.
  for (let i = 0, n = text.length; i < n;) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      i++;
    } else if (c === 35 || c === 59) {
      while (i < n && text.charCodeAt(i) !== 10) i++; // '#' or ';': a comment to the end of the line
    } else if (c <= 32 || c === 44) i++;
    else {
      const start = i;
      for (let d = c; i < n && d > 32 && d !== 44 && d !== 35 && d !== 59; d = text.charCodeAt(++i));
      let p: Prefix;
      try {
        p = parsePrefixAt(text, start, i);
      } catch (e) {
        if (!(e instanceof PrefixError)) throw e;
        if (++bad <= MAX_QUOTED) problems.push(`line ${line}: ${e.message}`);
        continue;
      }
      if (seen.has(p.key)) continue;
      seen.add(p.key);
      (p.family === 4 ? out.v4 : out.v6).push(p);
    }
  }
  if (bad)
    throw new ListError(
      `${what}: ${problems.join("; ")}${bad > MAX_QUOTED ? `; and ${bad - MAX_QUOTED} more bad items` : ""}`,
    );
  if (!out.v4.length && !out.v6.length) throw new ListError(`${what}: no prefixes in it`);
  for (const [family, n] of [
    [4, out.v4.length],
    [6, out.v6.length],
  ] as const)
    if (n > limit)
      throw new ListError(
        `${what}: ${n.toLocaleString("en")} IPv${family} prefixes, more than the ${limit.toLocaleString("en")} one side holds`,
      );
  return out;
}
