// A parsed (or built) BTF: types by id, name lookups, size/alignment and C-like type names.
import { BtfError } from "../errors.js";
import { formatType } from "./format.js";
import { marshalBtf } from "./marshal.js";
import { findMember } from "./members.js";
import type { MemberLookup } from "./members.js";
import { essentialName } from "./core-compat.js";
import { RawNameIndex } from "./name-index.js";
import { checkRecord, decodeType, indexBtf } from "./parse.js";
import type { BtfTypeSection } from "./parse.js";
import { BtfStrings } from "./strings.js";
import type { BtfKindName, BtfType } from "./types.js";

/** libbpf's MAX_RESOLVE_DEPTH: longer modifier/typedef chains are treated as corrupt (loops). */
export const MAX_RESOLVE_DEPTH = 32;
/** Pointer size of the BPF target. */
export const PTR_SIZE = 8;

export interface BtfParseOptions {
  /** Base BTF for split BTF (kernel module BTF on top of vmlinux). */
  base?: Btf;
  /** Used in error messages. */
  fileName?: string;
  /**
   * Decode types on first use, and check a type's names, linkage and referenced type ids then
   * rather than at parse, which only checks that the records can be found (known kinds, nothing
   * truncated): one quick pass over the type headers. For large blobs that do not change, such
   * as the kernel's: a corrupt type is reported (as a BtfError) by the lookup that decodes it.
   */
  lazy?: boolean;
}

export interface BtfOptions {
  base?: Btf;
  /** String table to reuse when marshalling (keeps existing offsets). */
  strings?: BtfStrings;
  fileName?: string;
}

const VOID: BtfType = Object.freeze({ id: 0, name: "", kind: "void" });

const isModifier = (k: BtfKindName) =>
  k === "typedef" || k === "const" || k === "volatile" || k === "restrict" || k === "type_tag";

export class Btf {
  readonly base: Btf | undefined;
  /** First id of this BTF's own types (1, or the base's type count for split BTF). */
  readonly firstTypeId: number;
  readonly strings: BtfStrings;
  readonly fileName: string | undefined;
  /** Own types by id - firstTypeId; for parsed BTF, filled as types are first used. */
  private own: (BtfType | undefined)[];
  /** The validated records of parsed BTF, decoded on demand; undefined for built BTF. */
  private raw: BtfTypeSection | undefined;
  private decoded = 0;
  private allTypes: readonly BtfType[] | undefined;
  private rawNames: RawNameIndex | undefined;
  /** Built BTF: own types by essential name. */
  private builtNames: Map<string, BtfType[]> | undefined;

  /** Builds a BTF from own types whose ids run from firstTypeId (1, or the base's type count). */
  constructor(ownTypes: readonly BtfType[], opts: BtfOptions = {}) {
    this.base = opts.base;
    this.fileName = opts.fileName;
    this.firstTypeId = opts.base ? opts.base.typeCount : 1;
    this.strings = opts.strings ?? new BtfStrings(new Uint8Array(opts.base ? 0 : 1), opts.base?.strings);
    if (this.strings.base !== opts.base?.strings)
      throw new BtfError(
        "the string table of split BTF must continue its base's string table",
        opts.fileName,
      );
    for (let i = 0; i < ownTypes.length; i++)
      if (ownTypes[i].id !== this.firstTypeId + i)
        throw new BtfError(
          `type at position ${i} has id ${ownTypes[i].id}, expected ${this.firstTypeId + i}`,
          opts.fileName,
        );
    this.own = ownTypes.slice();
    this.decoded = ownTypes.length;
  }

  /**
   * Parses binary BTF (a .BTF section, or /sys/kernel/btf/vmlinux; with `base`, split module BTF).
   * With `lazy`, only the type headers are validated and indexed here; types are decoded on first
   * use and name lookups read the raw string table, so that the blob (which must not change
   * afterwards) is read once, quickly, and mostly never again.
   */
  static parse(buf: Uint8Array, opts: BtfParseOptions = {}): Btf {
    const raw = indexBtf(buf, {
      firstTypeId: opts.base ? opts.base.typeCount : 1,
      baseStrings: opts.base?.strings,
      fileName: opts.fileName,
      lazy: opts.lazy,
    });
    const btf = new Btf([], { base: opts.base, strings: raw.strings, fileName: opts.fileName });
    btf.raw = raw;
    btf.own = new Array<BtfType | undefined>(raw.offsets.length);
    if (opts.lazy) return btf;
    // Small BTF (an object's) is decoded now, so that it no longer depends on the caller's buffer.
    for (let id = btf.firstTypeId; id < btf.typeCount; id++) btf.typeById(id);
    btf.raw = undefined;
    return btf;
  }

  /** Number of type ids, void and the base's types included: the last id is typeCount - 1. */
  get typeCount(): number {
    return this.firstTypeId + this.own.length;
  }

  /** How many own types have been decoded into objects so far (all of them for built BTF). */
  get decodedTypeCount(): number {
    return this.decoded;
  }

  /**
   * Every type by id: [0] is void; split BTF includes its base's types. Decodes every type:
   * lookups should use typeById, typesByName and typeCount.
   */
  get types(): readonly BtfType[] {
    if (!this.allTypes) {
      const all: BtfType[] = this.base ? this.base.types.slice() : [VOID];
      for (let id = this.firstTypeId; id < this.typeCount; id++) all.push(this.typeById(id));
      this.allTypes = all;
    }
    return this.allTypes;
  }

  /** This BTF's own types (without void and without the base's). */
  get ownTypes(): readonly BtfType[] {
    const out = new Array<BtfType>(this.own.length);
    for (let i = 0; i < out.length; i++) out[i] = this.typeById(this.firstTypeId + i);
    return out;
  }

  /** Binary BTF of the own types (split BTF stays split): parse(marshal()) gives back the same types. */
  marshal(): Buffer {
    return marshalBtf(this.ownTypes, this.strings);
  }

  private error(message: string): BtfError {
    return new BtfError(message, this.fileName);
  }

  /** Whether `id` names a type (void included). */
  hasType(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.typeCount;
  }

  typeById(id: number): BtfType {
    if (id >= this.firstTypeId) {
      const i = id - this.firstTypeId;
      const t = this.own[i];
      if (t !== undefined) return t;
      if (this.raw && Number.isInteger(i) && i < this.own.length) {
        if (this.raw.lazy) checkRecord(this.raw, id, this.fileName);
        const d = decodeType(this.raw, id);
        this.own[i] = d;
        this.decoded++;
        return d;
      }
    } else if (id === 0) return this.base ? this.base.typeById(0) : VOID;
    else if (this.base && id > 0 && Number.isInteger(id)) return this.base.typeById(id);
    throw this.error(`no BTF type with id ${id} (last id is ${this.typeCount - 1})`);
  }

  /** The string at an offset of the string table. */
  string(offset: number): string {
    const s = this.strings.get(offset);
    if (s === undefined) throw this.error(`string offset ${offset} is outside the BTF string table`);
    return s;
  }

  /**
   * Own type ids by name (exact) or essential name, from the raw records or the built types;
   * functions only with `funcs`.
   */
  private ownIdsByName(name: string, exact: boolean, funcs: boolean): number[] {
    if (this.raw) {
      this.rawNames ??= new RawNameIndex(this.raw);
      return this.rawNames.lookup(name, exact, funcs);
    }
    if (!this.builtNames) {
      const index = new Map<string, BtfType[]>();
      for (const t of this.own as BtfType[]) {
        if (t.name === "") continue;
        const key = essentialName(t.name);
        const list = index.get(key);
        if (list) list.push(t);
        else index.set(key, [t]);
      }
      this.builtNames = index;
    }
    const list = this.builtNames.get(essentialName(name)) ?? [];
    return (exact ? list.filter((t) => t.name === name) : list).map((t) => t.id);
  }

  private byName(name: string, exact: boolean, kinds: readonly BtfKindName[] | undefined): BtfType[] {
    const inBase = this.base?.byName(name, exact, kinds) ?? [];
    const funcs = kinds === undefined || kinds.includes("func");
    let own = name === "" ? [] : this.ownIdsByName(name, exact, funcs).map((id) => this.typeById(id));
    if (kinds) own = own.filter((t) => kinds.includes(t.kind));
    return inBase.length === 0 ? own : own.length === 0 ? inBase : [...inBase, ...own];
  }

  /**
   * Every type with this name (base types first), in id order; only of `kind` if given. Decodes
   * only the types named so.
   */
  typesByName(name: string, kind?: BtfKindName): readonly BtfType[] {
    return this.byName(name, true, kind === undefined ? undefined : [kind]);
  }

  /**
   * Every type whose essential name (without a `___flavor` suffix, as libbpf strips it) is
   * `name`'s: the candidates of a CO-RE relocation. Base types first, in id order; only of
   * `kinds` if given.
   */
  typesByEssentialName(name: string, kinds?: readonly BtfKindName[]): readonly BtfType[] {
    return this.byName(name, false, kinds);
  }

  /** The first type with this name (and kind); undefined when there is none. */
  findType(name: string, kind?: BtfKindName): BtfType | undefined {
    return this.typesByName(name, kind)[0];
  }

  /** Like findType, but throws a BtfError naming what was looked for. */
  typeByName(name: string, kind?: BtfKindName): BtfType {
    const t = this.findType(name, kind);
    if (!t) throw this.error(`no BTF type named '${name}'${kind ? ` of kind ${kind}` : ""}`);
    return t;
  }

  /** Id of the type behind typedefs and const/volatile/restrict/type_tag modifiers. */
  resolveId(id: number): number {
    let t = this.typeById(id);
    for (let depth = 0; isModifier(t.kind); depth++) {
      if (depth >= MAX_RESOLVE_DEPTH) throw this.error(`type ${id}: modifier chain too long (a loop?)`);
      t = this.typeById((t as { type: number }).type);
    }
    return t.id;
  }

  /** The type behind typedefs and modifiers. */
  resolve(id: number): BtfType {
    return this.typeById(this.resolveId(id));
  }

  /** Size in bytes of a type, as libbpf's btf__resolve_size computes it. */
  sizeof(id: number): number {
    let nelems = 1;
    let cur = id;
    for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
      const t = this.typeById(cur);
      switch (t.kind) {
        case "int":
        case "struct":
        case "union":
        case "enum":
        case "enum64":
        case "datasec":
        case "float":
          return this.checkedSize(id, nelems * t.size);
        case "ptr":
          return this.checkedSize(id, nelems * PTR_SIZE);
        case "typedef":
        case "volatile":
        case "const":
        case "restrict":
        case "type_tag":
        case "var":
        case "decl_tag":
          cur = t.type;
          break;
        case "array":
          nelems *= t.nelems;
          if (nelems > 0xffffffff) throw this.error(`type ${id} is larger than 4 GiB`);
          cur = t.type;
          break;
        default:
          throw this.error(`type ${id} (${this.typeName(id)}) has no size: it is a ${t.kind}`);
      }
    }
    throw this.error(`type ${id}: type chain too long (a loop?)`);
  }

  private checkedSize(id: number, size: number): number {
    if (size > 0xffffffff) throw this.error(`type ${id} is larger than 4 GiB`);
    return size;
  }

  /** Alignment in bytes, as libbpf's btf__align_of computes it (1 for packed structs). */
  alignof(id: number): number {
    return this.alignOf(id, 0, new Map());
  }

  /** `memo` makes every type count once, so corrupt BTF with shared members stays linear. */
  private alignOf(id: number, depth: number, memo: Map<number, number>): number {
    if (depth > MAX_RESOLVE_DEPTH) throw this.error(`type ${id}: type chain too long (a loop?)`);
    const known = memo.get(id);
    if (known !== undefined) return known;
    const a = this.computeAlign(id, depth, memo);
    memo.set(id, a);
    return a;
  }

  private computeAlign(id: number, depth: number, memo: Map<number, number>): number {
    const t = this.typeById(id);
    switch (t.kind) {
      case "int":
      case "enum":
      case "enum64":
      case "float":
        return Math.max(1, Math.min(PTR_SIZE, t.size));
      case "ptr":
        return PTR_SIZE;
      case "typedef":
      case "volatile":
      case "const":
      case "restrict":
      case "type_tag":
      case "array":
        return this.alignOf(t.type, depth + 1, memo);
      case "struct":
      case "union": {
        let max = 1;
        for (const m of t.members) {
          const a = this.alignOf(m.type, depth + 1, memo);
          max = Math.max(max, a);
          // A member placed off its natural alignment means the struct is packed.
          if (m.bitfieldSize === 0 && m.bitOffset % (8 * a) !== 0) return 1;
        }
        return t.size % max !== 0 ? 1 : max;
      }
      default:
        throw this.error(`type ${id} (${t.kind}) has no alignment`);
    }
  }

  /** A C-like spelling of a type: `struct foo`, `unsigned int`, `char[16]`, `int (*)(void *)`. */
  typeName(id: number): string {
    return formatType(this, id);
  }

  /**
   * Finds a member by name, looking through anonymous struct/union members as C does.
   * The bit offset is from the start of `id`'s type.
   */
  member(id: number, name: string): MemberLookup | undefined {
    return findMember(this, id, name);
  }
}
