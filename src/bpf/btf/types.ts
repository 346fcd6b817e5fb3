// The BTF type model: one entry per type id (id 0 is void). Shapes follow include/uapi/linux/btf.h.

export type BtfKindName =
  | "void"
  | "int"
  | "ptr"
  | "array"
  | "struct"
  | "union"
  | "enum"
  | "fwd"
  | "typedef"
  | "volatile"
  | "const"
  | "restrict"
  | "func"
  | "func_proto"
  | "var"
  | "datasec"
  | "float"
  | "decl_tag"
  | "type_tag"
  | "enum64";

/** BTF_KIND_* numbers as in the kernel. */
export const BTF_KIND: Record<BtfKindName, number> = {
  void: 0,
  int: 1,
  ptr: 2,
  array: 3,
  struct: 4,
  union: 5,
  enum: 6,
  fwd: 7,
  typedef: 8,
  volatile: 9,
  const: 10,
  restrict: 11,
  func: 12,
  func_proto: 13,
  var: 14,
  datasec: 15,
  float: 16,
  decl_tag: 17,
  type_tag: 18,
  enum64: 19,
};

interface Base {
  id: number;
  name: string;
}

export interface BtfVoid extends Base {
  kind: "void";
}
export interface BtfInt extends Base {
  kind: "int";
  size: number;
  signed: boolean;
  char: boolean;
  bool: boolean;
  /** Bit offset and width of the value inside `size` bytes (bitfield ints). */
  bitOffset: number;
  bits: number;
}
export interface BtfPtr extends Base {
  kind: "ptr";
  type: number;
}
export interface BtfArray extends Base {
  kind: "array";
  type: number;
  indexType: number;
  nelems: number;
}
export interface BtfMember {
  name: string;
  type: number;
  /** Offset of the member in bits from the start of the struct. */
  bitOffset: number;
  /** Width of a bitfield member in bits, 0 when it is not a bitfield. */
  bitfieldSize: number;
}
export interface BtfComposite extends Base {
  kind: "struct" | "union";
  size: number;
  members: BtfMember[];
  /** kind_flag set although no member is a bitfield; only kept so marshal reproduces such input. */
  kindFlag?: boolean;
}
export interface BtfEnumValue {
  name: string;
  value: bigint;
}
export interface BtfEnum extends Base {
  kind: "enum" | "enum64";
  size: number;
  signed: boolean;
  values: BtfEnumValue[];
}
export interface BtfFwd extends Base {
  kind: "fwd";
  union: boolean;
}
export interface BtfRef extends Base {
  kind: "typedef" | "volatile" | "const" | "restrict" | "type_tag";
  type: number;
  /** type_tag only: kind_flag, the tag is a plain __attribute__ rather than btf_type_tag (Linux 6.14+). */
  attribute?: boolean;
}
export type BtfLinkage = "static" | "global" | "extern";
export interface BtfFunc extends Base {
  kind: "func";
  /** The func_proto. */
  type: number;
  linkage: BtfLinkage;
}
export interface BtfParam {
  name: string;
  type: number;
}
export interface BtfFuncProto extends Base {
  kind: "func_proto";
  returnType: number;
  params: BtfParam[];
}
export interface BtfVar extends Base {
  kind: "var";
  type: number;
  linkage: BtfLinkage;
}
export interface BtfVarSecinfo {
  type: number;
  offset: number;
  size: number;
}
export interface BtfDatasec extends Base {
  kind: "datasec";
  size: number;
  vars: BtfVarSecinfo[];
}
export interface BtfFloat extends Base {
  kind: "float";
  size: number;
}
export interface BtfDeclTag extends Base {
  kind: "decl_tag";
  type: number;
  /** -1 for the type itself, else the member/parameter index. */
  componentIdx: number;
  /** kind_flag: the tag is a plain __attribute__ rather than btf_decl_tag (Linux 6.14+). */
  attribute?: boolean;
}

export type BtfType =
  | BtfVoid
  | BtfInt
  | BtfPtr
  | BtfArray
  | BtfComposite
  | BtfEnum
  | BtfFwd
  | BtfRef
  | BtfFunc
  | BtfFuncProto
  | BtfVar
  | BtfDatasec
  | BtfFloat
  | BtfDeclTag;
