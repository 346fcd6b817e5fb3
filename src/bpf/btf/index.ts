// Public API of BTF, BTF.ext and CO-RE.
export { Btf, MAX_RESOLVE_DEPTH, PTR_SIZE } from "./btf.js";
export type { BtfOptions, BtfParseOptions } from "./btf.js";
export type { MemberLookup } from "./members.js";
export { BtfStrings } from "./strings.js";
export { BTF_KIND } from "./types.js";
export type * from "./types.js";
export { fixupDatasecs, DUMMY_KSYM, KCONFIG_SEC, KSYMS_SEC } from "./datasec.js";
export {
  BtfExt,
  CoreReloKind,
  FUNC_INFO_REC_SIZE,
  LINE_INFO_REC_SIZE,
  lineCol,
  marshalFuncInfo,
  marshalLineInfo,
} from "./ext.js";
export type { BtfExtParseOptions, CoreRelo, FuncInfo, LineInfo } from "./ext.js";
export { moduleBtf, vmlinuxBtf, VMLINUX_BTF_PATH } from "./vmlinux.js";
export { applyCoreRelocations, resolveCoreRelocation } from "./core.js";
export type { AppliedCoreRelocation, CoreRelocationOptions } from "./core.js";
export { CoreCandidateCache, calcCoreRelocation, findCandidates } from "./core-calc.js";
export type { CoreRelocationInput, CoreRelocationResult } from "./core-calc.js";
export { CORE_POISON_IMM, patchInstruction, poisonInstruction } from "./core-patch.js";
export { essentialName, fieldsAreCompat, typesAreCompat, typesMatch } from "./core-compat.js";
export { coreKindName, formatSpec, parseSpec } from "./core-spec.js";
export type { CoreAccessor, CoreSpec } from "./core-spec.js";
