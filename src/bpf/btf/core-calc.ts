// CO-RE relocation values (libbpf's bpf_core_calc_relo_insn): find the target candidates of the
// local root type, match the access spec against each, compute the original (local) and new
// (target) values, and insist that every matching candidate agrees.
import type { Btf } from "./btf.js";
import { essentialName, isAnyEnum, kindsCoreCompat } from "./core-compat.js";
import { formatSpec, isEnumvalKind, isFieldKind, isTypeKind, matchSpec, parseSpec } from "./core-spec.js";
import type { CoreSpec } from "./core-spec.js";
import { CoreError } from "./core-error.js";
import { CoreReloKind } from "./ext.js";
import type { BtfComposite, BtfEnum, BtfKindName, BtfType } from "./types.js";

export interface CoreRelocationResult {
  /** Value the compiler put in the instruction (computed from the local BTF). */
  origVal: bigint;
  /** Value for the target kernel. */
  newVal: bigint;
  /** No candidate has the field/enumerator: the instruction is replaced by an invalid one. */
  poison: boolean;
  /** Whether the instruction must currently hold origVal (off for bitfields and type ids). */
  validate: boolean;
  /** Memory access sizes for loads/stores (0 when not a plain field offset). */
  origSize: number;
  newSize: number;
  /** The field's size changed in a way a resized load would read wrongly (signed ints etc.). */
  failMemszAdjust: boolean;
  /** Readable local access, e.g. `struct task_struct.pid`. */
  local: string;
  /** Readable target access of the chosen candidate, when one matched. */
  target?: string;
  /** Target BTF id of the matching candidate's root type. */
  targetTypeId?: number;
}

/** Candidate lists per local root type, pruned as relocations are resolved (libbpf's cand_cache). */
export class CoreCandidateCache {
  readonly lists = new Map<number, number[]>();
}

const U64 = (v: bigint | number) => BigInt.asUintN(64, BigInt(v));

/** Target types with the local type's essential name and a compatible kind (bpf_core_add_cands). */
export function findCandidates(local: Btf, localId: number, targ: Btf): number[] {
  const lt = local.typeById(localId);
  const name = essentialName(lt.name);
  if (name === "") throw new CoreError(`relocations against anonymous types are not supported`);
  // Asking only for compatible kinds spares the kernel's functions (most of its named types).
  const kinds: BtfKindName[] = isAnyEnum(lt) ? ["enum", "enum64"] : [lt.kind];
  return targ
    .typesByEssentialName(lt.name, kinds)
    .filter((t) => kindsCoreCompat(t, lt))
    .map((t) => t.id);
}

interface FieldValue {
  val: bigint;
  size: number;
  typeId: number;
  validate: boolean;
}

/** libbpf's bpf_core_calc_field_relo; `spec` undefined means no candidate matched. */
function calcField(kind: number, spec: CoreSpec | undefined): FieldValue | "poison" {
  if (kind === CoreReloKind.FIELD_EXISTS) return { val: spec ? 1n : 0n, size: 0, typeId: 0, validate: true };
  if (!spec) return "poison";
  const btf = spec.btf;
  const acc = spec.spec[spec.spec.length - 1];
  if (acc.name === undefined) {
    // The access ends in an array element.
    if (kind === CoreReloKind.FIELD_BYTE_OFFSET)
      return {
        val: BigInt(spec.bitOffset / 8),
        size: btf.sizeof(acc.typeId),
        typeId: acc.typeId,
        validate: true,
      };
    if (kind === CoreReloKind.FIELD_BYTE_SIZE)
      return { val: BigInt(btf.sizeof(acc.typeId)), size: 0, typeId: 0, validate: true };
    throw new CoreError("this relocation kind cannot be applied to an array element access");
  }
  const owner = btf.typeById(acc.typeId) as BtfComposite;
  const m = owner.members[acc.idx];
  const fieldTypeId = btf.resolveId(m.type);
  const mt = btf.typeById(fieldTypeId);
  const bitOff = spec.bitOffset;
  let bitSz = m.bitfieldSize;
  const bitfield = bitSz > 0;
  let byteSz: number;
  let byteOff: number;
  if (bitfield) {
    byteSz = (mt as { size: number }).size;
    byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    // The smallest naturally aligned load that covers the bitfield.
    while (bitOff + bitSz - byteOff * 8 > byteSz * 8) {
      if (byteSz >= 8) throw new CoreError("the bitfield cannot be read with a 64-bit load");
      byteSz *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    }
  } else {
    byteSz = btf.sizeof(fieldTypeId);
    byteOff = Math.floor(bitOff / 8);
    bitSz = byteSz * 8;
  }
  // Bitfield offsets and sizes are the compiler's choice: only signedness and the right shift are checked.
  let validate = !bitfield;
  let val: bigint;
  let size = 0;
  let typeId = 0;
  switch (kind) {
    case CoreReloKind.FIELD_BYTE_OFFSET:
      val = BigInt(byteOff);
      if (!bitfield) {
        size = byteSz;
        typeId = fieldTypeId;
      }
      break;
    case CoreReloKind.FIELD_BYTE_SIZE:
      val = BigInt(byteSz);
      break;
    case CoreReloKind.FIELD_SIGNED:
      val =
        ((mt.kind === "enum" || mt.kind === "enum64") && mt.signed) || (mt.kind === "int" && mt.signed)
          ? 1n
          : 0n;
      validate = true;
      break;
    case CoreReloKind.FIELD_LSHIFT_U64:
      val = BigInt(64 - (bitOff + bitSz - byteOff * 8));
      break;
    case CoreReloKind.FIELD_RSHIFT_U64:
      val = BigInt(64 - bitSz);
      validate = true;
      break;
    default:
      throw new CoreError(`unsupported field relocation kind ${kind}`);
  }
  return { val, size, typeId, validate };
}

/** libbpf's bpf_core_calc_type_relo. */
function calcType(kind: number, spec: CoreSpec | undefined): bigint {
  if (!spec) return 0n;
  switch (kind) {
    case CoreReloKind.TYPE_ID_TARGET:
      return BigInt(spec.rootTypeId);
    case CoreReloKind.TYPE_EXISTS:
    case CoreReloKind.TYPE_MATCHES:
      return 1n;
    case CoreReloKind.TYPE_SIZE:
      return BigInt(spec.btf.sizeof(spec.rootTypeId));
    default:
      throw new CoreError(`unsupported type relocation kind ${kind}`);
  }
}

/** libbpf's bpf_core_calc_enumval_relo. */
function calcEnumval(kind: number, spec: CoreSpec | undefined): bigint | "poison" {
  if (kind === CoreReloKind.ENUMVAL_EXISTS) return spec ? 1n : 0n;
  if (!spec) return "poison";
  const t = spec.btf.typeById(spec.spec[0].typeId) as BtfEnum;
  const v = t.values[spec.spec[0].idx].value;
  // A 32-bit enumerator is a __s32 in libbpf and sign-extends to 64 bits.
  return t.kind === "enum" ? U64(BigInt.asIntN(32, v)) : U64(v);
}

/** libbpf's bpf_core_calc_relo: local and target values of one relocation for one candidate. */
function calcRelo(kind: number, localSpec: CoreSpec, targSpec: CoreSpec | undefined): CoreRelocationResult {
  const res: CoreRelocationResult = {
    origVal: 0n,
    newVal: 0n,
    poison: false,
    validate: true,
    origSize: 0,
    newSize: 0,
    failMemszAdjust: false,
    local: formatSpec(localSpec),
    target: targSpec ? formatSpec(targSpec) : undefined,
    targetTypeId: targSpec?.rootTypeId,
  };
  if (isFieldKind(kind)) {
    const orig = calcField(kind, localSpec);
    if (orig === "poison") throw new CoreError("local field spec cannot be computed");
    res.origVal = orig.val;
    res.origSize = orig.size;
    res.validate = orig.validate;
    const neu = calcField(kind, targSpec);
    if (neu === "poison") {
      res.poison = true;
      return res;
    }
    res.newVal = neu.val;
    res.newSize = neu.size;
    if (res.origSize !== res.newSize && targSpec) {
      // Resizing a load is only right for pointers and unsigned ints (zero extension keeps the value).
      const ot = localSpec.btf.typeById(orig.typeId);
      const nt = targSpec.btf.typeById(neu.typeId);
      const bothPtr = ot.kind === "ptr" && nt.kind === "ptr";
      const bothUnsigned = ot.kind === "int" && nt.kind === "int" && !isSignedOnly(ot) && !isSignedOnly(nt);
      res.failMemszAdjust = !bothPtr && !bothUnsigned;
    }
  } else if (isTypeKind(kind)) {
    res.origVal = calcType(kind, localSpec);
    res.validate = kind !== CoreReloKind.TYPE_ID_TARGET; // type ids change in linking
    res.newVal = calcType(kind, targSpec);
  } else if (isEnumvalKind(kind)) {
    const orig = calcEnumval(kind, localSpec);
    if (orig === "poison") throw new CoreError("local enumerator cannot be computed");
    res.origVal = orig;
    const neu = calcEnumval(kind, targSpec);
    if (neu === "poison") res.poison = true;
    else res.newVal = neu;
  } else {
    throw new CoreError(`unrecognized CO-RE relocation kind ${kind}`);
  }
  return res;
}

/** btf_int_encoding(t) == BTF_INT_SIGNED: libbpf compares the whole encoding, not the bit. */
const isSignedOnly = (t: BtfType) => t.kind === "int" && t.signed && !t.char && !t.bool;

export interface CoreRelocationInput {
  typeId: number;
  accessStr: string;
  kind: number;
}

/**
 * Computes one CO-RE relocation. Throws CoreError when it cannot be resolved:
 * a malformed spec, ambiguous candidates, an unsupported kind.
 */
export function calcCoreRelocation(
  relo: CoreRelocationInput,
  local: Btf,
  targ: Btf,
  cache = new CoreCandidateCache(),
): CoreRelocationResult {
  const localSpec = parseSpec(local, relo.typeId, relo.accessStr, relo.kind);
  if (relo.kind === CoreReloKind.TYPE_ID_LOCAL) {
    // Needs no candidates; the id may change during linking, so it is not validated.
    const id = BigInt(localSpec.rootTypeId);
    return {
      origVal: id,
      newVal: id,
      poison: false,
      validate: false,
      origSize: 0,
      newSize: 0,
      failMemszAdjust: false,
      local: formatSpec(localSpec),
    };
  }
  let cands = cache.lists.get(relo.typeId);
  if (!cands) {
    cands = findCandidates(local, relo.typeId, targ);
    cache.lists.set(relo.typeId, cands);
  }
  let chosen: { res: CoreRelocationResult; spec: CoreSpec } | undefined;
  const kept: number[] = [];
  for (const candId of cands) {
    const spec = matchSpec(localSpec, targ, candId);
    if (!spec) continue;
    const res = calcRelo(relo.kind, localSpec, spec);
    if (!chosen) chosen = { res, spec };
    else if (spec.bitOffset !== chosen.spec.bitOffset)
      throw new CoreError(
        `field offset ambiguity: ${formatSpec(spec)} is at bit ${spec.bitOffset}, ${formatSpec(chosen.spec)} at bit ${chosen.spec.bitOffset}`,
      );
    else if (res.poison !== chosen.res.poison || res.newVal !== chosen.res.newVal)
      throw new CoreError(
        `relocation decision ambiguity: candidate [${candId}] gives ${res.poison ? "failure" : res.newVal}, ` +
          `candidate [${chosen.spec.rootTypeId}] gives ${chosen.res.poison ? "failure" : chosen.res.newVal}`,
      );
    kept.push(candId);
  }
  // Later relocations against the same type only consider the candidates that matched.
  if (kept.length > 0) cache.lists.set(relo.typeId, kept);
  return chosen ? chosen.res : calcRelo(relo.kind, localSpec, undefined);
}
