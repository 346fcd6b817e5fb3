// A small WebAssembly binary writer: function bodies as byte streams with one method per
// instruction the JIT emits, and modules assembled from types, imports, functions and exports.

export const I32 = 0x7f;
export const I64 = 0x7e;
export const FUNCREF = 0x70;
const VOID = 0x40;

export type ValType = typeof I32 | typeof I64;

function uleb(out: number[], v: number): void {
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
}

function sleb32(out: number[], v: number): void {
  v |= 0;
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

function sleb64(out: number[], v: bigint): void {
  v = BigInt.asIntN(64, v);
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** Opcodes by name, for the arithmetic the JIT emits through op(). */
export const Op = {
  unreachable: 0x00,
  drop: 0x1a,
  select: 0x1b,
  i32_eqz: 0x45,
  i32_eq: 0x46,
  i32_ne: 0x47,
  i32_lt_u: 0x49,
  i32_gt_u: 0x4b,
  i32_le_u: 0x4d,
  i32_ge_u: 0x4f,
  i32_lt_s: 0x48,
  i32_gt_s: 0x4a,
  i32_le_s: 0x4c,
  i32_ge_s: 0x4e,
  i64_eqz: 0x50,
  i64_eq: 0x51,
  i64_ne: 0x52,
  i64_lt_s: 0x53,
  i64_lt_u: 0x54,
  i64_gt_s: 0x55,
  i64_gt_u: 0x56,
  i64_le_s: 0x57,
  i64_le_u: 0x58,
  i64_ge_s: 0x59,
  i64_ge_u: 0x5a,
  i32_add: 0x6a,
  i32_sub: 0x6b,
  i32_mul: 0x6c,
  i32_div_s: 0x6d,
  i32_div_u: 0x6e,
  i32_rem_s: 0x6f,
  i32_rem_u: 0x70,
  i32_and: 0x71,
  i32_or: 0x72,
  i32_xor: 0x73,
  i32_shl: 0x74,
  i32_shr_s: 0x75,
  i32_shr_u: 0x76,
  i32_rotl: 0x77,
  i32_rotr: 0x78,
  i64_add: 0x7c,
  i64_sub: 0x7d,
  i64_mul: 0x7e,
  i64_div_s: 0x7f,
  i64_div_u: 0x80,
  i64_rem_s: 0x81,
  i64_rem_u: 0x82,
  i64_and: 0x83,
  i64_or: 0x84,
  i64_xor: 0x85,
  i64_shl: 0x86,
  i64_shr_s: 0x87,
  i64_shr_u: 0x88,
  i64_rotl: 0x89,
  i64_rotr: 0x8a,
  i32_wrap_i64: 0xa7,
  i64_extend_i32_s: 0xac,
  i64_extend_i32_u: 0xad,
  i32_extend8_s: 0xc0,
  i32_extend16_s: 0xc1,
  i64_extend8_s: 0xc2,
  i64_extend16_s: 0xc3,
  i64_extend32_s: 0xc4,
} as const;

/** Memory access opcodes. */
export const Mem = {
  i32_load: 0x28,
  i64_load: 0x29,
  i32_load8_u: 0x2d,
  i32_load16_u: 0x2f,
  i64_load8_s: 0x30,
  i64_load8_u: 0x31,
  i64_load16_s: 0x32,
  i64_load16_u: 0x33,
  i64_load32_s: 0x34,
  i64_load32_u: 0x35,
  i32_store: 0x36,
  i64_store: 0x37,
  i32_store8: 0x3a,
  i32_store16: 0x3b,
  i64_store8: 0x3c,
  i64_store16: 0x3d,
  i64_store32: 0x3e,
} as const;

/** A function body under construction. */
export class Code {
  readonly bytes: number[] = [];

  op(code: number): this {
    this.bytes.push(code);
    return this;
  }

  i32(v: number): this {
    this.bytes.push(0x41);
    sleb32(this.bytes, v);
    return this;
  }

  i64(v: bigint | number): this {
    this.bytes.push(0x42);
    sleb64(this.bytes, BigInt(v));
    return this;
  }

  get(local: number): this {
    this.bytes.push(0x20);
    uleb(this.bytes, local);
    return this;
  }

  set(local: number): this {
    this.bytes.push(0x21);
    uleb(this.bytes, local);
    return this;
  }

  tee(local: number): this {
    this.bytes.push(0x22);
    uleb(this.bytes, local);
    return this;
  }

  /** A load or store; `align` is log2 of the natural alignment (we never promise more than 1). */
  mem(code: number, offset = 0, align = 0): this {
    this.bytes.push(code);
    uleb(this.bytes, align);
    uleb(this.bytes, offset);
    return this;
  }

  block(type: number = VOID): this {
    this.bytes.push(0x02, type);
    return this;
  }

  loop(): this {
    this.bytes.push(0x03, VOID);
    return this;
  }

  if(type: number = VOID): this {
    this.bytes.push(0x04, type);
    return this;
  }

  else(): this {
    this.bytes.push(0x05);
    return this;
  }

  end(): this {
    this.bytes.push(0x0b);
    return this;
  }

  br(depth: number): this {
    this.bytes.push(0x0c);
    uleb(this.bytes, depth);
    return this;
  }

  brIf(depth: number): this {
    this.bytes.push(0x0d);
    uleb(this.bytes, depth);
    return this;
  }

  brTable(depths: readonly number[], fallback: number): this {
    this.bytes.push(0x0e);
    uleb(this.bytes, depths.length);
    for (const d of depths) uleb(this.bytes, d);
    uleb(this.bytes, fallback);
    return this;
  }

  return(): this {
    this.bytes.push(0x0f);
    return this;
  }

  call(func: number): this {
    this.bytes.push(0x10);
    uleb(this.bytes, func);
    return this;
  }

  callIndirect(type: number, table = 0): this {
    this.bytes.push(0x11);
    uleb(this.bytes, type);
    uleb(this.bytes, table);
    return this;
  }

  returnCallIndirect(type: number, table = 0): this {
    this.bytes.push(0x13);
    uleb(this.bytes, type);
    uleb(this.bytes, table);
    return this;
  }

  unreachable(): this {
    this.bytes.push(0x00);
    return this;
  }
}

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

type Import =
  | { module: string; name: string; kind: "func"; type: number }
  | { module: string; name: string; kind: "memory" }
  | { module: string; name: string; kind: "table" };

interface Func {
  type: number;
  locals: ValType[];
  code: Code;
}

const str = (out: number[], s: string): void => {
  const b = Buffer.from(s, "utf8");
  uleb(out, b.length);
  out.push(...b);
};

function section(out: number[], id: number, body: number[]): void {
  out.push(id);
  uleb(out, body.length);
  for (const b of body) out.push(b);
}

/** A module: types, imports (functions first: their indices come before local functions). */
export class ModuleBuilder {
  readonly #types: FuncType[] = [];
  readonly #imports: Import[] = [];
  readonly #funcs: Func[] = [];
  readonly #exports: { name: string; func: number }[] = [];

  type(t: FuncType): number {
    const key = JSON.stringify(t);
    const i = this.#types.findIndex((x) => JSON.stringify(x) === key);
    if (i >= 0) return i;
    this.#types.push(t);
    return this.#types.length - 1;
  }

  /** Imports a function; returns its function index. Import all functions before adding any. */
  importFunc(module: string, name: string, t: FuncType): number {
    if (this.#funcs.length) throw new Error("wasm: imports must come before functions");
    this.#imports.push({ module, name, kind: "func", type: this.type(t) });
    return this.#imports.filter((i) => i.kind === "func").length - 1;
  }

  importMemory(module: string, name: string): void {
    this.#imports.push({ module, name, kind: "memory" });
  }

  importTable(module: string, name: string): void {
    this.#imports.push({ module, name, kind: "table" });
  }

  get importedFuncs(): number {
    return this.#imports.filter((i) => i.kind === "func").length;
  }

  /** Adds a function; returns its function index. */
  func(t: FuncType, locals: ValType[], code: Code): number {
    this.#funcs.push({ type: this.type(t), locals, code });
    return this.importedFuncs + this.#funcs.length - 1;
  }

  /** Reserves the index of the next function (its body comes later through setBody). */
  declare(t: FuncType): number {
    return this.func(t, [], new Code());
  }

  setBody(index: number, locals: ValType[], code: Code): void {
    const f = this.#funcs[index - this.importedFuncs];
    f.locals = locals;
    f.code = code;
  }

  export(name: string, func: number): void {
    this.#exports.push({ name, func });
  }

  bytes(): Uint8Array {
    const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const types: number[] = [];
    uleb(types, this.#types.length);
    for (const t of this.#types) {
      types.push(0x60);
      uleb(types, t.params.length);
      types.push(...t.params);
      uleb(types, t.results.length);
      types.push(...t.results);
    }
    section(out, 1, types);
    const imports: number[] = [];
    uleb(imports, this.#imports.length);
    for (const im of this.#imports) {
      str(imports, im.module);
      str(imports, im.name);
      if (im.kind === "func") {
        imports.push(0x00);
        uleb(imports, im.type);
      } else if (im.kind === "table") {
        imports.push(0x01, FUNCREF, 0x00, 0x00);
      } else {
        imports.push(0x02, 0x00, 0x00);
      }
    }
    section(out, 2, imports);
    const funcs: number[] = [];
    uleb(funcs, this.#funcs.length);
    for (const f of this.#funcs) uleb(funcs, f.type);
    section(out, 3, funcs);
    const exports: number[] = [];
    uleb(exports, this.#exports.length);
    for (const e of this.#exports) {
      str(exports, e.name);
      exports.push(0x00);
      uleb(exports, e.func);
    }
    section(out, 7, exports);
    const code: number[] = [];
    uleb(code, this.#funcs.length);
    for (const f of this.#funcs) {
      const body: number[] = [];
      // Locals, run-length encoded by type.
      const groups: [number, ValType][] = [];
      for (const l of f.locals) {
        const last = groups[groups.length - 1];
        if (last && last[1] === l) last[0]++;
        else groups.push([1, l]);
      }
      uleb(body, groups.length);
      for (const [n, t] of groups) {
        uleb(body, n);
        body.push(t);
      }
      for (const b of f.code.bytes) body.push(b);
      body.push(0x0b);
      uleb(code, body.length);
      for (const b of body) code.push(b);
    }
    section(out, 10, code);
    return Uint8Array.from(out);
  }
}
