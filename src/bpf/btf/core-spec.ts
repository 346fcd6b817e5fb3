// CO-RE access specs (libbpf's bpf_core_spec): the parsed access string of a relocation against
// the local BTF, and the matching spec computed against a candidate target type.
import type { Btf } from "./btf.js";
import {
  essentialName,
  fieldsAreCompat,
  isAnyEnum,
  isComposite,
  typesAreCompat,
  typesMatch,
} from "./core-compat.js";
import { CoreError } from "./core-error.js";
import { CoreReloKind } from "./ext.js";
import type { BtfArray, BtfComposite, BtfEnum } from "./types.js";

/** libbpf's BPF_CORE_SPEC_MAX_LEN. */
export const CORE_SPEC_MAX_LEN = 64;

export interface CoreAccessor {
  /** Type the accessor indexes into (struct/union for fields, the element type for arrays, the enum). */
  typeId: number;
  idx: number;
  /** Field or enumerator name; undefined for an array index. */
  name?: string;
}

export interface CoreSpec {
  btf: Btf;
  rootTypeId: number;
  kind: number;
  /** High-level accessors: named fields and array indexes. */
  spec: CoreAccessor[];
  /** Low-level access indexes, one per access string element (anonymous members included). */
  raw: number[];
  bitOffset: number;
}

export const isFieldKind = (k: number) =>
  k >= CoreReloKind.FIELD_BYTE_OFFSET && k <= CoreReloKind.FIELD_RSHIFT_U64;
export const isTypeKind = (k: number) =>
  (k >= CoreReloKind.TYPE_ID_LOCAL && k <= CoreReloKind.TYPE_SIZE) || k === CoreReloKind.TYPE_MATCHES;
export const isEnumvalKind = (k: number) =>
  k === CoreReloKind.ENUMVAL_EXISTS || k === CoreReloKind.ENUMVAL_VALUE;

const KIND_NAMES: Record<number, string> = {
  0: "byte_off",
  1: "byte_sz",
  2: "field_exists",
  3: "signed",
  4: "lshift_u64",
  5: "rshift_u64",
  6: "local_type_id",
  7: "target_type_id",
  8: "type_exists",
  9: "type_size",
  10: "enumval_exists",
  11: "enumval_value",
  12: "type_matches",
};
export const coreKindName = (k: number): string => KIND_NAMES[k] ?? `unknown kind ${k}`;

/** A flexible array: zero-sized, and the last member of the struct it was reached through. */
function isFlexArray(btf: Btf, prev: CoreAccessor | undefined, arr: BtfArray): boolean {
  if (!prev || prev.name === undefined || arr.nelems > 0) return false;
  const t = btf.typeById(prev.typeId) as BtfComposite;
  return prev.idx === t.members.length - 1;
}

/** Parses an access string ("0:1:2") against the local BTF (libbpf's bpf_core_parse_spec). */
export function parseSpec(btf: Btf, rootTypeId: number, accessStr: string, kind: number): CoreSpec {
  const spec: CoreSpec = { btf, rootTypeId, kind, spec: [], raw: [], bitOffset: 0 };
  if (accessStr === "" || accessStr.startsWith(":"))
    throw new CoreError(`empty access string '${accessStr}'`);
  if (isTypeKind(kind)) {
    if (accessStr !== "0")
      throw new CoreError(`type-based relocation with access string '${accessStr}', expected '0'`);
    return spec;
  }
  for (const part of accessStr.split(":")) {
    if (!/^-?\d+$/.test(part)) throw new CoreError(`malformed access string '${accessStr}'`);
    if (spec.raw.length === CORE_SPEC_MAX_LEN)
      throw new CoreError(`access string '${accessStr}' is too long`);
    spec.raw.push(Number(part));
  }
  let id = btf.resolveId(rootTypeId);
  let t = btf.typeById(id);
  const first: CoreAccessor = { typeId: id, idx: spec.raw[0] };
  spec.spec.push(first);

  if (isEnumvalKind(kind)) {
    if (!isAnyEnum(t) || spec.raw.length > 1 || first.idx < 0 || first.idx >= (t as BtfEnum).values.length)
      throw new CoreError(`enumerator access '${accessStr}' does not fit ${btf.typeName(rootTypeId)}`);
    first.name = (t as BtfEnum).values[first.idx].name;
    return spec;
  }
  if (!isFieldKind(kind)) throw new CoreError(`unknown relocation kind ${kind}`);

  spec.bitOffset = first.idx * btf.sizeof(id) * 8;
  for (let i = 1; i < spec.raw.length; i++) {
    id = btf.resolveId(id);
    t = btf.typeById(id);
    const idx = spec.raw[i];
    if (isComposite(t)) {
      const c = t as BtfComposite;
      if (idx < 0 || idx >= c.members.length)
        throw new CoreError(`member index ${idx} is out of range for ${btf.typeName(id)}`);
      const m = c.members[idx];
      spec.bitOffset += m.bitOffset;
      if (m.name !== "") spec.spec.push({ typeId: id, idx, name: m.name });
      id = m.type;
    } else if (t.kind === "array") {
      const elem = btf.resolveId(t.type);
      const flex = isFlexArray(btf, spec.spec[spec.spec.length - 1], t);
      if (idx < 0 || (!flex && idx >= t.nelems))
        throw new CoreError(`array index ${idx} is out of range for ${btf.typeName(id)}`);
      spec.spec.push({ typeId: elem, idx });
      spec.bitOffset += idx * btf.sizeof(elem) * 8;
      id = elem;
    } else {
      throw new CoreError(`access '${accessStr}' reaches ${btf.typeName(id)} (a ${t.kind}) at position ${i}`);
    }
  }
  return spec;
}

/**
 * Finds the local named member in the target composite `targId`, looking through anonymous
 * members; extends `targ` (raw indexes, bit offset, accessor) on success. Returns the member's
 * type id, or undefined when there is no compatible member of that name.
 */
function matchMember(
  local: Btf,
  localAcc: CoreAccessor,
  targ: CoreSpec,
  targId: number,
  searched = new Set<number>(),
): number | undefined {
  const tb = targ.btf;
  targId = tb.resolveId(targId);
  const tt = tb.typeById(targId);
  if (!isComposite(tt)) return undefined;
  // Searching a type again gives the same answer (no match): keeps corrupt, cyclic BTF linear.
  if (searched.has(targId)) return undefined;
  searched.add(targId);
  const localMember = (local.typeById(localAcc.typeId) as BtfComposite).members[localAcc.idx];
  const members = (tt as BtfComposite).members;
  for (let i = 0; i < members.length; i++) {
    const m = members[i];
    if (targ.raw.length === CORE_SPEC_MAX_LEN) throw new CoreError("struct/union/array nesting too deep");
    targ.bitOffset += m.bitOffset;
    targ.raw.push(i);
    if (m.name === "") {
      const found = matchMember(local, localAcc, targ, m.type, searched);
      if (found !== undefined) return found;
    } else if (m.name === localMember.name) {
      // The first member of that name decides, compatible or not.
      if (!fieldsAreCompat(local, localMember.type, tb, m.type)) return undefined;
      targ.spec.push({ typeId: targId, idx: i, name: m.name });
      return m.type;
    }
    targ.bitOffset -= m.bitOffset;
    targ.raw.pop();
  }
  return undefined;
}

/** Matches a local spec against candidate `targId` (libbpf's bpf_core_spec_match). */
export function matchSpec(localSpec: CoreSpec, targ: Btf, targId: number): CoreSpec | undefined {
  const out: CoreSpec = {
    btf: targ,
    rootTypeId: targId,
    kind: localSpec.kind,
    spec: [],
    raw: [],
    bitOffset: 0,
  };
  const local = localSpec.btf;
  const kind = localSpec.kind;
  if (isTypeKind(kind)) {
    const ok =
      kind === CoreReloKind.TYPE_MATCHES
        ? typesMatch(local, localSpec.rootTypeId, targ, targId)
        : typesAreCompat(local, localSpec.rootTypeId, targ, targId);
    return ok ? out : undefined;
  }
  if (isEnumvalKind(kind)) {
    const id = targ.resolveId(targId);
    const t = targ.typeById(id);
    if (!isAnyEnum(t)) return undefined;
    const want = essentialName(localSpec.spec[0].name ?? "");
    const values = (t as BtfEnum).values;
    for (let i = 0; i < values.length; i++) {
      if (essentialName(values[i].name) !== want) continue;
      out.spec.push({ typeId: id, idx: i, name: values[i].name });
      out.raw.push(i);
      return out;
    }
    return undefined;
  }
  let id = targId;
  for (let i = 0; i < localSpec.spec.length; i++) {
    const acc = localSpec.spec[i];
    id = targ.resolveId(id);
    const t = targ.typeById(id);
    if (acc.name !== undefined) {
      const next = matchMember(local, acc, out, id);
      if (next === undefined) return undefined;
      id = next;
      continue;
    }
    // An array index; the first accessor indexes the root itself (as through a pointer).
    if (i > 0) {
      if (t.kind !== "array") return undefined;
      const flex = isFlexArray(targ, out.spec[out.spec.length - 1], t);
      if (!flex && acc.idx >= t.nelems) return undefined;
      id = targ.resolveId(t.type);
    }
    if (out.raw.length === CORE_SPEC_MAX_LEN) throw new CoreError("struct/union/array nesting too deep");
    out.spec.push({ typeId: id, idx: acc.idx });
    out.raw.push(acc.idx);
    out.bitOffset += acc.idx * targ.sizeof(id) * 8;
  }
  return out;
}

/** C-like view of a spec: `struct sk_buff.len`, `struct foo.arr[3].x`, `enum bpf_cmd::BPF_MAP_CREATE`. */
export function formatSpec(spec: CoreSpec): string {
  const btf = spec.btf;
  let s = btf.typeName(spec.rootTypeId);
  if (isTypeKind(spec.kind)) return s;
  if (isEnumvalKind(spec.kind)) return `${s}::${spec.spec[0]?.name ?? "?"}`;
  spec.spec.forEach((a, i) => {
    if (a.name !== undefined) s += `.${a.name}`;
    else if (i > 0 || a.idx > 0) s += `[${a.idx}]`;
  });
  return s;
}
