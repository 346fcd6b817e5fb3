// Public API of BTF, BTF.ext and CO-RE.
export { Btf, MAX_RESOLVE_DEPTH, PTR_SIZE } from "./btf.js";
export type { BtfOptions, BtfParseOptions } from "./btf.js";
export type { MemberLookup } from "./members.js";
export { BtfStrings } from "./strings.js";
export { BTF_KIND } from "./types.js";
export type * from "./types.js";
