// Member lookup that, like C, sees through anonymous struct and union members.
import { BtfError } from "../errors.js";
import type { Btf } from "./btf.js";
import type { BtfMember } from "./types.js";

export interface MemberLookup {
  member: BtfMember;
  /** Offset in bits from the start of the outer type (sum along the anonymous path). */
  bitOffset: number;
  /** Member indexes from the outer type down to the member (more than one through anonymous members). */
  path: number[];
}

export function findMember(
  btf: Btf,
  id: number,
  name: string,
  depth = 0,
  searched = new Set<number>(),
): MemberLookup | undefined {
  if (depth > 32) throw new BtfError(`type ${id}: anonymous members nested too deep (a loop?)`, btf.fileName);
  const t = btf.resolve(id);
  // A type already searched without success cannot succeed again (keeps corrupt BTF linear).
  if (searched.has(t.id)) return undefined;
  searched.add(t.id);
  if (t.kind !== "struct" && t.kind !== "union")
    throw new BtfError(
      `type ${id} (${btf.typeName(id)}) is a ${t.kind}, not a struct or union`,
      btf.fileName,
    );
  for (let i = 0; i < t.members.length; i++) {
    const m = t.members[i];
    if (m.name === name) return { member: m, bitOffset: m.bitOffset, path: [i] };
    if (m.name === "") {
      const inner = btf.resolve(m.type);
      if (inner.kind !== "struct" && inner.kind !== "union") continue;
      const found = findMember(btf, inner.id, name, depth + 1, searched);
      if (found)
        return { member: found.member, bitOffset: m.bitOffset + found.bitOffset, path: [i, ...found.path] };
    }
  }
  return undefined;
}
