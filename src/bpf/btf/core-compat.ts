// Type compatibility rules of CO-RE, as libbpf's relo_core.c defines them:
// bpf_core_types_are_compat (type-based relocations), bpf_core_fields_are_compat (field
// accesses) and bpf_core_types_match (TYPE_MATCHES).
import type { Btf } from "./btf.js";
import { CoreError } from "./core-error.js";
import type { BtfType } from "./types.js";

const MAX_DEPTH = 32;
/** Comparison steps allowed per relocation: corrupt BTF must not make matching exponential. */
const MAX_STEPS = 100_000;

export interface CompatBudget {
  steps: number;
}
const newBudget = (): CompatBudget => ({ steps: MAX_STEPS });
const spend = (b: CompatBudget) => {
  if (--b.steps < 0) throw new CoreError("types too complex to compare (corrupt BTF?)");
};

export const isAnyEnum = (t: BtfType): boolean => t.kind === "enum" || t.kind === "enum64";
export const isComposite = (t: BtfType): boolean => t.kind === "struct" || t.kind === "union";

/** Same kind, or enum vs enum64 (libbpf's btf_kind_core_compat). */
export const kindsCoreCompat = (a: BtfType, b: BtfType): boolean =>
  a.kind === b.kind || (isAnyEnum(a) && isAnyEnum(b));

/** Length of a name without its `___flavor` suffix (the last `X___Y` separator counts). */
export function essentialNameLength(name: string): number {
  for (let i = name.length - 5; i >= 0; i--) {
    if (
      name[i] !== "_" &&
      name[i + 1] === "_" &&
      name[i + 2] === "_" &&
      name[i + 3] === "_" &&
      name[i + 4] !== "_"
    )
      return i + 1;
  }
  return name.length;
}

export const essentialName = (name: string): string => name.slice(0, essentialNameLength(name));

/** Compatibility of a local and a target type whose names already match (type-based relocations). */
export function typesAreCompat(
  local: Btf,
  localId: number,
  targ: Btf,
  targId: number,
  level = MAX_DEPTH,
): boolean {
  if (!kindsCoreCompat(local.typeById(localId), targ.typeById(targId))) return false;
  for (let depth = MAX_DEPTH; depth > 0; depth--) {
    const lt = local.resolve(localId);
    const tt = targ.resolve(targId);
    if (!kindsCoreCompat(lt, tt)) return false;
    switch (lt.kind) {
      case "void":
      case "struct":
      case "union":
      case "enum":
      case "enum64":
      case "fwd":
        return true;
      case "int":
        // Only the deprecated bitfield-like ints (bit offset != 0) are rejected.
        return lt.bitOffset === 0 && (tt as typeof lt).bitOffset === 0;
      case "ptr":
        localId = lt.type;
        targId = (tt as typeof lt).type;
        break;
      case "array":
        localId = lt.type;
        targId = (tt as typeof lt).type;
        break;
      case "func_proto": {
        const tp = tt as typeof lt;
        if (lt.params.length !== tp.params.length) return false;
        for (let i = 0; i < lt.params.length; i++) {
          if (level <= 0) throw new CoreError("type nesting too deep");
          if (
            !typesAreCompat(
              local,
              local.resolveId(lt.params[i].type),
              targ,
              targ.resolveId(tp.params[i].type),
              level - 1,
            )
          )
            return false;
        }
        localId = local.resolveId(lt.returnType);
        targId = targ.resolveId(tp.returnType);
        break;
      }
      default:
        return false;
    }
  }
  throw new CoreError("type chain too deep (a loop?)");
}

/** Compatibility of a local field's type with the target field of the same name. */
export function fieldsAreCompat(local: Btf, localId: number, targ: Btf, targId: number): boolean {
  for (let depth = MAX_DEPTH; depth > 0; depth--) {
    const lt = local.resolve(localId);
    const tt = targ.resolve(targId);
    if (isComposite(lt) && isComposite(tt)) return true;
    if (!kindsCoreCompat(lt, tt)) return false;
    switch (lt.kind) {
      case "ptr":
      case "float":
        return true;
      case "fwd":
      case "enum":
      case "enum64": {
        // One of them anonymous, or the same name up to the flavor.
        const ln = essentialName(lt.name);
        const tn = essentialName(tt.name);
        return ln === "" || tn === "" || ln === tn;
      }
      case "int":
        return lt.bitOffset === 0 && (tt as typeof lt).bitOffset === 0;
      case "array":
        localId = lt.type;
        targId = (tt as typeof lt).type;
        break;
      default:
        return false;
    }
  }
  throw new CoreError("type chain too deep (a loop?)");
}

/** Names equal up to the flavor; an anonymous target only matches an anonymous local. */
function namesMatch(localName: string, targName: string): boolean {
  if (targName === "") return localName === "";
  return essentialName(localName) === essentialName(targName);
}

/** TYPE_MATCHES: a stricter, structural comparison (libbpf's __bpf_core_types_match). */
export function typesMatch(
  local: Btf,
  localId: number,
  targ: Btf,
  targId: number,
  behindPtr = false,
  level = MAX_DEPTH,
  budget = newBudget(),
): boolean {
  if (level <= 0) throw new CoreError("type nesting too deep");
  for (let depth = MAX_DEPTH; depth > 0; depth--) {
    spend(budget);
    const lt = local.resolve(localId);
    const tt = targ.resolve(targId);
    if (!namesMatch(lt.name, tt.name)) return false;
    switch (lt.kind) {
      case "void":
        return tt.kind === "void";
      case "fwd":
        if (behindPtr) {
          if (tt.kind === "fwd") return lt.union === tt.union;
          return (tt.kind === "struct" && !lt.union) || (tt.kind === "union" && lt.union);
        }
        return tt.kind === "fwd" && lt.union === tt.union;
      case "enum":
      case "enum64": {
        if (!isAnyEnum(tt)) return false;
        const te = tt as typeof lt;
        if (lt.size !== te.size || lt.values.length > te.values.length) return false;
        return lt.values.every((lv) => te.values.some((tv) => namesMatch(lv.name, tv.name)));
      }
      case "struct":
      case "union": {
        if (behindPtr) {
          if (lt.kind === tt.kind) return true;
          return tt.kind === "fwd" && (lt.kind === "union") === tt.union;
        }
        if (lt.kind !== tt.kind) return false;
        const tc = tt as typeof lt;
        if (lt.members.length > tc.members.length) return false;
        return lt.members.every((lm) =>
          tc.members.some(
            (tm) =>
              namesMatch(lm.name, tm.name) && typesMatch(local, lm.type, targ, tm.type, behindPtr, level - 1),
          ),
        );
      }
      case "int":
        return tt.kind === "int" && lt.size === tt.size && lt.signed === tt.signed;
      case "ptr":
        if (tt.kind !== "ptr") return false;
        behindPtr = true;
        localId = lt.type;
        targId = tt.type;
        break;
      case "array":
        if (tt.kind !== "array" || lt.nelems !== tt.nelems) return false;
        localId = lt.type;
        targId = tt.type;
        break;
      case "func_proto": {
        if (tt.kind !== "func_proto" || lt.params.length !== tt.params.length) return false;
        for (let i = 0; i < lt.params.length; i++)
          if (!typesMatch(local, lt.params[i].type, targ, tt.params[i].type, behindPtr, level - 1))
            return false;
        localId = lt.returnType;
        targId = tt.returnType;
        break;
      }
      default:
        return false;
    }
  }
  throw new CoreError("type chain too deep (a loop?)");
}
